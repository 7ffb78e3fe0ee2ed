// Real traffic: OpenSSH's `sftp` drives `/usr/lib/openssh/sftp-server` through a wrapper that
// tees both directions to files (`sftp -D`), and the captured bytes go through the audit tap.
// The checked-in fixture is one such capture, so the decoding is tested where OpenSSH is
// absent too. Re-record it with GATEHOUSE_RECORD_SFTP_FIXTURE=1.
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { SftpAuditEvent } from './audit-events.js';
import { SftpAuditTap } from './audit-tap.js';
import { SftpOpenFlag as F } from './constants.js';
import { chunkRandomly } from './testing/sftp-packets.js';

const SFTP_SERVER = '/usr/lib/openssh/sftp-server';
const HAS_OPENSSH = existsSync(SFTP_SERVER) && spawnSync('sftp', ['-?']).error === undefined;
const FIXTURE_DIR = fileURLToPath(new URL('./fixtures/', import.meta.url));
const FIXTURE_NAME = 'openssh-session';
const IS_RECORDING = process.env['GATEHOUSE_RECORD_SFTP_FIXTURE'] === '1';

/** Small buffers (`-B 1024`) so the 3000-byte file moves in several pipelined requests. */
const BUFFER_BYTES = 1024;
const UPLOAD = Buffer.from('gatehouse sftp fixture line\n'.repeat(200)).subarray(0, 3000);
const BATCH = [
  'put local-up.bin up.bin',
  'get up.bin local-down.bin',
  'rename up.bin moved.bin',
  'chmod 600 moved.bin',
  'ln -s moved.bin sym.bin',
  'ln moved.bin hard.bin',
  'cp moved.bin copy.bin',
  '-rmdir missing-dir',
  'mkdir newdir',
  'rmdir newdir',
  'rm sym.bin',
  'rm hard.bin',
  'rm copy.bin',
  'rm moved.bin',
];

/** What the capture's metadata file records. */
interface FixtureMeta {
  readonly openssh: string;
  readonly root: string;
  readonly batch: readonly string[];
  readonly bufferBytes: number;
  readonly uploadBytes: number;
}

/** Feeds a capture through a tap, each direction in reproducibly random chunks. */
function auditCapture(c2s: Buffer, s2c: Buffer, seed: number, maxPiece = 97): SftpAuditEvent[] {
  const events: SftpAuditEvent[] = [];
  const tap = new SftpAuditTap({ onEvent: (e) => events.push(e) });
  // All requests before all replies: matching by id (first-in first-out on reuse) and looking
  // handles up when the reply comes make this order as good as the relay's interleaving.
  for (const chunk of chunkRandomly(c2s, seed, maxPiece)) tap.fromClient(chunk);
  for (const chunk of chunkRandomly(s2c, seed + 1, maxPiece)) tap.fromServer(chunk);
  tap.end();
  expect(tap.stats).toMatchObject({ droppedRequests: 0, unmatchedResponses: 0, badPackets: 0 });
  expect(tap.isBlind).toBe(false);
  return events;
}

/** The events BATCH must produce, `root` being the server-side directory. */
function expectedEvents(root: string, size: number): unknown[] {
  const put = ['write', 'create', 'truncate'];
  const putFlags = F.WRITE | F.CREAT | F.TRUNC;
  const ok = { ok: true, status: 'ok', code: 0 };
  const closed = { reason: 'close', ...ok, durationMs: expect.any(Number), writeErrors: 0 };
  return [
    {
      type: 'sftp.open',
      path: `${root}/up.bin`,
      mode: put,
      pflags: putFlags,
      handle: '00000000',
      ok: true,
      status: 'ok',
    },
    {
      type: 'sftp.close',
      path: `${root}/up.bin`,
      handle: '00000000',
      mode: put,
      bytesRead: 0,
      bytesWritten: size,
      ...closed,
    },
    {
      type: 'sftp.open',
      path: `${root}/up.bin`,
      mode: ['read'],
      pflags: F.READ,
      handle: '00000000',
      ok: true,
      status: 'ok',
    },
    {
      type: 'sftp.close',
      path: `${root}/up.bin`,
      handle: '00000000',
      mode: ['read'],
      bytesRead: size,
      bytesWritten: 0,
      ...closed,
    },
    { type: 'sftp.rename', from: `${root}/up.bin`, to: `${root}/moved.bin`, posix: true, ...ok },
    {
      type: 'sftp.setstat',
      path: `${root}/moved.bin`,
      attrs: { permissions: 0o600 },
      followsLinks: true,
      ...ok,
    },
    // `ln -s` sends the target as typed, the link made absolute.
    { type: 'sftp.symlink', linkPath: `${root}/sym.bin`, targetPath: 'moved.bin', ...ok },
    { type: 'sftp.hardlink', from: `${root}/moved.bin`, to: `${root}/hard.bin`, ...ok },
    // `cp` is a server-side copy-data between two handles: no bytes cross the channel.
    {
      type: 'sftp.open',
      path: `${root}/moved.bin`,
      mode: ['read'],
      pflags: F.READ,
      handle: '00000000',
      ok: true,
      status: 'ok',
    },
    {
      type: 'sftp.open',
      path: `${root}/copy.bin`,
      mode: put,
      pflags: putFlags,
      handle: '00000001',
      ok: true,
      status: 'ok',
    },
    { type: 'sftp.copy', from: `${root}/moved.bin`, to: `${root}/copy.bin`, length: 0, ...ok },
    {
      type: 'sftp.close',
      path: `${root}/moved.bin`,
      handle: '00000000',
      mode: ['read'],
      bytesRead: 0,
      bytesWritten: 0,
      ...closed,
    },
    {
      type: 'sftp.close',
      path: `${root}/copy.bin`,
      handle: '00000001',
      mode: put,
      bytesRead: 0,
      bytesWritten: 0,
      ...closed,
    },
    {
      type: 'sftp.rmdir',
      path: `${root}/missing-dir`,
      ok: false,
      status: 'no_such_file',
      code: 2,
      message: 'No such file',
    },
    { type: 'sftp.mkdir', path: `${root}/newdir`, permissions: 0o777, ...ok },
    { type: 'sftp.rmdir', path: `${root}/newdir`, ...ok },
    { type: 'sftp.remove', path: `${root}/sym.bin`, ...ok },
    { type: 'sftp.remove', path: `${root}/hard.bin`, ...ok },
    { type: 'sftp.remove', path: `${root}/copy.bin`, ...ok },
    { type: 'sftp.remove', path: `${root}/moved.bin`, ...ok },
  ];
}

/** What one recorded run does. */
interface SessionPlan {
  readonly batch: readonly string[];
  readonly upload: Buffer;
  /** `sftp -B`; OpenSSH's default (from `limits@openssh.com`) when absent. */
  readonly bufferBytes?: number;
}

/** Runs a batch with the real client against the real server, teeing both directions. */
async function recordSession(
  dir: string,
  plan: SessionPlan,
): Promise<{ c2s: Buffer; s2c: Buffer; meta: FixtureMeta }> {
  const remote = join(dir, 'remote');
  await mkdir(remote);
  await writeFile(join(dir, 'local-up.bin'), plan.upload);
  await writeFile(join(dir, 'batch'), `${plan.batch.join('\n')}\n`);
  const wrapper = join(dir, 'tee-sftp-server.sh');
  await writeFile(
    wrapper,
    [
      '#!/bin/bash',
      'dir="$(dirname "$0")"',
      `tee "$dir/c2s.bin" | ${SFTP_SERVER} -d "$dir/remote" | tee "$dir/s2c.bin"`,
      '',
    ].join('\n'),
  );
  await chmod(wrapper, 0o755);
  const buffer = plan.bufferBytes === undefined ? [] : ['-B', String(plan.bufferBytes)];
  await promisify(execFile)('sftp', ['-q', ...buffer, '-D', wrapper, '-b', 'batch'], {
    cwd: dir,
    timeout: 20_000,
  });
  // Buffer#equals: a deep toEqual walks a 1 MiB buffer byte by byte, for seconds.
  expect((await readFile(join(dir, 'local-down.bin'))).equals(plan.upload)).toBe(true);
  const version = spawnSync('ssh', ['-V'], { encoding: 'utf8' }).stderr.trim();
  return {
    c2s: await readFile(join(dir, 'c2s.bin')),
    s2c: await readFile(join(dir, 's2c.bin')),
    meta: {
      openssh: version,
      root: await realpath(remote),
      batch: plan.batch,
      bufferBytes: plan.bufferBytes ?? 0,
      uploadBytes: plan.upload.byteLength,
    },
  };
}

describe('OpenSSH sftp transcripts', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  async function tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'gh-sftp-'));
    dirs.push(dir);
    return dir;
  }

  it.skipIf(!HAS_OPENSSH)('audits-live-openssh-traffic-with-exact-byte-counts', async () => {
    const plan = { batch: BATCH, upload: UPLOAD, bufferBytes: BUFFER_BYTES };
    const { c2s, s2c, meta } = await recordSession(await tempDir(), plan);
    for (const seed of [1, 2, 3]) {
      expect(auditCapture(c2s, s2c, seed)).toEqual(expectedEvents(meta.root, UPLOAD.byteLength));
    }
    if (IS_RECORDING) {
      await writeFile(join(FIXTURE_DIR, `${FIXTURE_NAME}.c2s.bin`), c2s);
      await writeFile(join(FIXTURE_DIR, `${FIXTURE_NAME}.s2c.bin`), s2c);
      await writeFile(
        join(FIXTURE_DIR, `${FIXTURE_NAME}.json`),
        `${JSON.stringify(meta, null, 2)}\n`,
      );
    }
  });

  it.skipIf(!HAS_OPENSSH)('counts-a-1-mib-transfer-in-full-size-openssh-packets', async () => {
    const upload = randomBytes(1024 * 1024);
    const batch = ['put local-up.bin big.bin', 'get big.bin local-down.bin', 'rm big.bin'];
    const { c2s, s2c, meta } = await recordSession(await tempDir(), { batch, upload });
    // OpenSSH moves ~255 KiB a request here: the reader keeps only their heads.
    expect(c2s.byteLength).toBeGreaterThan(upload.byteLength);
    const events = auditCapture(c2s, s2c, 7, 64 * 1024);
    expect(events.filter((e) => e.type === 'sftp.close')).toEqual([
      expect.objectContaining({
        path: `${meta.root}/big.bin`,
        bytesWritten: upload.byteLength,
        bytesRead: 0,
      }),
      expect.objectContaining({
        path: `${meta.root}/big.bin`,
        bytesWritten: 0,
        bytesRead: upload.byteLength,
      }),
    ]);
    expect(events.at(-1)).toMatchObject({
      type: 'sftp.remove',
      path: `${meta.root}/big.bin`,
      ok: true,
    });
  });

  it('audits-the-recorded-openssh-fixture-however-it-is-chunked', async () => {
    const c2s = await readFile(join(FIXTURE_DIR, `${FIXTURE_NAME}.c2s.bin`));
    const s2c = await readFile(join(FIXTURE_DIR, `${FIXTURE_NAME}.s2c.bin`));
    const meta = JSON.parse(
      await readFile(join(FIXTURE_DIR, `${FIXTURE_NAME}.json`), 'utf8'),
    ) as FixtureMeta;
    const expected = expectedEvents(meta.root, meta.uploadBytes);
    for (let seed = 1; seed <= 20; seed += 1)
      expect(auditCapture(c2s, s2c, seed)).toEqual(expected);
    expect(auditCapture(c2s, s2c, 1, 1)).toEqual(expected); // byte by byte
    expect(auditCapture(c2s, s2c, 1, c2s.byteLength + s2c.byteLength)).toEqual(expected); // whole
  });
});
