import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { ManualClock } from '../../../core/clock.js';
import { Recorder } from '../../../recordings/recorder.js';
import { FrameWriter } from '../../../recordings/frame-writer.js';
import { Frame } from '../../../recordings/frame-format.js';
import { REDACTED } from '../../../recordings/redactor.js';
import type { RecorderOptions } from '../../../recordings/recorder.js';
import { FileRecordingStore } from '../../../recordings/store.js';
import { keyFingerprint } from '../../../recordings/keys.js';
import type { RecordingKey } from '../../../recordings/keys.js';
import { bufferSource, verifyChain } from '../../../recordings/integrity.js';
import { bytesOf, eventsOf, framesOf } from '../../helpers/frames.js';
import type { ChainEntry, CheckpointEntry } from '../../../recordings/integrity.js';
import { waitFor } from '../../helpers/wait.js';

const HEADER = {
  recording: 'r',
  session: 's',
  kind: 'terminal' as const,
  user: 'alice',
  target: 'db01',
  login: 'root',
  source: '192.0.2.7',
  cols: 132,
  rows: 43,
  term: 'xterm-256color',
  command: null,
  approval: null,
  title: 'alice@db01',
};
const keys = () => new Map([[key.fingerprint, key.publicKey]]);

let dir: string;
let store: FileRecordingStore;
let key: RecordingKey;
const START = Date.UTC(2026, 4, 6, 7, 8, 9, 500);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-recorder-'));
  store = new FileRecordingStore(dir);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  key = { kid: 'k1', privateKey, publicKey, fingerprint: keyFingerprint(publicKey), publicPem: '' };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function newRecorder(options: Partial<RecorderOptions> = {}) {
  const rel = `${randomUUID()}.alr`;
  const files = await store.create(rel);
  const clock = new ManualClock(START);
  const session = randomUUID();
  const recording = randomUUID();
  const rec = new Recorder({
    ...files,
    header: { ...HEADER, session, recording },
    ids: { session, recording },
    key,
    // Its timers (flush, checkpoint, batch) run only when the test moves the clock.
    clock,
    scheduler: clock,
    input: 'none',
    output: true,
    flushMs: 60_000,
    checkpointMs: 60_000,
    ...options,
  });
  const read = () => readFileSync(join(dir, rel));
  const readChain = () => readFileSync(join(dir, rel + '.chain'), 'utf8');
  const chain = () =>
    readChain()
      .split('\n')
      .filter((l) => l)
      .map((l) => JSON.parse(l) as ChainEntry);
  return { rec, clock, rel, read, readChain, chain, session, recording };
}

/** A real FileHandle whose writes can be held up (until `held` settles) or made to fail. */
function instrument(fh: FileHandle, behave: { held?: Promise<void>; fail?: Error; failSync?: Error } = {}) {
  const calls = { write: 0, datasync: 0, close: 0 };
  const handle = {
    async write(...args: unknown[]) {
      calls.write++;
      if (behave.held) await behave.held;
      if (behave.fail) throw behave.fail;
      return (fh.write as (...a: unknown[]) => Promise<unknown>)(...args);
    },
    async datasync() {
      calls.datasync++;
      if (behave.fail ?? behave.failSync) throw behave.fail ?? behave.failSync;
      return fh.datasync();
    },
    async close() {
      calls.close++;
      return fh.close();
    },
  };
  return { handle: handle as unknown as FileHandle, calls };
}

describe('Recorder', () => {
  it('writes the magic and a header frame with the recording and session it belongs to', async () => {
    const { rec, read, session, recording } = await newRecorder();
    await rec.close();
    const file = read();
    expect(file.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x41, 0x4c, 0x52, 0x0d, 0x0a, 0x1a, 0x0a]));
    const { header, frames, torn } = framesOf(file);
    expect(header).toEqual({ format: 'airlock-recording', version: 1, start: START, ...HEADER, session, recording });
    expect(frames).toEqual([]);
    expect(torn).toBe(0);
  });

  it('keeps output byte for byte: NULs, invalid UTF-8, split characters, escapes', async () => {
    const { rec, clock, read } = await newRecorder();
    const e = Buffer.from('é'); // c3 a9
    const pieces = [
      Buffer.from('caf'),
      e.subarray(0, 1),
      e.subarray(1),
      Buffer.from(' \x1b[1;31mdonnées\x1b[0m → \t"q" \\\r\n'),
      Buffer.from([0, 0, 0xff, 0xfe, 0xc3, 0x28, 0x80, 0]),
    ];
    for (const p of pieces) {
      clock.advance(250);
      rec.output(p);
    }
    await rec.close();
    const file = read();
    expect(bytesOf(file, Frame.Output).equals(Buffer.concat(pieces))).toBe(true);
    const frames = framesOf(file).frames;
    // Times: milliseconds since the header's start, from the injected clock; one frame per chunk.
    expect(frames.map((f) => f.time)).toEqual([250, 500, 750, 1000, 1250]);
    // The player's view: the split character comes out whole, NULs are counted, not shown.
    const events = eventsOf(file);
    expect(events.filter((ev) => ev[1] === 'o').map((ev) => ev[2])).toContain('é');
    expect(events.at(-1)).toEqual([1.25, 'm', '3 NUL bytes of output not shown (a terminal shows nothing for them; the recording has them)']);
  });

  it('writes resize frames and markers (a marker is capped at 4000 characters)', async () => {
    const { rec, clock, read } = await newRecorder();
    rec.output(Buffer.from('a'));
    clock.advance(1500);
    rec.resize(120, 40);
    rec.marker('approval granted by bob');
    rec.marker('x'.repeat(5000));
    await rec.close();
    const events = eventsOf(read());
    expect(events[1]).toEqual([1.5, 'r', '120x40']);
    expect(events[2]).toEqual([1.5, 'm', 'approval granted by bob']);
    expect(events[3]).toEqual([1.5, 'm', 'x'.repeat(4000)]);
  });

  it('keeps stdout and stderr apart in the file, and marks switches in the player view', async () => {
    const { rec, read } = await newRecorder();
    rec.output(Buffer.from('out1\n'));
    rec.stderr(Buffer.from('err1\n'));
    rec.stderr(Buffer.from('err2\n'));
    rec.output(Buffer.from('out2\n'));
    rec.stderr(Buffer.from('err3\n'));
    await rec.close();
    const file = read();
    expect(bytesOf(file, Frame.Output).toString()).toBe('out1\nout2\n');
    expect(bytesOf(file, Frame.Stderr).toString()).toBe('err1\nerr2\nerr3\n');
    expect(eventsOf(file).map((ev) => [ev[1], ev[2]])).toEqual([
      ['o', 'out1\n'],
      ['m', 'stderr'],
      ['o', 'err1\n'],
      ['o', 'err2\n'],
      ['m', 'stdout'],
      ['o', 'out2\n'],
      ['m', 'stderr'],
      ['o', 'err3\n'],
    ]);
  });

  it('records stdin as sent when input is raw (exec channels)', async () => {
    const { rec, read } = await newRecorder({ input: 'raw' });
    const stdin = Buffer.from([0, 1, 2, 0xff, 0x0a, 0x74, 0x6f, 0x75, 0x63, 0x68]);
    rec.input(stdin);
    rec.input(Buffer.from('password-looking text that is never echoed'));
    await rec.close();
    expect(bytesOf(read(), Frame.Input).equals(Buffer.concat([stdin, Buffer.from('password-looking text that is never echoed')]))).toBe(true);
    expect(bytesOf(read(), Frame.Hidden).length).toBe(0);
  });

  it('records neither stdin nor output when told not to (SFTP without file content capture)', async () => {
    const { rec, read } = await newRecorder({ input: 'none', output: false });
    rec.input(Buffer.from('upload'));
    rec.output(Buffer.from('download'));
    rec.marker('{"sftp":{"op":"open"}}');
    await rec.close();
    expect(framesOf(read()).frames.map((f) => f.type)).toEqual([Frame.Marker]);
  });

  it('gets small output to the file within flushMs, before close, with its chain entry', async () => {
    const { rec, clock, read, chain } = await newRecorder({ flushMs: 100 });
    rec.output(Buffer.from('small'));
    // The batch goes to the recording thread after 200 ms, with the flush ticks of 100 and 200 ms.
    clock.advance(200);
    await waitFor(() => rec.length > 0, { message: 'the first flush on disk' });
    const text = read();
    expect(eventsOf(text)).toEqual([[0, 'o', 'small']]);
    expect(chain()).toEqual([expect.objectContaining({ t: 'range', i: 0, off: 0, len: text.length })]);
    expect(rec.length).toBe(text.length);
    // More output later goes into a second range.
    rec.output(Buffer.from('more'));
    clock.advance(200);
    await waitFor(() => rec.length > text.length, { message: 'the second flush on disk' });
    expect(eventsOf(read()).map((ev) => ev[2])).toEqual(['small', 'more']);
    const result = await rec.close();
    expect(result.entries).toBe(2);
  });

  it('flushes as soon as flushBytes are waiting', async () => {
    const { rec, read } = await newRecorder({ flushBytes: 4096, flushMs: 60_000 });
    rec.output(Buffer.alloc(5000, 'a'));
    // The clock does not move, so no timer runs: the size alone sends it to the disk.
    await waitFor(() => rec.length > 0, { message: 'the flush on disk' });
    expect(eventsOf(read())).toEqual([[0, 'o', 'a'.repeat(5000)]]);
    await rec.close();
  });

  it('writes signed checkpoints every checkpointMs and a final one at close', async () => {
    const { rec, clock, read, readChain, chain, session, recording } = await newRecorder({ flushMs: 30, checkpointMs: 100 });
    const checkpoints = () => chain().filter((e): e is CheckpointEntry => e.t === 'checkpoint');
    rec.output(Buffer.from('before the checkpoint'));
    clock.advance(100);
    const [first] = await waitFor(() => checkpoints().length > 0 && checkpoints(), { message: 'the first checkpoint' });
    expect(first).toMatchObject({ body: { final: false, length: read().length, entries: 1 }, key: key.fingerprint });
    clock.advance(100);
    await waitFor(() => checkpoints().length > 1, { message: 'the second checkpoint' });
    const result = await rec.close();
    // One per 100 ms the clock moved, then the final one: no more, no fewer.
    expect(checkpoints().map((c) => c.body.final)).toEqual([false, false, true]);
    const report = await verifyChain({ source: bufferSource(read()), chainText: readChain(), keys: keys(), expect: result, ids: { session, recording } });
    expect(report.problems).toEqual([]);
    expect(report.final).toBe(true);
    // close() is idempotent.
    expect(await rec.close()).toEqual(result);
  });

  it('applies back-pressure while the recording thread and disk are behind, and drains', async () => {
    const { rec, read, readChain } = await newRecorder({ flushBytes: 64 * 1024, highWater: 256 * 1024, flushMs: 60_000 });
    expect(rec.backlogged).toBe(false);
    const chunk = Buffer.alloc(32 * 1024, 0x01);
    let n = 0;
    let waits = 0;
    while (n < 200) {
      // The relay's loop: write until the recorder says it is behind, then wait.
      rec.output(chunk);
      n++;
      if (rec.backlogged) {
        waits++;
        await once(rec, 'drain');
        expect(rec.backlogged).toBe(false);
      }
    }
    expect(waits).toBeGreaterThan(0);
    const result = await rec.close();
    const file = read();
    const out = bytesOf(file, Frame.Output);
    expect(out.length).toBe(chunk.length * n);
    expect(out.equals(Buffer.alloc(chunk.length * n, 0x01))).toBe(true);
    expect((await verifyChain({ source: bufferSource(file), chainText: readChain(), keys: keys(), expect: result })).ok).toBe(true);
  });

  it('emits failed once when the disk is full, releases the relay and stops writing', async () => {
    const rel = `${randomUUID()}.alr`;
    const files = await store.create(rel);
    await files.file.close();
    const clock = new ManualClock(START);
    const rec = new Recorder({
      file: await open('/dev/full', 'w'), // every write fails with ENOSPC
      chain: files.chain,
      header: HEADER,
      ids: { session: randomUUID(), recording: randomUUID() },
      key,
      clock,
      scheduler: clock,
      input: 'none',
      output: true,
      flushBytes: 4096,
      highWater: 8192,
      flushMs: 60_000,
      checkpointMs: 60_000,
    });
    const failures: unknown[] = [];
    rec.on('failed', (err) => failures.push(err));
    for (let i = 0; i < 5; i++) rec.output(Buffer.alloc(5000, 'q')); // five flushes queued
    expect(rec.backlogged).toBe(true);
    await once(rec, 'drain');
    await waitFor(() => failures.length > 0, { message: "the 'failed' event" });
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ code: 'ENOSPC', syscall: 'write' });
    expect(rec.failed).toBe(failures[0]);
    expect(rec.backlogged).toBe(false);
    // Later output and checkpoints write nothing; close still answers.
    rec.output(Buffer.alloc(10_000, 'r'));
    await rec.checkpoint(false);
    await rec.close();
    expect(failures).toHaveLength(1);
    expect(readFileSync(join(dir, rel + '.chain'), 'utf8')).toBe('');
  });
});

/** The writer behind a Recorder, run here in the test's thread with file handles that misbehave. */
describe('FrameWriter', () => {
  async function newWriter(behave: { file?: Parameters<typeof instrument>[1]; chain?: Parameters<typeof instrument>[1]; flushBytes?: number } = {}) {
    const rel = `${randomUUID()}.alr`;
    const files = await store.create(rel);
    const file = instrument(files.file, behave.file);
    const chain = instrument(files.chain, behave.chain);
    const progress: Array<{ raw: number; backlog: number; length: number }> = [];
    const failures: Error[] = [];
    const checkpoints: Array<[number, string]> = [];
    const writer = new FrameWriter(
      {
        file: file.handle,
        chain: chain.handle,
        header: HEADER,
        startMs: START,
        ids: { session: randomUUID(), recording: randomUUID() },
        key,
        input: 'none',
        output: true,
        flushBytes: behave.flushBytes ?? 4096,
      },
      {
        progress: (raw, backlog, length) => progress.push({ raw, backlog, length }),
        checkpoint: (length, head) => checkpoints.push([length, head]),
        failed: (err) => failures.push(err),
      },
    );
    const read = () => readFileSync(join(dir, rel));
    const readChain = () => readFileSync(join(dir, rel + '.chain'), 'utf8');
    return { writer, file, chain, progress, failures, checkpoints, read, readChain };
  }

  it('syncs both files at every checkpoint, tells the length and head on disk, and closes each once', async () => {
    const { writer, file, chain, checkpoints, read, readChain } = await newWriter();
    writer.output(START + 100, Buffer.from('hello'));
    await writer.checkpoint(START + 200);
    expect(file.calls.datasync).toBe(1);
    expect(chain.calls.datasync).toBe(1);
    expect(checkpoints).toEqual([[read().length, expect.stringMatching(/^[0-9a-f]{64}$/)]]);
    const result = await writer.close(START + 300);
    expect(file.calls.datasync).toBe(2);
    expect(file.calls.close).toBe(1);
    expect(chain.calls.close).toBe(1);
    expect(checkpoints.at(-1)).toEqual([result.length, result.head]);
    expect(await writer.close(START + 400)).toEqual(result);
    expect(file.calls.close).toBe(1);
    expect((await verifyChain({ source: bufferSource(read()), chainText: readChain(), keys: keys(), expect: result })).ok).toBe(true);
  });

  it('counts bytes as waiting for the disk until the slow disk has taken them', async () => {
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const { writer, chain, progress, read } = await newWriter({ file: { held } });
    writer.output(START, Buffer.alloc(5000, 'z'));
    // Framed at once, and past flushBytes: handed to the disk, not yet written.
    expect(progress).toHaveLength(1);
    expect(progress[0]).toMatchObject({ raw: 5000, length: 0 });
    expect(progress[0]?.backlog).toBeGreaterThan(5000);
    let synced = false;
    const checkpoint = writer.checkpoint(START).then(() => void (synced = true));
    // While the disk holds the write, nothing more is reported, and nothing of the checkpoint happens.
    for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    expect(progress).toHaveLength(1);
    expect(chain.calls.write).toBe(0);
    expect(synced).toBe(false);
    release();
    await checkpoint;
    expect(chain.calls.datasync).toBe(1);
    expect(progress.at(-1)).toEqual({ raw: 0, backlog: 0, length: read().length });
    await writer.close(START);
  });

  it('reports failed once on a write error and stops writing', async () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
    const { writer, file, chain, failures, progress } = await newWriter({ file: { fail: enospc } });
    for (let i = 0; i < 5; i++) writer.output(START, Buffer.alloc(5000, 'q')); // five flushes queued
    await writer.checkpoint(START);
    expect(failures).toEqual([enospc]);
    expect(progress.every((p) => p.length === 0)).toBe(true);
    expect(file.calls.write).toBe(1);
    expect(chain.calls.write).toBe(0);
    // Later output and checkpoints write nothing; close still releases the files.
    writer.output(START, Buffer.alloc(10_000, 'r'));
    await writer.checkpoint(START);
    await writer.close(START);
    expect(failures).toHaveLength(1);
    expect(file.calls.write).toBe(1);
    expect(file.calls.datasync).toBe(0);
    expect(file.calls.close).toBe(1);
    expect(chain.calls.close).toBe(1);
  });

  it('reports failed when the checkpoint sync fails', async () => {
    const eio = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    const { writer, failures } = await newWriter({ chain: { failSync: eio } });
    writer.output(START, Buffer.from('x'));
    await writer.checkpoint(START);
    expect(failures).toEqual([eio]);
    await writer.close(START);
  });

  it('writes typed keys before their echo, at the time they were typed, and counts hidden ones', async () => {
    const rel = `${randomUUID()}.alr`;
    const files = await store.create(rel);
    const writer = new FrameWriter(
      { ...files, header: HEADER, startMs: START, ids: { session: 's', recording: 'r' }, key, input: 'redacted', output: true, flushBytes: 1 << 20 },
      { progress: () => {}, failed: (err) => { throw err; } },
    );
    writer.output(START + 100, Buffer.from('$ '));
    writer.input(START + 1000, Buffer.from('l'));
    writer.output(START + 1020, Buffer.from('l'));
    // Typed faster than the echo comes back: a whole line and Enter, then one chunk of echo.
    writer.input(START + 2000, Buffer.from('s -la'));
    writer.input(START + 2001, Buffer.from('\r'));
    writer.output(START + 2030, Buffer.from('s -la\r\ntotal 0\r\nPassword: '));
    // A password: never echoed; only its length is kept, Enter stays.
    writer.input(START + 2500, Buffer.from('hunter2'));
    writer.input(START + 2600, Buffer.from('\r'));
    writer.tick(START + 3500);
    writer.output(START + 3600, Buffer.from('\r\n$ '));
    await writer.close(START + 4000);
    const file = readFileSync(join(dir, rel));
    expect(eventsOf(file)).toEqual([
      [0.1, 'o', '$ '],
      [1, 'i', 'l'],
      [1.02, 'o', 'l'],
      [2, 'i', 's -la'],
      [2.001, 'i', '\r'],
      [2.03, 'o', 's -la\r\ntotal 0\r\nPassword: '],
      [2.5, 'i', REDACTED],
      [2.6, 'i', '\r'],
      [3.6, 'o', '\r\n$ '],
    ]);
    const hidden = framesOf(file).frames.filter((f) => f.type === Frame.Hidden);
    expect(hidden.map((f) => f.payload.readUInt32BE(0))).toEqual([7]);
    expect(file.includes('hunter2')).toBe(false);
  });

  it('splits a chunk larger than a frame may hold, and the bytes come back whole', async () => {
    const { writer, read } = await newWriter({ flushBytes: 1 << 20 });
    const big = Buffer.alloc(17 * 1024 * 1024 + 5, 7);
    writer.output(START + 1000, big);
    await writer.close(START + 2000);
    const frames = framesOf(read()).frames;
    expect(frames.map((f) => f.payload.length)).toEqual([16 * 1024 * 1024, 1024 * 1024 + 5]);
    expect(bytesOf(read(), Frame.Output).equals(big)).toBe(true);
  });
});
