import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../../core/clock.js';
import { canonicalJson } from '../../../core/canonical-json.js';
import { Recorder } from '../../../recordings/recorder.js';
import { FileRecordingStore, recordingPath } from '../../../recordings/store.js';
import { keyFingerprint } from '../../../recordings/keys.js';
import type { RecordingKey } from '../../../recordings/keys.js';
import { bufferSource, describeProblem, verifyChain } from '../../../recordings/integrity.js';
import type { ChainEntry, CheckpointEntry, RangeEntry, VerifyProblem } from '../../../recordings/integrity.js';
import { Frame } from '../../../recordings/frame-format.js';
import { bytesOf } from '../../helpers/frames.js';

function makeKey(): RecordingKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    kid: randomUUID(),
    privateKey,
    publicKey,
    fingerprint: keyFingerprint(publicKey),
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}

interface Built {
  file: Buffer;
  chainText: string;
  entries: ChainEntry[];
  ranges: RangeEntry[];
  checkpoints: CheckpointEntry[];
  result: { length: number; head: string; entries: number };
  outputs: string;
  ids: { session: string; recording: string };
}

/**
 * A real recording on real files: many small flushes (flushBytes 200), one
 * checkpoint in the middle and the final one at close.
 */
async function buildRecording(dir: string, key: RecordingKey): Promise<Built> {
  const store = new FileRecordingStore(join(dir, 'recordings'));
  const clock = new ManualClock(Date.UTC(2026, 2, 3, 10, 0, 0));
  const session = randomUUID();
  const rel = recordingPath(clock.now(), session, 1);
  const files = await store.create(rel);
  const recording = randomUUID();
  const rec = new Recorder({
    file: files.file,
    chain: files.chain,
    header: { recording, session, kind: 'terminal', user: 'alice', target: 'db01', login: 'root', source: '192.0.2.7', cols: 80, rows: 24, term: 'xterm', command: null, approval: null, title: 'alice@db01' },
    ids: { session, recording },
    key,
    clock,
    scheduler: clock,
    input: 'none',
    output: true,
    flushBytes: 200,
    flushMs: 60_000,
    checkpointMs: 60_000,
  });
  let outputs = '';
  for (let i = 0; i < 30; i++) {
    clock.advance(100);
    const line = `line ${i}: ${'x'.repeat(40 + (i % 7) * 9)}\r\n`;
    outputs += line;
    rec.output(Buffer.from(line));
    if (i === 14) {
      clock.advance(30_000);
      await rec.checkpoint(false);
    }
  }
  const result = await rec.close();
  const file = await store.read(rel);
  const chainText = await store.readChain(rel);
  const entries = chainText
    .split('\n')
    .filter((l) => l)
    .map((l) => JSON.parse(l) as ChainEntry);
  return {
    file,
    chainText,
    entries,
    ranges: entries.filter((e): e is RangeEntry => e.t === 'range'),
    checkpoints: entries.filter((e): e is CheckpointEntry => e.t === 'checkpoint'),
    result,
    outputs,
    ids: { session, recording },
  };
}

const linesOf = (text: string) => text.split('\n').filter((l) => l);
const joinLines = (lines: string[]) => lines.map((l) => l + '\n').join('');

describe('recording integrity chain', () => {
  let dir: string;
  let key: RecordingKey;
  let b: Built;
  let keys: Map<string, KeyObject>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'airlock-integrity-'));
    key = makeKey();
    keys = new Map([[key.fingerprint, key.publicKey]]);
    b = await buildRecording(dir, key);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  type Options = Omit<Parameters<typeof verifyChain>[0], 'source' | 'chainText' | 'keys'> & { file?: Buffer; chainText?: string; keys?: Map<string, KeyObject> };
  const verify = (o: Options = {}) =>
    verifyChain({ ...o, source: bufferSource(o.file ?? b.file), chainText: o.chainText ?? b.chainText, keys: o.keys ?? keys, ids: 'ids' in o ? o.ids : b.ids });

  const mid = () => b.checkpoints[0] as CheckpointEntry;

  it('writes many ranges that tile the file, a middle checkpoint and a final one', async () => {
    expect(b.ranges.length).toBeGreaterThan(10);
    let off = 0;
    b.ranges.forEach((r, i) => {
      expect(r.i).toBe(i);
      expect(r.off).toBe(off);
      off += r.len;
    });
    expect(off).toBe(b.file.length);
    expect(b.result).toEqual({ length: b.file.length, head: (b.ranges.at(-1) as RangeEntry).head, entries: b.ranges.length });
    expect(b.checkpoints).toHaveLength(2);
    expect(mid().body.final).toBe(false);
    expect(mid().body.length).toBeGreaterThan(0);
    expect(mid().body.length).toBeLessThan(b.file.length);
    expect(mid().key).toBe(key.fingerprint);
    const last = b.checkpoints[1] as CheckpointEntry;
    expect(last.body).toMatchObject({ final: true, length: b.file.length, head: b.result.head, entries: b.ranges.length });
    // The recording itself is what was written.
    expect(bytesOf(b.file, Frame.Output).toString()).toBe(b.outputs);
  });

  it('reports an untouched recording as intact', async () => {
    const r = await verify({ expect: { length: b.result.length, head: b.result.head } });
    expect(r.problems).toEqual([]);
    expect(r).toMatchObject({ ok: true, verifiedLength: b.file.length, fileLength: b.file.length, checkpoints: 2, final: true });
    expect(r.summary).toBe(`intact: ${b.file.length} bytes, signed`);
  });

  it('names the byte range of a flipped byte', async () => {
    const target = b.ranges[3] as RangeEntry;
    const file = Buffer.from(b.file);
    file[target.off + 7] = (file[target.off + 7] as number) ^ 0x01;
    const r = await verify({ file });
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([{ kind: 'range_changed', index: 3, offset: target.off, length: target.len }]);
    expect(r.summary).toContain(`bytes ${target.off}–${target.off + target.len - 1} (range #3) were changed`);
    // Range 3 lies before the middle checkpoint: nothing is intact past it.
    expect(target.off + target.len).toBeLessThanOrEqual(mid().body.length);
    expect(r.verifiedLength).toBeLessThanOrEqual(target.off);
    expect(r.summary).not.toMatch(new RegExp(`intact up to byte ${b.file.length}`));
  });

  it('still vouches for the bytes before a changed range that follows a checkpoint', async () => {
    const last = b.ranges.at(-2) as RangeEntry;
    expect(last.off).toBeGreaterThanOrEqual(mid().body.length);
    const file = Buffer.from(b.file);
    file[last.off] = (file[last.off] as number) ^ 0x20;
    const r = await verify({ file });
    expect(r.problems).toEqual([{ kind: 'range_changed', index: last.i, offset: last.off, length: last.len }]);
    expect(r.verifiedLength).toBe(mid().body.length);
    expect(r.summary).toBe(`bytes ${last.off}–${last.off + last.len - 1} (range #${last.i}) were changed (signed and intact up to byte ${mid().body.length})`);
  });

  it('detects a range deleted from the middle of the file', async () => {
    const gone = b.ranges[5] as RangeEntry;
    const file = Buffer.concat([b.file.subarray(0, gone.off), b.file.subarray(gone.off + gone.len)]);
    const r = await verify({ file });
    expect(r.ok).toBe(false);
    const kinds = r.problems.map((p) => p.kind);
    // The deleted range and everything after it no longer hash to the chain …
    expect(r.problems[0]).toEqual({ kind: 'range_changed', index: 5, offset: gone.off, length: gone.len });
    expect(kinds.filter((k) => k !== 'range_changed')).toEqual(['truncated']);
    // … and the chain runs past the end of the shortened file.
    const truncated = r.problems.find((p) => p.kind === 'truncated') as Extract<VerifyProblem, { kind: 'truncated' }>;
    expect(truncated.actual).toBe(b.file.length - gone.len);
    expect(truncated.expected).toBeGreaterThan(truncated.actual);
    // The file was not extended, and the recording did close cleanly.
    expect(kinds).not.toContain('extended');
    expect(kinds).not.toContain('not_final');
    expect(r.verifiedLength).toBeLessThanOrEqual(gone.off);
    expect(r.summary).toContain(`bytes ${gone.off}–${gone.off + gone.len - 1} (range #5) were changed`);
    expect(r.summary).toContain(`the file was truncated: the chain covers ${truncated.expected} bytes, the file has ${truncated.actual}`);
  });

  it('detects a truncated file, and only that', async () => {
    const cut = b.file.length - 10;
    const r = await verify({ file: b.file.subarray(0, cut) });
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([{ kind: 'truncated', expected: b.file.length, actual: cut }]);
    expect(r.verifiedLength).toBe(mid().body.length);
    expect(r.summary).toBe(`the file was truncated: the chain covers ${b.file.length} bytes, the file has ${cut} (signed and intact up to byte ${mid().body.length})`);
  });

  it('detects a file truncated at a range boundary', async () => {
    const at = (b.ranges[3] as RangeEntry).off;
    const r = await verify({ file: b.file.subarray(0, at) });
    expect(r.problems).toEqual([{ kind: 'truncated', expected: at + (b.ranges[3] as RangeEntry).len, actual: at }]);
  });

  it('detects appended bytes', async () => {
    const extra = Buffer.from([2, 0, 0, 0, 0, 9, 0, 0, 0, 8, 0x69, 0x6e, 0x6a, 0x65, 0x63, 0x74, 0x65, 0x64]); // an output frame
    const r = await verify({ file: Buffer.concat([b.file, extra]) });
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([{ kind: 'extended', expected: b.file.length, actual: b.file.length + extra.length, covered: b.file.length }]);
    expect(r.verifiedLength).toBe(b.file.length);
    expect(describeProblem(r.problems[0] as VerifyProblem)).toBe(`the file was extended: ${extra.length} bytes after offset ${b.file.length} are not in the chain`);
  });

  it('detects two swapped chain entries', async () => {
    const lines = linesOf(b.chainText);
    const a = lines.findIndex((l) => (JSON.parse(l) as ChainEntry).t === 'range' && (JSON.parse(l) as RangeEntry).i === 4);
    [lines[a], lines[a + 1]] = [lines[a + 1] as string, lines[a] as string];
    const r = await verify({ chainText: joinLines(lines) });
    expect(r.ok).toBe(false);
    const r5 = b.ranges[5] as RangeEntry;
    const r4 = b.ranges[4] as RangeEntry;
    expect(r.problems).toEqual([{ kind: 'chain_broken', index: 4, detail: `entry 4 is out of place (says #5 at offset ${r5.off}; expected offset ${r4.off})` }]);
    expect(r.summary).toContain(`the chain file was altered: entry 4 is out of place`);
  });

  it('detects swapped entries even when renumbered to look in place', async () => {
    const lines = linesOf(b.chainText);
    const a = lines.findIndex((l) => (JSON.parse(l) as ChainEntry).t === 'range' && (JSON.parse(l) as RangeEntry).i === 4);
    const e4 = JSON.parse(lines[a] as string) as RangeEntry;
    const e5 = JSON.parse(lines[a + 1] as string) as RangeEntry;
    lines[a] = JSON.stringify({ ...e5, i: 4, off: e4.off });
    lines[a + 1] = JSON.stringify({ ...e4, i: 5, off: e4.off + e5.len });
    const r = await verify({ chainText: joinLines(lines) });
    expect(r.ok).toBe(false);
    expect(r.problems).toContainEqual({ kind: 'chain_broken', index: 4, detail: `entry 4's head does not follow from the entry before it` });
  });

  it('detects an edited checkpoint body', async () => {
    const lines = linesOf(b.chainText);
    const n = lines.findIndex((l) => (JSON.parse(l) as ChainEntry).t === 'checkpoint');
    const cp = JSON.parse(lines[n] as string) as CheckpointEntry;
    lines[n] = JSON.stringify({ ...cp, body: { ...cp.body, time: '2026-03-03T09:00:00.000Z' } });
    const r = await verify({ chainText: joinLines(lines) });
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([{ kind: 'bad_signature', checkpoint: 0, detail: 'checkpoint at 2026-03-03T09:00:00.000Z does not verify with the recording key' }]);
    // The final checkpoint still vouches for everything.
    expect(r.checkpoints).toBe(1);
    expect(r.final).toBe(true);
  });

  it('detects a checkpoint re-signed to cover a different head', async () => {
    const lines = linesOf(b.chainText);
    const n = lines.findIndex((l) => (JSON.parse(l) as ChainEntry).t === 'checkpoint');
    const cp = JSON.parse(lines[n] as string) as CheckpointEntry;
    const body = { ...cp.body, head: 'ab'.repeat(32) };
    lines[n] = JSON.stringify({ ...cp, body, sig: sign(null, Buffer.from(canonicalJson(body)), key.privateKey).toString('base64') });
    const r = await verify({ chainText: joinLines(lines) });
    expect(r.problems).toEqual([
      { kind: 'bad_signature', checkpoint: 0, detail: `signed checkpoint at ${cp.body.time} (length ${cp.body.length}) does not match the chain` },
    ]);
  });

  it('detects checkpoints signed by another key', async () => {
    const other = makeKey();
    const lines = linesOf(b.chainText).map((l) => {
      const e = JSON.parse(l) as ChainEntry;
      if (e.t !== 'checkpoint') return l;
      return JSON.stringify({ ...e, key: other.fingerprint, sig: sign(null, Buffer.from(canonicalJson(e.body)), other.privateKey).toString('base64') });
    });
    const r = await verify({ chainText: joinLines(lines) });
    expect(r.ok).toBe(false);
    // Each checkpoint is named by its own position.
    expect(r.problems).toEqual([
      { kind: 'unknown_key', checkpoint: 0, key: other.fingerprint },
      { kind: 'unknown_key', checkpoint: 1, key: other.fingerprint },
      { kind: 'no_checkpoint' },
      { kind: 'not_final' },
    ]);
    expect(r.summary).toContain(`checkpoint 1 is signed by an unknown key ${other.fingerprint.slice(0, 16)}…`);
    expect(r.verifiedLength).toBe(0);
  });

  it('detects a checkpoint signed by another key under the recording key\'s name', async () => {
    const other = makeKey();
    const lines = linesOf(b.chainText);
    const n = lines.length - 1;
    const cp = JSON.parse(lines[n] as string) as CheckpointEntry;
    expect(cp.body.final).toBe(true);
    lines[n] = JSON.stringify({ ...cp, sig: sign(null, Buffer.from(canonicalJson(cp.body)), other.privateKey).toString('base64') });
    const r = await verify({ chainText: joinLines(lines) });
    expect(r.problems).toEqual([
      { kind: 'bad_signature', checkpoint: 1, detail: `checkpoint at ${cp.body.time} does not verify with the recording key` },
      { kind: 'not_final' },
    ]);
    expect(r.verifiedLength).toBe(mid().body.length);
  });

  it('requires the final checkpoint unless the recording may be unfinished', async () => {
    const lines = linesOf(b.chainText).slice(0, -1);
    const chainText = joinLines(lines);
    const r = await verify({ chainText });
    expect(r.problems).toEqual([{ kind: 'not_final' }]);
    expect(r.summary).toBe(`no final checkpoint (the recording did not close cleanly) (signed and intact up to byte ${mid().body.length})`);
    const u = await verify({ chainText, allowUnfinished: true });
    expect(u.problems).toEqual([]);
    expect(u.ok).toBe(true);
    expect(u).toMatchObject({ verifiedLength: mid().body.length, final: false, checkpoints: 1 });
    // It must not claim that every byte is signed.
    expect(u.summary).not.toBe(`intact: ${b.file.length} bytes, signed`);
    expect(u.summary).toContain(String(mid().body.length));
  });

  it('reports a chain with no checkpoint at all', async () => {
    const chainText = joinLines(linesOf(b.chainText).filter((l) => (JSON.parse(l) as ChainEntry).t === 'range'));
    const r = await verify({ chainText, allowUnfinished: true });
    expect(r.problems).toEqual([{ kind: 'no_checkpoint' }]);
    expect(r.summary).toBe('no signed checkpoint');
  });

  it('compares the end of the chain with what the database recorded', async () => {
    const good = await verify({ expect: { length: b.result.length, head: b.result.head } });
    expect(good.ok).toBe(true);
    const r = await verify({ expect: { length: b.result.length - 1, head: b.result.head } });
    expect(r.problems).toEqual([
      {
        kind: 'database_mismatch',
        detail: `the database recorded length ${b.result.length - 1} and head ${b.result.head.slice(0, 16)}…; the chain file ends at ${b.result.length}, ${b.result.head.slice(0, 16)}…`,
      },
    ]);
    const h = await verify({ expect: { length: b.result.length, head: 'cd'.repeat(32) } });
    expect(h.problems.map((p) => p.kind)).toEqual(['database_mismatch']);
    expect(describeProblem(h.problems[0] as VerifyProblem)).toContain('head cdcdcdcdcdcdcdcd…');
  });

  it('catches a consistent rewrite of file and chain through the database head', async () => {
    // Drop the last range from both files and the final checkpoint: a consistent, shorter recording …
    const lines = linesOf(b.chainText).slice(0, -2);
    const last = b.ranges.at(-1) as RangeEntry;
    const r = await verify({ file: b.file.subarray(0, last.off), chainText: joinLines(lines), allowUnfinished: true, expect: { length: b.result.length, head: b.result.head } });
    // … which only the database's record of the end gives away.
    expect(r.problems.map((p) => p.kind)).toEqual(['database_mismatch']);
  });

  it('tolerates a torn last checkpoint line after a crash and verifies up to the checkpoint before', async () => {
    const text = b.chainText;
    const lastLine = linesOf(text).at(-1) as string;
    const torn = text.slice(0, text.length - 1 - Math.floor(lastLine.length / 2)); // half the final checkpoint, no newline
    const r = await verify({ chainText: torn, allowUnfinished: true });
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.verifiedLength).toBe(mid().body.length);
    expect(r.fileLength).toBe(b.file.length);
    expect(r.final).toBe(false);
    // Without allowUnfinished it is a recording that did not close.
    expect((await verify({ chainText: torn })).problems).toEqual([{ kind: 'not_final' }]);
  });

  it('tolerates a torn last range line: verifies up to the last checkpoint, the tail is unsigned', async () => {
    // Crash between writing a flush to the .cast and its line to the .chain.
    const lines = linesOf(b.chainText).slice(0, -1); // no final checkpoint
    const tornLine = (lines.at(-1) as string).slice(0, 40);
    const chainText = joinLines(lines.slice(0, -1)) + tornLine;
    const r = await verify({ chainText, allowUnfinished: true });
    expect(r.problems).toEqual([]);
    expect(r).toMatchObject({ ok: true, verifiedLength: mid().body.length, fileLength: b.file.length, final: false, checkpoints: 1 });
    expect(r.summary).toContain(`signed and intact up to byte ${mid().body.length}`);
    expect(r.summary).toContain(`${b.file.length - mid().body.length} bytes after it are not covered by a signature`);
    expect(r.unsignedBytes).toBe(b.file.length - mid().body.length);
    expect((await verify({})).unsignedBytes).toBe(0);
    // A finished recording may not have bytes beyond its chain.
    expect((await verify({ chainText })).problems.map((p) => p.kind)).toEqual(['extended', 'not_final']);
    // A torn line anywhere but the end is damage.
    const inner = linesOf(b.chainText);
    inner[3] = (inner[3] as string).slice(0, 30);
    const d = await verify({ chainText: joinLines(inner) });
    expect(d.problems[0]).toMatchObject({ kind: 'chain_broken', index: 3, detail: 'line 4 of the chain file is not JSON' });
  });

  it('reports chain lines of the wrong form as a broken chain, never throws on them', async () => {
    const lines = linesOf(b.chainText);
    const range = JSON.parse(lines[2] as string) as Record<string, unknown>;
    const checkpoint = JSON.parse(lines.find((l) => l.includes('"checkpoint"')) as string) as Record<string, unknown>;
    const bad: Array<[unknown, string]> = [
      [null, 'not an object'],
      [[1, 2], 'not an object'],
      [42, 'not an object'],
      [{ t: 'other' }, 'neither a range nor a checkpoint'],
      [{ ...range, len: -5 }, 'a range whose index, offset or length is not a whole number'],
      [{ ...range, off: 1.5 }, 'a range whose index, offset or length is not a whole number'],
      [{ ...range, len: 2 ** 60 }, 'a range whose index, offset or length is not a whole number'],
      [{ ...range, head: 12 }, 'a range without its hashes'],
      [{ ...range, range: 'zz' }, 'a range without its hashes'],
      [{ ...checkpoint, sig: undefined }, 'a checkpoint without its key or signature'],
      [{ ...checkpoint, key: null }, 'a checkpoint without its key or signature'],
      [{ ...checkpoint, body: null }, 'a checkpoint without its body'],
      [{ ...checkpoint, body: { ...(checkpoint.body as object), length: -1 } }, 'a checkpoint whose length, entries or head is malformed'],
      [{ ...checkpoint, body: { ...(checkpoint.body as object), final: 'yes' } }, 'a checkpoint whose body is incomplete'],
    ];
    for (const [entry, why] of bad) {
      const damaged = [...lines];
      damaged[2] = JSON.stringify(entry);
      const r = await verify({ chainText: joinLines(damaged) });
      expect(r.ok, why).toBe(false);
      expect(r.problems[0], why).toEqual({ kind: 'chain_broken', index: 2, detail: `line 3 of the chain file is ${why}` });
    }
  });

  it("reports another recording's files copied over this one, though they verify as themselves", async () => {
    const other = await buildRecording(dir, key);
    // The other recording's file and chain are intact on their own …
    expect((await verify({ file: other.file, chainText: other.chainText, ids: other.ids })).ok).toBe(true);
    // … but put in this recording's place, every checkpoint names the wrong recording.
    const r = await verify({ file: other.file, chainText: other.chainText, allowUnfinished: true });
    expect(r.ok).toBe(false);
    expect(r.problems.map((p) => p.kind)).toEqual(['wrong_recording', 'wrong_recording', 'no_checkpoint']);
    expect(r.summary).toContain(`signed for recording ${other.ids.recording} of session ${other.ids.session}, not this one: the files were replaced`);
    expect(r.verifiedLength).toBe(0);
    // Without ids to compare (a file checked on its own) it is what it is.
    expect((await verify({ file: other.file, chainText: other.chainText, ids: undefined })).ok).toBe(true);
  });

  it('reports an open recording cut back to an earlier checkpoint than the database saw', async () => {
    // The database saw the final checkpoint of a recording still open (an interrupted one) …
    const final = b.checkpoints[1] as CheckpointEntry;
    const lastCheckpoint = { length: final.body.length, head: final.body.head };
    // … and file and chain are cut back, consistently, to the middle checkpoint.
    const lines = linesOf(b.chainText);
    const keep = lines.findIndex((l) => l === JSON.stringify(mid())) + 1;
    const cutChain = joinLines(lines.slice(0, keep));
    const cutFile = b.file.subarray(0, mid().body.length);
    const alone = await verify({ file: cutFile, chainText: cutChain, allowUnfinished: true });
    expect(alone.ok).toBe(true); // on its own, a consistent shorter recording
    const r = await verify({ file: cutFile, chainText: cutChain, allowUnfinished: true, lastCheckpoint });
    expect(r.problems).toEqual([{ kind: 'cut_back', expected: final.body.length, actual: mid().body.length }]);
    expect(r.summary).toContain(`the file was cut back: the database saw a signed checkpoint at byte ${final.body.length}, the file's checkpoints reach only byte ${mid().body.length}`);
    // The untouched recording passes the same check; so does one whose last seen checkpoint is the middle one.
    expect((await verify({ allowUnfinished: true, lastCheckpoint })).ok).toBe(true);
    expect((await verify({ file: cutFile, chainText: cutChain, allowUnfinished: true, lastCheckpoint: { length: mid().body.length, head: mid().body.head } })).ok).toBe(true);
    // A checkpoint at the same length with another head is a rewrite, not the recording the database saw.
    const rewritten = await verify({ allowUnfinished: true, lastCheckpoint: { length: final.body.length, head: 'ef'.repeat(32) } });
    expect(rewritten.problems.map((p) => p.kind)).toEqual(['cut_back']);
    expect(rewritten.summary).toContain(`the recording was rewritten: its signed checkpoint at byte ${final.body.length} is not the one the database saw there`);
  });
});
