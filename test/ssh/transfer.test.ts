import { randomBytes } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshWorld, type SshWorld } from './fixture.js';
import { addSshTarget } from '../support/ssh-target.js';
import {
  loginFor,
  makeTargetDir,
  readAudit,
  removeTree,
  runClient,
  sha256,
  sha256File,
  sshArgs,
  sshCommandLine,
  treeDigest,
  waitForAudit,
  type AuditRecord,
  type ClientRun,
} from './transfer-clients.js';

// File transfer with the real clients (OpenSSH scp in both modes, sftp, rsync, git), all with
// the login form `alice+web-1@bastion`. The test runs as root, so it checks the target's side
// on disk, in a directory of the leased account's home.

/** Not a multiple of any packet or buffer size, so the last chunk is a short one. */
const FILE_BYTES = 3 * 1024 * 1024 + 12_345;
const DENIED_TARGET = 'vault-1';
const DENIED_MESSAGE =
  'gatehouse: file transfer is not allowed on this target\r\nhint: scp, sftp and rsync are turned off for this target\r\n';

describe('file transfer through gatehouse', () => {
  let world: SshWorld;
  /** Client side. */
  let local: string;
  /** Target side, in gh_leased's home. */
  let remote: string;
  let payload: Buffer;
  let payloadPath: string;

  beforeAll(async () => {
    world = await startSshWorld();
    await addSshTarget(world, DENIED_TARGET, { flags: ['--no-file-transfer'] });
    local = mkdtempSync(join(tmpdir(), 'gh-xfer-local-'));
    remote = makeTargetDir(world, 'gh-xfer-');
    payload = randomBytes(FILE_BYTES);
    payloadPath = join(local, 'payload.bin');
    writeFileSync(payloadPath, payload);
  }, 60_000);
  afterAll(async () => {
    await world[Symbol.asyncDispose]();
    removeTree(local);
    removeTree(remote);
  });

  const scp = (args: readonly string[]): Promise<ClientRun> =>
    runClient('scp', [...sshArgs(world), '-P', String(world.gatehouse.sshPort), ...args]);
  const sftpBatch = (target: string, commands: readonly string[]): Promise<ClientRun> => {
    const batchPath = join(local, `batch-${Date.now()}.txt`);
    writeFileSync(batchPath, `${commands.join('\n')}\n`);
    return runClient('sftp', [
      ...sshArgs(world),
      '-P',
      String(world.gatehouse.sshPort),
      '-b',
      batchPath,
      loginFor(target),
    ]);
  };
  const rsync = (args: readonly string[]): Promise<ClientRun> =>
    runClient('rsync', ['-e', sshCommandLine(world), ...args]);
  /** `alice+web-1@127.0.0.1:PATH`, as scp and rsync take it. */
  const at = (path: string, target = 'web-1'): string => `${loginFor(target)}:${path}`;
  const isOnWeb1 = (e: AuditRecord): boolean => e.user === 'alice' && e.target === 'web-1';

  it('scp-uploads-and-downloads-over-sftp-by-default-with-audited-byte-counts', async () => {
    const remotePath = join(remote, 'scp-sftp.bin');
    const up = await scp([payloadPath, at(remotePath)]);
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    expect(await sha256File(remotePath)).toBe(sha256(payload));
    // Written by the leased account, not by root or a Gatehouse user.
    expect(statSync(remotePath).uid).toBe(statSync(remote).uid);

    const backPath = join(local, 'scp-sftp.back');
    const down = await scp([at(remotePath), backPath]);
    expect(down.stderr).toBe('');
    expect(down.code).toBe(0);
    expect(sha256(readFileSync(backPath))).toBe(sha256(payload));

    const written = await waitForAudit(
      world,
      (e) =>
        isOnWeb1(e) &&
        e.type === 'sftp.close' &&
        e.data['path'] === remotePath &&
        e.data['bytesWritten'] === FILE_BYTES,
    );
    expect(written[0]?.data).toMatchObject({
      ok: true,
      reason: 'close',
      bytesRead: 0,
      writeErrors: 0,
    });
    const read = await waitForAudit(
      world,
      (e) =>
        isOnWeb1(e) &&
        e.type === 'sftp.close' &&
        e.data['path'] === remotePath &&
        e.data['bytesRead'] === FILE_BYTES,
    );
    expect(read[0]?.data).toMatchObject({ ok: true, bytesWritten: 0 });
    const events = await readAudit(world);
    const opens = events.filter(
      (e) => isOnWeb1(e) && e.type === 'sftp.open' && e.data['path'] === remotePath,
    );
    // OpenSSH's scp opens for write+create without truncate (it truncates to the final size itself).
    expect(opens.map((e) => e.data['mode'])).toEqual([
      expect.arrayContaining(['write', 'create']),
      ['read'],
    ]);
    expect(opens.every((e) => e.data['ok'] === true)).toBe(true);
    // The SFTP channel itself is audited; no scp command ran on the target.
    expect(
      events.some(
        (e) => isOnWeb1(e) && e.type === 'ssh.subsystem' && e.data['subsystem'] === 'sftp',
      ),
    ).toBe(true);
    expect(events.some((e) => e.type === 'sftp.desync' || e.type === 'sftp.anomaly')).toBe(false);
  });

  it('scp-legacy-mode-uploads-and-downloads-and-audits-scp-transfer', async () => {
    const remotePath = join(remote, 'scp-legacy.bin');
    const up = await scp(['-O', payloadPath, at(remotePath)]);
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    expect(await sha256File(remotePath)).toBe(sha256(payload));

    const backPath = join(local, 'scp-legacy.back');
    const down = await scp(['-O', at(remotePath), backPath]);
    expect(down.stderr).toBe('');
    expect(down.code).toBe(0);
    expect(sha256(readFileSync(backPath))).toBe(sha256(payload));

    // `scp -t PATH` receives on the target (upload), `scp -f PATH` sends (download).
    const [upload] = await waitForAudit(
      world,
      (e) =>
        isOnWeb1(e) &&
        e.type === 'scp.transfer' &&
        /^scp .*-t\b/.test(String(e.data['command'])) &&
        String(e.data['command']).endsWith(remotePath),
    );
    expect(Number(upload?.data['bytesFromClient'])).toBeGreaterThanOrEqual(FILE_BYTES);
    expect(Number(upload?.data['bytesToClient'])).toBeLessThan(1024);
    const [download] = await waitForAudit(
      world,
      (e) =>
        isOnWeb1(e) &&
        e.type === 'scp.transfer' &&
        /^scp .*-f\b/.test(String(e.data['command'])) &&
        String(e.data['command']).endsWith(remotePath),
    );
    expect(Number(download?.data['bytesToClient'])).toBeGreaterThanOrEqual(FILE_BYTES);
    expect(Number(download?.data['bytesFromClient'])).toBeLessThan(1024);
    // File transfers are audited, not recorded as terminal sessions (DESIGN.md §6).
    for (const transfer of [upload, download]) {
      const [end] = await waitForAudit(
        world,
        (e) => e.type === 'session.end' && e.sid === transfer?.sid,
      );
      expect(end?.data['recording']).toBeNull();
    }
  });

  it('scp-failures-on-the-target-reach-the-client-with-a-failing-exit-code', async () => {
    const missing = join(remote, 'no-such-dir', 'file.bin');
    const legacy = await scp(['-O', payloadPath, at(missing)]);
    expect(legacy.code).not.toBe(0);
    expect(legacy.stderr).toContain('No such file or directory');
    const overSftp = await scp([payloadPath, at(missing)]);
    expect(overSftp.code).not.toBe(0);
    expect(overSftp.stderr).toContain('No such file or directory');
    const [failed] = await waitForAudit(
      world,
      (e) => isOnWeb1(e) && e.type === 'sftp.open' && e.data['path'] === missing,
    );
    expect(failed?.data).toMatchObject({ ok: false, status: 'no_such_file' });
  });

  it('sftp-batch-runs-put-get-rename-rm-mkdir-rmdir-and-each-is-audited', async () => {
    const dir = join(remote, 'batch');
    const first = join(dir, 'a.bin');
    const second = join(dir, 'b.bin');
    const backPath = join(local, 'sftp.back');
    const run = await sftpBatch('web-1', [
      `mkdir ${dir}`,
      `put ${payloadPath} ${first}`,
      `get ${first} ${backPath}`,
      `rename ${first} ${second}`,
      `ls -l ${dir}`,
      `rm ${second}`,
      `rmdir ${dir}`,
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('b.bin');
    expect(sha256(readFileSync(backPath))).toBe(sha256(payload));
    expect(() => statSync(dir)).toThrow(/ENOENT/);

    await waitForAudit(
      world,
      (e) => isOnWeb1(e) && e.type === 'sftp.rmdir' && e.data['path'] === dir,
    );
    const events = (await readAudit(world)).filter(
      (e) => isOnWeb1(e) && e.type.startsWith('sftp.'),
    );
    const find = (
      type: string,
      matches: (data: Record<string, unknown>) => boolean,
    ): AuditRecord | undefined => events.find((e) => e.type === type && matches(e.data));
    expect(find('sftp.mkdir', (d) => d['path'] === dir)?.data['ok']).toBe(true);
    expect(
      find('sftp.close', (d) => d['path'] === first && d['bytesWritten'] === FILE_BYTES)?.data[
        'ok'
      ],
    ).toBe(true);
    expect(
      find('sftp.close', (d) => d['path'] === first && d['bytesRead'] === FILE_BYTES)?.data['ok'],
    ).toBe(true);
    expect(find('sftp.rename', (d) => d['from'] === first && d['to'] === second)?.data['ok']).toBe(
      true,
    );
    expect(find('sftp.remove', (d) => d['path'] === second)?.data['ok']).toBe(true);
    expect(find('sftp.rmdir', (d) => d['path'] === dir)?.data['ok']).toBe(true);
    // In the order the batch ran them.
    const order = ['sftp.mkdir', 'sftp.rename', 'sftp.remove', 'sftp.rmdir'].map((type) =>
      events.findIndex((e) => e.type === type && JSON.stringify(e.data).includes(dir)),
    );
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  it('sftp-batch-stops-at-a-failing-command-and-the-failure-is-audited', async () => {
    const missing = join(remote, 'never-there.txt');
    const run = await sftpBatch('web-1', [`rm ${missing}`, `mkdir ${join(remote, 'not-reached')}`]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('No such file');
    expect(() => statSync(join(remote, 'not-reached'))).toThrow(/ENOENT/);
    const [removal] = await waitForAudit(
      world,
      (e) => isOnWeb1(e) && e.type === 'sftp.remove' && e.data['path'] === missing,
    );
    expect(removal?.data).toMatchObject({ ok: false, status: 'no_such_file' });
  });

  it('rsync-uploads-and-downloads-a-directory-tree-unchanged', async () => {
    const tree = join(local, 'tree');
    mkdirSync(join(tree, 'src', 'deep', 'er'), { recursive: true });
    mkdirSync(join(tree, 'empty-dir'));
    writeFileSync(join(tree, 'README.md'), '# tree\n');
    writeFileSync(join(tree, 'empty.txt'), '');
    writeFileSync(join(tree, 'src', 'main.ts'), 'export const x = 1;\n'.repeat(500));
    writeFileSync(join(tree, 'src', 'deep', 'er', 'blob.bin'), randomBytes(1024 * 1024 + 7));
    writeFileSync(join(tree, 'src', 'deep', 'name with spaces.txt'), 'spaces\n');
    symlinkSync('src/main.ts', join(tree, 'link-to-main'));

    const remoteTree = join(remote, 'tree');
    const up = await rsync(['-a', `${tree}/`, at(`${remoteTree}/`)]);
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    expect(treeDigest(remoteTree)).toEqual(treeDigest(tree));
    expect(statSync(join(remoteTree, 'src', 'main.ts')).uid).toBe(statSync(remote).uid);

    // A change on the client side (other size, so rsync's size+mtime check sees it) goes up on the second run.
    writeFileSync(join(tree, 'src', 'main.ts'), 'export const x = 22;\n'.repeat(500));
    const again = await rsync(['-a', '--stats', `${tree}/`, at(`${remoteTree}/`)]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/Number of regular files transferred: 1\b/);
    expect(treeDigest(remoteTree)).toEqual(treeDigest(tree));

    const back = join(local, 'tree-back');
    const down = await rsync(['-a', at(`${remoteTree}/`), `${back}/`]);
    expect(down.stderr).toBe('');
    expect(down.code).toBe(0);
    expect(treeDigest(back)).toEqual(treeDigest(tree));

    const transfers = await waitForAudit(
      world,
      (e) =>
        isOnWeb1(e) &&
        e.type === 'scp.transfer' &&
        String(e.data['command']).startsWith('rsync --server'),
    );
    expect(transfers.length).toBeGreaterThanOrEqual(3);
  });

  it('git-clones-and-pushes-over-ssh-through-the-bastion', async () => {
    const bare = join(remote, 'repo.git');
    await mustRun('runuser', [
      '-u',
      world.sshd.account,
      '--',
      'git',
      'init',
      '--quiet',
      '--bare',
      '--initial-branch=main',
      bare,
    ]);
    const url = `ssh://${loginFor('web-1')}:${world.gatehouse.sshPort}${bare}`;
    const env = {
      GIT_SSH_COMMAND: sshCommandLine(world, { withPort: false }),
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_AUTHOR_NAME: 'Alice',
      GIT_AUTHOR_EMAIL: 'alice@example.com',
      GIT_COMMITTER_NAME: 'Alice',
      GIT_COMMITTER_EMAIL: 'alice@example.com',
    };
    const git = (args: readonly string[], cwd = local): Promise<ClientRun> =>
      mustRun('git', args, { env, cwd });

    const work = join(local, 'clone');
    await git(['clone', '--quiet', url, work]);
    writeFileSync(join(work, 'hello.txt'), 'hello through the bastion\n');
    writeFileSync(join(work, 'blob.bin'), randomBytes(256 * 1024));
    await git(['add', '.'], work);
    await git(['commit', '--quiet', '-m', 'first commit via gatehouse'], work);
    await git(['push', '--quiet', 'origin', 'HEAD:main'], work);
    const commit = (await git(['rev-parse', 'HEAD'], work)).stdout.trim();

    // The bare repository on the target has the commit (read as the leased account that owns it).
    const onTarget = await mustRun('runuser', [
      '-u',
      world.sshd.account,
      '--',
      'git',
      '--git-dir',
      bare,
      'log',
      '--format=%H %s',
      'main',
    ]);
    expect(onTarget.stdout.trim()).toBe(`${commit} first commit via gatehouse`);

    // And a fresh clone through the bastion gets it back.
    const second = join(local, 'clone-2');
    await git(['clone', '--quiet', url, second]);
    expect(readFileSync(join(second, 'hello.txt'), 'utf8')).toBe('hello through the bastion\n');
    expect(sha256(readFileSync(join(second, 'blob.bin')))).toBe(
      sha256(readFileSync(join(work, 'blob.bin'))),
    );

    const execs = (await readAudit(world))
      .filter((e) => isOnWeb1(e) && e.type === 'ssh.exec')
      .map((e) => String(e.data['command']));
    expect(execs).toContain(`git-receive-pack '${bare}'`);
    expect(execs.filter((c) => c === `git-upload-pack '${bare}'`)).toHaveLength(2);
  });

  describe('on a target added with --no-file-transfer', () => {
    it('scp-in-both-modes-is-refused-with-a-clear-message', async () => {
      for (const mode of [[], ['-O']]) {
        const up = await scp([
          ...mode,
          payloadPath,
          at(join(remote, 'refused.bin'), DENIED_TARGET),
        ]);
        expect(up.code).not.toBe(0);
        expect(up.stderr).toContain(DENIED_MESSAGE);
        const down = await scp([
          ...mode,
          at('/etc/hostname', DENIED_TARGET),
          join(local, 'refused.back'),
        ]);
        expect(down.code).not.toBe(0);
        expect(down.stderr).toContain(DENIED_MESSAGE);
      }
      expect(() => statSync(join(remote, 'refused.bin'))).toThrow(/ENOENT/);
      expect(() => statSync(join(local, 'refused.back'))).toThrow(/ENOENT/);
    });

    it('sftp-is-refused-with-a-clear-message', async () => {
      const run = await sftpBatch(DENIED_TARGET, [
        `put ${payloadPath} ${join(remote, 'refused-sftp.bin')}`,
      ]);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toContain(DENIED_MESSAGE);
      expect(() => statSync(join(remote, 'refused-sftp.bin'))).toThrow(/ENOENT/);
    });

    it('rsync-is-refused-with-a-clear-message', async () => {
      const run = await rsync([
        '-a',
        `${payloadPath}`,
        at(join(remote, 'refused-rsync.bin'), DENIED_TARGET),
      ]);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toContain(DENIED_MESSAGE);
      expect(() => statSync(join(remote, 'refused-rsync.bin'))).toThrow(/ENOENT/);
    });

    it('rsync-with-another-rsync-path-is-refused-too', async () => {
      // `--rsync-path` changes the server command rsync runs: `/usr/bin/rsync --server …`, `sudo rsync --server …`.
      for (const rsyncPath of ['/usr/bin/rsync', 'env rsync']) {
        const run = await rsync([
          '-a',
          `--rsync-path=${rsyncPath}`,
          payloadPath,
          at(join(remote, 'refused-rsync-path.bin'), DENIED_TARGET),
        ]);
        expect(run.code).not.toBe(0);
        expect(run.stderr).toContain(DENIED_MESSAGE);
      }
      expect(() => statSync(join(remote, 'refused-rsync-path.bin'))).toThrow(/ENOENT/);
    });

    it('an-sftp-server-started-by-path-is-refused-too', async () => {
      // `sftp -s PATH` runs PATH as a command instead of asking for the sftp subsystem.
      const batchPath = join(local, 'batch-by-path.txt');
      writeFileSync(batchPath, `put ${payloadPath} ${join(remote, 'refused-sftp-path.bin')}\n`);
      const run = await runClient('sftp', [
        ...sshArgs(world),
        '-P',
        String(world.gatehouse.sshPort),
        '-s',
        '/usr/lib/openssh/sftp-server',
        '-b',
        batchPath,
        loginFor(DENIED_TARGET),
      ]);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toContain(DENIED_MESSAGE);
      expect(() => statSync(join(remote, 'refused-sftp-path.bin'))).toThrow(/ENOENT/);
    });

    it('a-plain-command-still-runs', async () => {
      const run = await runClient('ssh', [
        ...sshArgs(world),
        '-p',
        String(world.gatehouse.sshPort),
        loginFor(DENIED_TARGET),
        'whoami',
      ]);
      expect(run.stderr).toBe('');
      expect(run.stdout.trim()).toBe(world.sshd.account);
      expect(run.code).toBe(0);
    });

    it('each-refusal-is-audited-as-ssh-channel-denied', async () => {
      const denied = (await readAudit(world)).filter(
        (e) => e.type === 'ssh.channel_denied' && e.target === DENIED_TARGET,
      );
      expect(denied.every((e) => e.user === 'alice' && e.data['what'] === 'file-transfer')).toBe(
        true,
      );
      const commands = denied.map((e) => String(e.data['command']));
      // scp over SFTP (up, down) and sftp open the sftp subsystem; scp -O and rsync run commands.
      expect(commands.filter((c) => c === 'sftp')).toHaveLength(3);
      expect(commands.filter((c) => /^scp .*-t\b/.test(c))).toHaveLength(1);
      expect(commands.filter((c) => /^scp .*-f\b/.test(c))).toHaveLength(1);
      expect(commands.filter((c) => /rsync --server/.test(c))).toHaveLength(3);
      expect(commands.filter((c) => c.startsWith('/usr/lib/openssh/sftp-server'))).toHaveLength(1);
      // Nothing was run or opened on the target for them.
      const onDenied = (await readAudit(world)).filter((e) => e.target === DENIED_TARGET);
      expect(
        onDenied.some(
          (e) =>
            e.type === 'ssh.subsystem' || e.type.startsWith('sftp.') || e.type === 'scp.transfer',
        ),
      ).toBe(false);
      expect(onDenied.filter((e) => e.type === 'ssh.exec').map((e) => e.data['command'])).toEqual([
        'whoami',
      ]);
      // A refused channel does not keep its session (upstream connection, lease) open: it ends
      // as the channel closes, not only when the client connection's grace period runs out.
      const ends = new Map(onDenied.filter((e) => e.type === 'session.end').map((e) => [e.sid, e]));
      for (const refusal of denied) {
        const end = ends.get(refusal.sid);
        expect(end?.data['status']).toBe('ended');
        expect(Number(end?.data['durationMs'])).toBeLessThan(2_000);
        expect(onDenied.some((e) => e.type === 'lease.release' && e.sid === refusal.sid)).toBe(
          true,
        );
      }
    });
  });

  it('the-audit-chain-still-verifies', async () => {
    const verify = await world.gatehouse.cli(['audit', 'verify']);
    expect(verify.stdout).toContain('audit chain OK');
  });
});

/** Runs a command and throws with its output unless it exits 0. */
async function mustRun(
  file: string,
  args: readonly string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<ClientRun> {
  const run = await runClient(file, args, options);
  if (run.code !== 0)
    throw new Error(
      `${file} ${args.join(' ')} exited ${String(run.code)}\n${run.stdout}\n${run.stderr}`,
    );
  return run;
}
