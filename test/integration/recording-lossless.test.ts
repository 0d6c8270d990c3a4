import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Frame } from '../../recordings/frame-format.js';
import type { RecordingRow } from '../../recordings/index.js';
import { ALICE_PASSWORD, startGateway } from '../helpers/gateway.js';
import type { GatewayHarness } from '../helpers/gateway.js';
import { framesOf } from '../helpers/frames.js';

/**
 * The recording is the forensic copy (recordings/FORMAT.md): every byte of every
 * direction as it crossed airlock, with real OpenSSH clients against a real sshd.
 * Output, stderr and exec stdin come back byte-exact by SHA-256; a shell fed on
 * stdin leaves its commands in the recording and in the analysis; SFTP file
 * contents are in it only where the policy asks.
 */
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** One direction of a recording, hashed frame by frame (never joined into one buffer). */
function directionHash(file: Buffer, type: number): { sha256: string; bytes: number } {
  const hash = createHash('sha256');
  let bytes = 0;
  for (const f of framesOf(file).frames) {
    if (f.type !== type) continue;
    hash.update(f.payload);
    bytes += f.payload.length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

describe('lossless recordings through the gateway', () => {
  let g: GatewayHarness;
  let local: string;
  let remote: string;

  beforeAll(async () => {
    g = await startGateway('pglite', { grant: { allowSftp: true }, overrides: { 'recordings.captureFileContent.standard': true } });
    local = mkdtempSync(join(tmpdir(), 'airlock-lossless-'));
    // The target user writes here; the test (root) checks what arrived.
    remote = mkdtempSync(join(tmpdir(), 'airlock-lossless-remote-'));
    chmodSync(remote, 0o777);
  });
  afterAll(async () => {
    await g?.stop();
    rmSync(local, { recursive: true, force: true });
    rmSync(remote, { recursive: true, force: true });
  });

  /** Ids of the recordings there are now: what a step adds is found against them. */
  const known = async () => new Set((await g.services.recordings.list({ limit: 10_000 })).map((r) => r.id));

  /** The one recording of this kind made since `before`, once sealed. */
  async function sealed(kind: RecordingRow['kind'], before: Set<string>): Promise<RecordingRow> {
    let row: RecordingRow | undefined;
    await expect
      .poll(
        async () => {
          const added = (await g.services.recordings.list({ limit: 10_000 })).filter((r) => r.kind === kind && !before.has(r.id));
          row = added.length === 1 ? added[0] : undefined;
          return row?.status;
        },
        { timeout: 30_000 },
      )
      .toBe('complete');
    return row as RecordingRow;
  }

  it('keeps 50 MB of random bytes byte-exact each way through an exec channel', { timeout: 240_000 }, async () => {
    const data = randomBytes(50 * 1024 * 1024);
    const digest = sha256(data);
    const source = join(local, 'random.bin');
    writeFileSync(source, data);
    chmodSync(local, 0o755);
    chmodSync(source, 0o644);

    // Download: the target's stdout.
    let t0 = await known();
    const down = await g.asAlice('alice@t1', ['cat', source], { timeoutMs: 180_000 });
    expect({ code: down.code, stderr: down.stderr }).toMatchObject({ code: 0 });
    expect(sha256(down.stdout)).toBe(digest);
    const downRec = await sealed('exec', t0);
    const downFile = await g.services.recordings.read(downRec);
    expect(directionHash(downFile, Frame.Output)).toEqual({ sha256: digest, bytes: data.length });
    expect((await g.services.recordings.verify(downRec)).ok).toBe(true);

    // Upload: the engineer's stdin, as sent.
    t0 = await known();
    const target = join(remote, 'uploaded.bin');
    const up = await g.asAlice('alice@t1', [`cat > ${target}`], { stdinFile: source, timeoutMs: 180_000 });
    expect({ code: up.code, stderr: up.stderr }).toMatchObject({ code: 0 });
    expect(sha256(readFileSync(target))).toBe(digest);
    const upRec = await sealed('exec', t0);
    const upFile = await g.services.recordings.read(upRec);
    expect(directionHash(upFile, Frame.Input)).toEqual({ sha256: digest, bytes: data.length });
    expect(framesOf(upFile).header).toMatchObject({ kind: 'exec', command: `cat > ${target}` });
    expect((await g.services.recordings.verify(upRec)).ok).toBe(true);
  });

  it('records a shell without a terminal fed on stdin (ssh -T, bash -s < script, a heredoc), and its commands reach the analysis', async () => {
    const marker = join(remote, 'touched-by-stdin');
    let t0 = await known();
    // `printf 'touch …\n' | ssh -T host`: no command, no terminal.
    const t = await g.asAlice('alice@t1', [], { input: `touch ${marker}\necho done-1\n`, sshArgs: ['-T'] });
    expect({ code: t.code, out: t.stdout.toString() }).toMatchObject({ code: 0, out: 'done-1\n' });
    expect(existsSync(marker)).toBe(true);
    const shellRec = await sealed('exec', t0);
    const shellFile = await g.services.recordings.read(shellRec);
    expect(framesOf(shellFile).header).toMatchObject({ kind: 'exec', command: null });
    expect(directionHash(shellFile, Frame.Input).bytes).toBe(`touch ${marker}\necho done-1\n`.length);

    // `ssh host 'bash -s' < script.sh`, with a heredoc inside.
    t0 = await known();
    const script = ['# a maintenance script', `rm -f ${marker}`, `cat > ${remote}/notes.txt <<'EOF'`, 'written by a heredoc', 'EOF', 'echo done-2', ''].join('\n');
    const s = await g.asAlice('alice@t1', ['bash -s'], { input: script });
    expect({ code: s.code, out: s.stdout.toString() }).toMatchObject({ code: 0, out: 'done-2\n' });
    expect(existsSync(marker)).toBe(false);
    const scriptRec = await sealed('exec', t0);
    expect(Buffer.from(framesOf(await g.services.recordings.read(scriptRec)).frames.filter((f) => f.type === Frame.Input).flatMap((f) => [...f.payload])).toString()).toBe(script);

    // The analysis lists what the shells ran.
    await expect
      .poll(async () => (await g.services.analyses.commands(shellRec.id)).map((c) => c.text), { timeout: 30_000 })
      .toEqual([`touch ${marker}`, 'echo done-1']);
    await expect
      .poll(async () => (await g.services.analyses.commands(scriptRec.id)).map((c) => c.text), { timeout: 30_000 })
      .toEqual(expect.arrayContaining(['bash -s', `rm -f ${marker}`, `cat > ${remote}/notes.txt <<'EOF'`, 'echo done-2']));
    // And the command search finds them.
    expect((await g.services.analyses.search({ text: 'touched-by-stdin' })).map((c) => c.recordingId)).toEqual(expect.arrayContaining([shellRec.id, scriptRec.id]));
  });

  it('keeps stderr apart from stdout, byte for byte', async () => {
    const t0 = await known();
    const r = await g.asAlice('alice@t1', ["printf 'out\\000put'; printf 'err\\377or' >&2"]);
    expect(r.code).toBe(0);
    const file = await g.services.recordings.read(await sealed('exec', t0));
    const bytesOf = (type: number) => Buffer.concat(framesOf(file).frames.filter((f) => f.type === type).map((f) => f.payload));
    expect(bytesOf(Frame.Output)).toEqual(Buffer.from('out\x00put', 'latin1'));
    expect(bytesOf(Frame.Stderr)).toEqual(Buffer.from('err\xffor', 'latin1'));
  });

  it('records SFTP file contents both ways where recordings.captureFileContent is on', async () => {
    const data = randomBytes(300_000);
    writeFileSync(join(local, 'up.bin'), data);
    const t0 = await known();
    const r = await g.ssh.spawn(
      'sftp',
      [...g.ssh.baseArgs().map((a) => (a === '-p' ? '-P' : a)), 'alice@t1@127.0.0.1'],
      { password: ALICE_PASSWORD, totp: g.totp(g.alice.totp.secret), input: `put ${join(local, 'up.bin')} ${remote}/sftp.bin\nget ${remote}/sftp.bin ${join(local, 'down.bin')}\n` },
    );
    expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
    const file = await g.services.recordings.read(await sealed('sftp', t0));
    const { frames } = framesOf(file);
    // The SFTP packets themselves, each way: the file is inside them, whole.
    const input = Buffer.concat(frames.filter((f) => f.type === Frame.Input).map((f) => f.payload));
    const output = Buffer.concat(frames.filter((f) => f.type === Frame.Output).map((f) => f.payload));
    expect(input.includes(data.subarray(0, 30_000))).toBe(true);
    expect(output.includes(data.subarray(data.length - 30_000))).toBe(true);
    // The operations are markers, with the file's SHA-256.
    const ops = frames.filter((f) => f.type === Frame.Marker).map((f) => f.payload.toString());
    expect(ops).toEqual(expect.arrayContaining([expect.stringContaining(`"sha256":"${sha256(data)}"`)]));
  });
});

describe('SFTP without file content capture (the default)', () => {
  let g: GatewayHarness;
  let dir: string;
  beforeAll(async () => {
    g = await startGateway('pglite', { grant: { allowSftp: true } });
    dir = mkdtempSync(join(tmpdir(), 'airlock-nocapture-'));
    chmodSync(dir, 0o777);
  });
  afterAll(async () => {
    await g?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('records the operations and hashes, never the contents', async () => {
    const data = Buffer.from('patient record 4711: a secret that must not be copied into a recording\n'.repeat(100));
    writeFileSync(join(dir, 'up.txt'), data);
    const r = await g.ssh.spawn('sftp', [...g.ssh.baseArgs().map((a) => (a === '-p' ? '-P' : a)), 'alice@t1@127.0.0.1'], {
      password: ALICE_PASSWORD,
      totp: g.totp(g.alice.totp.secret),
      input: `put ${join(dir, 'up.txt')} ${dir}/there.txt\n`,
    });
    expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
    let row: RecordingRow | undefined;
    await expect
      .poll(async () => {
        row = (await g.services.recordings.list()).find((x) => x.kind === 'sftp');
        return row?.status;
      })
      .toBe('complete');
    const file = await g.services.recordings.read(row as RecordingRow);
    expect(file.includes('patient record 4711')).toBe(false);
    const { frames } = framesOf(file);
    expect(frames.some((f) => f.type === Frame.Input || f.type === Frame.Output)).toBe(false);
    expect(frames.map((f) => f.payload.toString()).join('\n')).toContain(`"sha256":"${sha256(data)}"`);
  });
});
