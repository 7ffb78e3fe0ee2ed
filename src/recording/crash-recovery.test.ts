import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { AsciicastReader } from './index.js';
import { makeRecordingDir, sleep } from '../../test/support/recording-fixtures.js';
import { spawnRecordingCrashChild } from '../../test/support/recording-crash-child.js';

describe('crash recovery', () => {
  it(
    'sigkill-mid-recording-leaves-a-file-that-plays-up-to-the-last-flush',
    { timeout: 60_000 },
    async () => {
      const scratch = makeRecordingDir();
      const child = spawnRecordingCrashChild({
        dir: scratch.path,
        sid: 'ses_crash',
        markAfter: 50,
        eventEveryMs: 5,
      });
      try {
        await child.marked;
        await sleep(1_500); // the 50 marked events are at least a second old now
        child.process.kill('SIGKILL');
        expect(await child.exited).toBe('SIGKILL');

        const path = join(scratch.path, 'ses_crash-0.cast');
        expect(readFileSync(path, 'utf8').endsWith('\n')).toBe(true); // whole lines only
        await using reader = await AsciicastReader.open(path);
        expect(reader.header.gatehouse).toMatchObject({ sid: 'ses_crash', channel: 0 });
        const data: string[] = [];
        for await (const e of reader.events()) data.push(e.data);
        expect(reader.isTruncated).toBe(false);
        expect(data.length).toBeGreaterThanOrEqual(50);
        data.forEach((d, i) => expect(d).toBe(`line ${i} é€\r\n`));
      } finally {
        if (child.process.exitCode === null && child.process.signalCode === null)
          child.process.kill('SIGKILL');
        scratch.cleanup();
      }
    },
  );
});
