import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { SFTPWrapper } from 'ssh2';
import { createLogger } from '../../core/logger.js';
import { MAX_STORED_PATH } from '../../gateway/stored-path.js';
import { Frame } from '../../recordings/frame-format.js';
import { runCli } from '../helpers/cli.js';
import { engines } from '../helpers/db.js';
import { framesOf } from '../helpers/frames.js';
import { startGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';
import type { GatewayHarness } from '../helpers/gateway.js';
import { connectAlice, endConnection } from '../helpers/ssh2-login.js';

/**
 * What SFTP leaves behind is bounded (issue #19 item 8): 300 removes of 100 KB
 * paths had added 30 MB to the log and to one session row, and the 10,000
 * operations a row kept allowed about 2.5 GB per session. Through the real
 * gateway and sshd's sftp-server, with ssh2's SFTP client (OpenSSH's sftp
 * cannot type such paths): the target still gets every path whole and decides,
 * while the row, the log and the recording keep each path to 1 KiB (with its
 * full length and SHA-256) and the row keeps the first ssh.maxStoredFileOps
 * operations with a count of the rest, which the API and `airlock session show`
 * report.
 */
interface StoredOp {
  op: string;
  path: string;
  pathLength?: number;
  pathSha256?: string;
  ok?: boolean;
  bytes?: number;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const STORED_MAX = 100;
const REMOVES = 300;

function sftpOf(c: Awaited<ReturnType<typeof connectAlice>>): Promise<SFTPWrapper> {
  return new Promise((resolve, reject) => c.sftp((err, s) => (err ? reject(err) : resolve(s))));
}

/** One SFTP request, settled either way: the target's answer is what counts. */
const settle = (start: (cb: (err?: Error | null) => void) => void) =>
  new Promise<boolean>((resolve) => start((err) => resolve(!err)));

describe.each(engines)('SFTP records are bounded on %s', (engine) => {
  let g: GatewayHarness;
  let remote: string;
  const logged: string[] = [];
  beforeAll(async () => {
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line) logged.push(line);
        done();
      },
    });
    g = await startGateway(engine, {
      grant: { allowSftp: true },
      overrides: { 'ssh.maxStoredFileOps': STORED_MAX },
      logger: createLogger({ level: 'info', format: 'json', destination }),
    });
    // The target user writes here; the test (root) checks what arrived.
    remote = mkdtempSync(join(tmpdir(), 'airlock-remote-'));
    chmodSync(remote, 0o777);
  });
  afterAll(async () => {
    await g?.stop();
    rmSync(remote, { recursive: true, force: true });
  });

  it(`${REMOVES} removes of 100 KB paths: the target answers each, the row keeps ${STORED_MAX} operations and counts the rest, and row, log and recording stay small`, async () => {
    // A real directory deeper than 1 KiB (Linux allows 4096): the relay passes such paths whole.
    const levels = Array.from({ length: 6 }, (_, i) => `${i}`.repeat(200));
    const dirs = levels.map((_, i) => `${remote}/${levels.slice(0, i + 1).join('/')}`);
    const deep = dirs[dirs.length - 1] as string;
    const file = `${deep}/file.txt`;
    expect(Buffer.byteLength(file)).toBeGreaterThan(MAX_STORED_PATH);
    const long = (i: number) => `${remote}/${String(i).padStart(4, '0')}${'z'.repeat(100_000)}`;

    const seq = (await g.services.audit.list({ newest: true, limit: 1 }))[0]?.seq ?? 0;
    const c = await connectAlice(g);
    let sessionId: string;
    try {
      const sftp = await sftpOf(c);
      sessionId = g.services.sessions.list()[0]!.id;
      for (const d of dirs) expect(await settle((cb) => sftp.mkdir(d, cb))).toBe(true);
      expect(await settle((cb) => sftp.writeFile(file, 'deep enough\n', cb))).toBe(true);
      const back = await new Promise<string>((resolve, reject) => sftp.readFile(file, (err, data) => (err ? reject(err) : resolve(data.toString()))));
      expect(back).toBe('deep enough\n');
      // The target refuses each (a name past NAME_MAX), and says so: the relay did not cut the request.
      const removed = await Promise.all(Array.from({ length: REMOVES }, (_, i) => settle((cb) => sftp.unlink(long(i), cb))));
      expect(removed.filter(Boolean)).toEqual([]);
      sftp.end();
    } finally {
      await endConnection(c);
    }
    expect(readFileSync(file, 'utf8')).toBe('deep enough\n');

    const total = dirs.length + 2 + REMOVES; // mkdirs, the write, the read, the removes
    const row = await waitFor(
      async () => {
        const r = (
          await g.services.db.query<{ ended_at: Date | null; file_ops: StoredOp[]; file_ops_omitted: number; size: number }>(
            'SELECT ended_at, file_ops, file_ops_omitted, length(file_ops::text) AS size FROM sessions WHERE id = $1',
            [sessionId],
          )
        ).rows[0];
        return r?.ended_at ? r : undefined;
      },
      { message: 'the session row to be completed' },
    );
    const { file_ops: ops, file_ops_omitted: omitted, size } = row;
    expect(ops).toHaveLength(STORED_MAX);
    expect(omitted).toBe(total - STORED_MAX);
    // The deep file: its beginning, the mark, its full length and hash, by which it is still found.
    const written = ops.find((o) => o.op === 'write') as StoredOp;
    expect(written).toMatchObject({ pathLength: Buffer.byteLength(file), pathSha256: sha256(file), bytes: 12, ok: true });
    expect(file.startsWith(written.path.slice(0, -1))).toBe(true);
    expect(written.path.endsWith('…')).toBe(true);
    const firstRemove = ops.find((o) => o.op === 'remove') as StoredOp;
    expect(firstRemove).toMatchObject({ pathLength: long(0).length, pathSha256: sha256(long(0)), ok: false });
    for (const o of ops) expect(Buffer.byteLength(o.path)).toBeLessThanOrEqual(MAX_STORED_PATH + Buffer.byteLength('…'));
    // 100 operations of at most ~1 KiB of path each, where 30 MB had been.
    expect(size).toBeLessThan(STORED_MAX * 1300);

    // The log: one line per operation, none carrying a whole 100 KB path.
    const opLines = logged.filter((l) => l.includes('"msg":"sftp file operation"'));
    expect(opLines).toHaveLength(total);
    expect(Math.max(...opLines.map((l) => l.length))).toBeLessThan(MAX_STORED_PATH + 600);
    expect(logged.join('\n').length).toBeLessThan(total * 1700);

    // The recording keeps every operation (a marker each), each path cut the same way.
    const [rec] = await g.services.recordings.list({ session: sessionId });
    const bytes = await g.services.recordings.read(rec!);
    const markers = framesOf(bytes)
      .frames.filter((f) => f.type === Frame.Marker)
      .map((f) => f.payload.toString())
      .filter((m) => m.startsWith('{"sftp"'))
      .map((m) => (JSON.parse(m) as { sftp: StoredOp }).sftp);
    expect(markers).toHaveLength(total);
    expect(markers.filter((m) => m.op === 'remove').map((m) => m.pathSha256)).toEqual(Array.from({ length: REMOVES }, (_, i) => sha256(long(i))));
    expect(bytes.length).toBeLessThan(total * 1600);

    // The session's end is audited with every operation counted, and how many the row left out.
    const ends = (await g.services.audit.list({ afterSeq: seq, limit: 1000 })).filter((e) => e.action === 'session.end');
    expect(ends.map((e) => [e.details['fileOps'], e.details['fileOpsOmitted']])).toEqual([[total, total - STORED_MAX]]);

    // The API and the CLI say how many were left out, and show a cut path with its length and hash.
    const admin = await g.services.identity.users.add({ name: 'ops', role: 'admin', password: 'ops-password-123' }, { name: 'test' });
    const home = mkdtempSync(join(tmpdir(), 'airlock-cli-'));
    try {
      const env = { AIRLOCK_HOME: home, AIRLOCK_URL: g.server.web.url };
      const login = await runCli(['login', '--user', 'ops', '--password-stdin', '--totp', g.totp(admin.totp.secret), '--no-ssh'], { env, input: 'ops-password-123' });
      expect(login.code, login.stderr).toBe(0);
      const api = await runCli(['session', 'show', sessionId, '--json'], { env });
      expect(api.code, api.stderr).toBe(0);
      const shown = JSON.parse(api.stdout) as { fileOps: StoredOp[]; fileOpsOmitted: number };
      expect({ ops: shown.fileOps.length, omitted: shown.fileOpsOmitted }).toEqual({ ops: STORED_MAX, omitted: total - STORED_MAX });
      const text = await runCli(['session', 'show', sessionId], { env });
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout).toContain(`… and ${total - STORED_MAX} more file operations, omitted from the session record (they are in its recording)`);
      expect(text.stdout).toContain(`(path cut: ${Buffer.byteLength(file)} bytes, sha256 ${sha256(file)}) (12 bytes)`);
      expect(text.stdout).toContain(`remove (failed) `);
      expect(text.stdout.length).toBeLessThan(STORED_MAX * 1000);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
    expect(existsSync(file)).toBe(true);
  }, 120_000);
});
