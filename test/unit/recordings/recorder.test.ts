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
import { CastWriter } from '../../../recordings/cast-writer.js';
import type { RecorderOptions } from '../../../recordings/recorder.js';
import { FileRecordingStore } from '../../../recordings/store.js';
import { keyFingerprint } from '../../../recordings/keys.js';
import type { RecordingKey } from '../../../recordings/keys.js';
import { parseCast } from '../../../recordings/asciicast.js';
import { verifyChain } from '../../../recordings/integrity.js';
import type { ChainEntry, CheckpointEntry } from '../../../recordings/integrity.js';
import { waitFor } from '../../helpers/wait.js';

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
  const rel = `${randomUUID()}.cast`;
  const files = await store.create(rel);
  const clock = new ManualClock(START);
  const session = randomUUID();
  const rec = new Recorder({
    ...files,
    header: {
      width: 132,
      height: 43,
      title: 'alice@db01',
      env: { TERM: 'xterm-256color', SHELL: '/bin/bash' },
      airlock: { session, user: 'alice', target: 'db01', login: 'root', source: '192.0.2.7' },
    },
    ids: { session, recording: randomUUID() },
    key,
    // Its timers (flush, checkpoint, batch) run only when the test moves the clock.
    clock,
    scheduler: clock,
    recordInput: false,
    flushMs: 60_000,
    checkpointMs: 60_000,
    ...options,
  });
  const read = () => readFileSync(join(dir, rel), 'utf8');
  const readChain = () => readFileSync(join(dir, rel + '.chain'), 'utf8');
  const chain = () =>
    readChain()
      .split('\n')
      .filter((l) => l)
      .map((l) => JSON.parse(l) as ChainEntry);
  return { rec, clock, rel, read, readChain, chain, session };
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
  it('writes an asciicast v2 header with airlock fields', async () => {
    const { rec, read, session } = await newRecorder();
    await rec.close();
    const firstLine = read().split('\n')[0] as string;
    const header = JSON.parse(firstLine) as Record<string, unknown>;
    expect(header).toEqual({
      version: 2,
      width: 132,
      height: 43,
      timestamp: Math.floor(START / 1000),
      title: 'alice@db01',
      env: { TERM: 'xterm-256color', SHELL: '/bin/bash' },
      airlock: { session, user: 'alice', target: 'db01', login: 'root', source: '192.0.2.7' },
    });
  });

  it('writes output events that reproduce the bytes exactly, across split UTF-8', async () => {
    const { rec, clock, read } = await newRecorder();
    const pieces: Buffer[] = [];
    const e = Buffer.from('é'); // c3 a9
    const crab = Buffer.from('🦀'); // 4 bytes
    pieces.push(Buffer.from('caf'), e.subarray(0, 1), e.subarray(1), Buffer.from(' \x1b[1mbold\x1b[0m\r\n'));
    pieces.push(crab.subarray(0, 1), crab.subarray(1, 3), crab.subarray(3), Buffer.from('"quoted" \\ back\ttab\x07'));
    for (const p of pieces) {
      clock.advance(250);
      rec.output(p);
    }
    await rec.close();
    const cast = parseCast(read());
    const out = cast.events.filter((ev) => ev[1] === 'o');
    expect(out.map((ev) => ev[2]).join('')).toBe(Buffer.concat(pieces).toString('utf8'));
    expect(Buffer.from(out.map((ev) => ev[2]).join(''), 'utf8').equals(Buffer.concat(pieces))).toBe(true);
    for (const ev of out) {
      expect(ev[2]).not.toBe('');
      expect(ev[2]).not.toContain('\ufffd');
    }
    // 'é' arrives as one event, when its second byte does.
    expect(out.map((ev) => ev[2])).toContain('é');
    expect(out.map((ev) => ev[2])).toContain('🦀');
    // Times: seconds since the header's start, from the injected clock.
    expect(out[0]?.[0]).toBeCloseTo(0.25, 6);
    expect(out.at(-1)?.[0]).toBeCloseTo(2.0, 6);
  });

  it('writes resize events and markers', async () => {
    const { rec, clock, read } = await newRecorder();
    rec.output(Buffer.from('a'));
    clock.advance(1500);
    rec.resize(120, 40);
    rec.marker('approval granted by bob');
    rec.marker('x'.repeat(5000));
    await rec.close();
    const cast = parseCast(read());
    expect(cast.events[1]).toEqual([1.5, 'r', '120x40']);
    expect(cast.events[2]).toEqual([1.5, 'm', 'approval granted by bob']);
    expect(cast.events[3]).toEqual([1.5, 'm', 'x'.repeat(1000)]);
  });

  it('marks switches between stdout and stderr', async () => {
    const { rec, read } = await newRecorder();
    rec.output(Buffer.from('out1\n'));
    rec.stderr(Buffer.from('err1\n'));
    rec.stderr(Buffer.from('err2\n'));
    rec.output(Buffer.from('out2\n'));
    rec.stderr(Buffer.from('err3\n'));
    await rec.close();
    const events = parseCast(read()).events.map((ev) => [ev[1], ev[2]]);
    expect(events).toEqual([
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

  it('gets small output to the file within flushMs, before close, with its chain entry', async () => {
    const { rec, clock, read, chain } = await newRecorder({ flushMs: 100 });
    rec.output(Buffer.from('small'));
    // The batch goes to the recording thread after 200 ms, with the flush ticks of 100 and 200 ms.
    clock.advance(200);
    await waitFor(() => rec.length > 0, { message: 'the first flush on disk' });
    const text = read();
    const cast = parseCast(text);
    expect(cast.header.version).toBe(2);
    expect(cast.events).toEqual([[0, 'o', 'small']]);
    expect(chain()).toEqual([expect.objectContaining({ t: 'range', i: 0, off: 0, len: Buffer.byteLength(text) })]);
    expect(rec.length).toBe(Buffer.byteLength(text));
    // More output later goes into a second range.
    rec.output(Buffer.from('more'));
    clock.advance(200);
    await waitFor(() => rec.length > Buffer.byteLength(text), { message: 'the second flush on disk' });
    expect(parseCast(read()).events.map((ev) => ev[2])).toEqual(['small', 'more']);
    const result = await rec.close();
    expect(result.entries).toBe(2);
  });

  it('flushes as soon as flushBytes are waiting', async () => {
    const { rec, read } = await newRecorder({ flushBytes: 4096, flushMs: 60_000 });
    rec.output(Buffer.alloc(5000, 'a'));
    // The clock does not move, so no timer runs: the size alone sends it to the disk.
    await waitFor(() => rec.length > 0, { message: 'the flush on disk' });
    expect(parseCast(read()).events).toEqual([[0, 'o', 'a'.repeat(5000)]]);
    await rec.close();
  });

  it('writes signed checkpoints every checkpointMs and a final one at close', async () => {
    const { rec, clock, read, readChain, chain } = await newRecorder({ flushMs: 30, checkpointMs: 100 });
    const checkpoints = () => chain().filter((e): e is CheckpointEntry => e.t === 'checkpoint');
    rec.output(Buffer.from('before the checkpoint'));
    clock.advance(100);
    const [first] = await waitFor(() => checkpoints().length > 0 && checkpoints(), { message: 'the first checkpoint' });
    expect(first).toMatchObject({ body: { final: false, length: Buffer.byteLength(read()), entries: 1 }, key: key.fingerprint });
    clock.advance(100);
    await waitFor(() => checkpoints().length > 1, { message: 'the second checkpoint' });
    const result = await rec.close();
    // One per 100 ms the clock moved, then the final one: no more, no fewer.
    expect(checkpoints().map((c) => c.body.final)).toEqual([false, false, true]);
    const report = verifyChain({ file: Buffer.from(read()), chainText: readChain(), keys: new Map([[key.fingerprint, key.publicKey]]), expect: result });
    expect(report.problems).toEqual([]);
    expect(report.final).toBe(true);
    // close() is idempotent.
    expect(await rec.close()).toEqual(result);
  });

  it('applies back-pressure while the recording thread and disk are behind, and drains', async () => {
    const { rec, read, readChain } = await newRecorder({ flushBytes: 64 * 1024, highWater: 256 * 1024, flushMs: 60_000 });
    expect(rec.backlogged).toBe(false);
    // Control bytes: six bytes of JSON each, the recorder's worst case.
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
    const text = read();
    const out = parseCast(text).events.map((ev) => ev[2]).join('');
    expect(out.length).toBe(chunk.length * n);
    expect(out).toBe('\u0001'.repeat(chunk.length * n));
    expect(verifyChain({ file: Buffer.from(text), chainText: readChain(), keys: new Map([[key.fingerprint, key.publicKey]]), expect: result }).ok).toBe(true);
  });

  it('emits failed once when the disk is full, releases the relay and stops writing', async () => {
    const rel = `${randomUUID()}.cast`;
    const files = await store.create(rel);
    await files.cast.close();
    const clock = new ManualClock(START);
    const rec = new Recorder({
      cast: await open('/dev/full', 'w'), // every write fails with ENOSPC
      chain: files.chain,
      header: { width: 80, height: 24, title: 't', env: {}, airlock: {} },
      ids: { session: randomUUID(), recording: randomUUID() },
      key,
      clock,
      scheduler: clock,
      recordInput: false,
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
describe('CastWriter', () => {
  async function newWriter(behave: { cast?: Parameters<typeof instrument>[1]; chain?: Parameters<typeof instrument>[1]; flushBytes?: number } = {}) {
    const rel = `${randomUUID()}.cast`;
    const files = await store.create(rel);
    const cast = instrument(files.cast, behave.cast);
    const chain = instrument(files.chain, behave.chain);
    const progress: Array<{ raw: number; backlog: number; length: number }> = [];
    const failures: Error[] = [];
    const writer = new CastWriter(
      {
        cast: cast.handle,
        chain: chain.handle,
        header: { width: 80, height: 24, title: 't', env: {}, airlock: {} },
        startMs: START,
        ids: { session: randomUUID(), recording: randomUUID() },
        key,
        recordInput: false,
        flushBytes: behave.flushBytes ?? 4096,
      },
      { progress: (raw, backlog, length) => progress.push({ raw, backlog, length }), failed: (err) => failures.push(err) },
    );
    const read = () => readFileSync(join(dir, rel), 'utf8');
    const readChain = () => readFileSync(join(dir, rel + '.chain'), 'utf8');
    return { writer, cast, chain, progress, failures, read, readChain };
  }

  it('syncs both files at every checkpoint and closes each once', async () => {
    const { writer, cast, chain, read, readChain } = await newWriter();
    writer.output(START + 100, Buffer.from('hello'));
    await writer.checkpoint(START + 200);
    expect(cast.calls.datasync).toBe(1);
    expect(chain.calls.datasync).toBe(1);
    const result = await writer.close(START + 300);
    expect(cast.calls.datasync).toBe(2);
    expect(cast.calls.close).toBe(1);
    expect(chain.calls.close).toBe(1);
    expect(await writer.close(START + 400)).toEqual(result);
    expect(cast.calls.close).toBe(1);
    expect(verifyChain({ file: Buffer.from(read()), chainText: readChain(), keys: new Map([[key.fingerprint, key.publicKey]]), expect: result }).ok).toBe(true);
  });

  it('counts bytes as waiting for the disk until the slow disk has taken them', async () => {
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const { writer, chain, progress, read } = await newWriter({ cast: { held } });
    writer.output(START, Buffer.alloc(5000, 'z'));
    // Encoded at once, and past flushBytes: handed to the disk, not yet written.
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
    expect(progress.at(-1)).toEqual({ raw: 0, backlog: 0, length: Buffer.byteLength(read()) });
    await writer.close(START);
  });

  it('reports failed once on a write error and stops writing', async () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
    const { writer, cast, chain, failures, progress } = await newWriter({ cast: { fail: enospc } });
    for (let i = 0; i < 5; i++) writer.output(START, Buffer.alloc(5000, 'q')); // five flushes queued
    await writer.checkpoint(START);
    expect(failures).toEqual([enospc]);
    expect(progress.every((p) => p.length === 0)).toBe(true);
    expect(cast.calls.write).toBe(1);
    expect(chain.calls.write).toBe(0);
    // Later output and checkpoints write nothing; close still releases the files.
    writer.output(START, Buffer.alloc(10_000, 'r'));
    await writer.checkpoint(START);
    await writer.close(START);
    expect(failures).toHaveLength(1);
    expect(cast.calls.write).toBe(1);
    expect(cast.calls.datasync).toBe(0);
    expect(cast.calls.close).toBe(1);
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

  it('writes typed keys before their echo, at the time they were typed', async () => {
    const rel = `${randomUUID()}.cast`;
    const files = await store.create(rel);
    const writer = new CastWriter(
      { ...files, header: { width: 80, height: 24, title: 't', env: {}, airlock: {} }, startMs: START, ids: { session: 's', recording: 'r' }, key, recordInput: true, flushBytes: 1 << 20 },
      { progress: () => {}, failed: (err) => { throw err; } },
    );
    writer.output(START + 100, Buffer.from('$ '));
    writer.input(START + 1000, Buffer.from('l'));
    writer.output(START + 1020, Buffer.from('l'));
    // Typed faster than the echo comes back: a whole line and Enter, then one chunk of echo.
    writer.input(START + 2000, Buffer.from('s -la'));
    writer.input(START + 2001, Buffer.from('\r'));
    writer.output(START + 2030, Buffer.from('s -la\r\ntotal 0\r\n$ '));
    await writer.close(START + 3000);
    const events = parseCast(readFileSync(join(dir, rel), 'utf8')).events;
    expect(events).toEqual([
      [0.1, 'o', '$ '],
      [1, 'i', 'l'],
      [1.02, 'o', 'l'],
      [2, 'i', 's -la'],
      [2.001, 'i', '\r'],
      [2.03, 'o', 's -la\r\ntotal 0\r\n$ '],
    ]);
  });

  it('leaves NUL bytes out of the cast and says how many in a marker', async () => {
    const { writer, read } = await newWriter({ flushBytes: 1 << 20 });
    writer.output(START + 1000, Buffer.concat([Buffer.from('before'), Buffer.alloc(3_000_000), Buffer.from('after')]));
    await writer.close(START + 2000);
    const events = parseCast(read()).events;
    expect(events).toEqual([
      [1, 'o', 'beforeafter'],
      [1, 'm', '3000000 NUL bytes of output not recorded (a terminal shows nothing for them)'],
    ]);
  });
});
