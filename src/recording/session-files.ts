import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { assertSafeSid, recordingDayDir } from './recording-names.js';

const DAY_MS = 86_400_000;
/** How many UTC days after its start a session's files are looked for. */
export const MAX_SCAN_DAYS = 31;

/**
 * The files a session's recorders wrote, found where they put them: the UTC day folder of
 * each file's start, `YYYY/MM/DD/<sid>-<channel>.cast` (SSH channels) and
 * `YYYY/MM/DD/<sid>.db.ndjson` (database transcripts). Store-relative paths, sorted.
 * For sessions whose end did not list them (live, or left open by a crash).
 */
export async function findSessionFiles(
  root: string,
  sid: string,
  startedAt: number,
  until: number,
): Promise<string[]> {
  assertSafeSid(sid);
  const found: string[] = [];
  const last = Math.min(until, startedAt + MAX_SCAN_DAYS * DAY_MS);
  const pattern = new RegExp(`^${sid}(?:-\\d{1,10}\\.cast|\\.db\\.ndjson)$`);
  for (let day = startedAt - (startedAt % DAY_MS); day <= last; day += DAY_MS) {
    const dayDir = recordingDayDir(day);
    let names: string[];
    try {
      names = await readdir(join(root, ...dayDir.split('/')));
    } catch {
      continue;
    }
    for (const name of names) if (pattern.test(name)) found.push(`${dayDir}/${name}`);
  }
  return found.sort();
}

/** SHA-256 (hex) of a file's bytes as they are now, read as a stream. */
export function sha256OfFile(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}
