import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The recordings a Gatehouse data dir holds: every file below `<dataDir>/recordings` whose name
 * ends in `suffix` (`.cast`, `.db.ndjson`); none before the first session made the folder.
 */
export function recordingFiles(dataDir: string, suffix: string): string[] {
  return filesBelow(join(dataDir, 'recordings')).filter((path) => path.endsWith(suffix));
}

function filesBelow(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) =>
    e.isDirectory() ? filesBelow(join(dir, e.name)) : [join(dir, e.name)],
  );
}
