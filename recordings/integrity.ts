import { createHash, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { canonicalJson } from '../core/pure.js';

/**
 * The integrity chain beside each recording (FILE.chain, JSON lines). A recording
 * is only ever appended to, in flushed byte ranges. For range i (offset, length):
 *
 *   range_i = SHA-256(bytes)
 *   head_i  = SHA-256(head_{i-1} || uint64be(offset) || uint64be(length) || range_i),  head_0 = 32 zero bytes
 *
 * and the chain file gets {"t":"range","i":i,"off":offset,"len":length,"range":hex,"head":hex}.
 * Every 30 s (configurable) and at close, a checkpoint is signed with the
 * recording key (Ed25519 over the canonical JSON of the checkpoint body):
 *
 *   {"t":"checkpoint","body":{"session":…,"recording":…,"length":…,"head":hex,"entries":n,"time":iso,"final":bool},
 *    "key":sha256-of-spki-hex,"sig":base64}
 *
 * Anyone with the public key can re-hash the file range by range, follow the heads,
 * and check the signatures: that is all `verify` does.
 */
export const ZERO_HEAD: Buffer = Buffer.alloc(32);

export interface RangeEntry {
  t: 'range';
  i: number;
  off: number;
  len: number;
  range: string;
  head: string;
}

export interface CheckpointBody {
  session: string;
  recording: string;
  length: number;
  head: string;
  entries: number;
  time: string;
  final: boolean;
}

export interface CheckpointEntry {
  t: 'checkpoint';
  body: CheckpointBody;
  key: string;
  sig: string;
}

export type ChainEntry = RangeEntry | CheckpointEntry;

export function nextHead(prev: Buffer, offset: number, length: number, rangeHash: Buffer): Buffer {
  const meta = Buffer.alloc(16);
  meta.writeBigUInt64BE(BigInt(offset), 0);
  meta.writeBigUInt64BE(BigInt(length), 8);
  return createHash('sha256').update(prev).update(meta).update(rangeHash).digest();
}

/** Keeps the running chain for one recording as ranges are flushed. */
export class Chain {
  head: Buffer = ZERO_HEAD;
  length = 0;
  entries = 0;

  add(data: Buffer): RangeEntry {
    const range = createHash('sha256').update(data).digest();
    this.head = nextHead(this.head, this.length, data.length, range);
    const entry: RangeEntry = { t: 'range', i: this.entries, off: this.length, len: data.length, range: range.toString('hex'), head: this.head.toString('hex') };
    this.length += data.length;
    this.entries++;
    return entry;
  }

  checkpoint(ids: { session: string; recording: string }, time: Date, final: boolean, key: { privateKey: KeyObject; fingerprint: string }): CheckpointEntry {
    const body: CheckpointBody = { ...ids, length: this.length, head: this.head.toString('hex'), entries: this.entries, time: time.toISOString(), final };
    return { t: 'checkpoint', body, key: key.fingerprint, sig: sign(null, Buffer.from(canonicalJson(body)), key.privateKey).toString('base64') };
  }
}

export type VerifyProblem =
  | { kind: 'range_changed'; index: number; offset: number; length: number }
  | { kind: 'truncated'; expected: number; actual: number }
  | { kind: 'extended'; expected: number; actual: number; covered: number }
  | { kind: 'chain_broken'; index: number; detail: string }
  | { kind: 'bad_signature'; checkpoint: number; detail: string }
  | { kind: 'unknown_key'; checkpoint: number; key: string }
  | { kind: 'no_checkpoint' }
  | { kind: 'not_final' }
  | { kind: 'database_mismatch'; detail: string }
  | { kind: 'wrong_recording'; checkpoint: number; detail: string }
  | { kind: 'cut_back'; expected: number; actual: number }
  | { kind: 'unreadable'; detail: string };

export interface VerifyReport {
  ok: boolean;
  /** Bytes covered by the last valid signed checkpoint. */
  verifiedLength: number;
  fileLength: number;
  checkpoints: number;
  final: boolean;
  problems: VerifyProblem[];
  /**
   * Bytes of the file after verifiedLength: no signature vouches for them. 0 for a
   * recording closed cleanly; after a crash, what was written since the last
   * checkpoint (shown in every report and export, never silently counted as signed).
   */
  unsignedBytes: number;
  summary: string;
}

const HEX64 = /^[0-9a-f]{64}$/;
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Why a parsed chain line is not an entry of the chain's form, or undefined when it is one. */
function malformed(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return 'not an object';
  const o = e as Record<string, unknown>;
  if (o.t === 'range') {
    if (!isCount(o.i) || !isCount(o.off) || !isCount(o.len)) return 'a range whose index, offset or length is not a whole number';
    if (typeof o.range !== 'string' || !HEX64.test(o.range) || typeof o.head !== 'string' || !HEX64.test(o.head)) return 'a range without its hashes';
    return undefined;
  }
  if (o.t === 'checkpoint') {
    const b = o.body as Record<string, unknown> | null;
    if (typeof b !== 'object' || b === null) return 'a checkpoint without its body';
    if (typeof b.session !== 'string' || typeof b.recording !== 'string' || typeof b.time !== 'string' || typeof b.final !== 'boolean') return 'a checkpoint whose body is incomplete';
    if (!isCount(b.length) || !isCount(b.entries) || typeof b.head !== 'string' || !HEX64.test(b.head)) return 'a checkpoint whose length, entries or head is malformed';
    if (typeof o.key !== 'string' || typeof o.sig !== 'string') return 'a checkpoint without its key or signature';
    return undefined;
  }
  return 'neither a range nor a checkpoint';
}

/** The recording's bytes, read a range at a time (never the whole file at once). */
export interface RangeSource {
  size: number;
  read(offset: number, length: number): Promise<Buffer>;
}

export function bufferSource(file: Buffer): RangeSource {
  return { size: file.length, read: async (offset, length) => file.subarray(offset, offset + length) };
}

/**
 * Verifies a recording against its chain file and the recording public keys
 * (by fingerprint). `expect` is what the database recorded at close, if any;
 * `ids`, the recording and session the checkpoints must be signed for (another
 * recording's files copied over this one verify as themselves, not as this);
 * `lastCheckpoint`, the last signed checkpoint the database saw on disk while
 * the recording was open (a file cut back to an earlier checkpoint falls short).
 */
export async function verifyChain(options: {
  source: RangeSource;
  chainText: string;
  keys: Map<string, KeyObject>;
  expect?: { length: number; head: string } | undefined;
  ids?: { recording: string; session: string } | undefined;
  lastCheckpoint?: { length: number; head: string } | undefined;
  /** An interrupted recording has no final checkpoint; that alone is not a problem. */
  allowUnfinished?: boolean;
}): Promise<VerifyReport> {
  const fileLength = options.source.size;
  const problems: VerifyProblem[] = [];
  const entries: ChainEntry[] = [];
  const lines = options.chainText.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n] as string;
    if (!line.trim()) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      // A torn last line after a crash is expected; anything earlier is damage.
      if (n < lines.length - 2) problems.push({ kind: 'chain_broken', index: n, detail: `line ${n + 1} of the chain file is not JSON` });
      continue;
    }
    const why = malformed(parsed);
    if (why) {
      // Nothing after a line of the wrong form can be trusted to be in place.
      problems.push({ kind: 'chain_broken', index: n, detail: `line ${n + 1} of the chain file is ${why}` });
      break;
    }
    entries.push(parsed as ChainEntry);
  }
  let head: Buffer = ZERO_HEAD;
  let offset = 0;
  let index = 0;
  let checkpoints = 0;
  let verifiedLength = 0;
  let final = false;
  // The walk stops at a truncation or a broken chain: what lies after it is unknown, not missing.
  let stopped = false;
  // Offset of the first changed range: no checkpoint vouches for bytes past it.
  let firstDamage = Number.POSITIVE_INFINITY;
  let seen = 0; // checkpoints in the file, valid or not, to name them by position
  const headAt = new Map<number, string>(); // entries count → head after them
  headAt.set(0, ZERO_HEAD.toString('hex'));
  const signedAt = new Map<number, string>(); // length of a valid checkpoint → its head
  for (const e of entries) {
    if (e.t === 'range') {
      if (e.i !== index || e.off !== offset) {
        problems.push({ kind: 'chain_broken', index, detail: `entry ${index} is out of place (says #${e.i} at offset ${e.off}; expected offset ${offset})` });
        stopped = true;
        break;
      }
      if (offset + e.len > fileLength) {
        problems.push({ kind: 'truncated', expected: offset + e.len, actual: fileLength });
        stopped = true;
        break;
      }
      const range = await hashRange(options.source, offset, e.len);
      if (range.toString('hex') !== e.range) {
        problems.push({ kind: 'range_changed', index, offset, length: e.len });
        firstDamage = Math.min(firstDamage, offset);
      }
      const expectedHead = nextHead(head, offset, e.len, Buffer.from(e.range, 'hex'));
      if (expectedHead.toString('hex') !== e.head) {
        problems.push({ kind: 'chain_broken', index, detail: `entry ${index}'s head does not follow from the entry before it` });
        stopped = true;
        break;
      }
      head = expectedHead;
      offset += e.len;
      index++;
      headAt.set(index, e.head);
    } else if (e.t === 'checkpoint') {
      const position = seen++;
      const key = options.keys.get(e.key);
      if (!key) {
        problems.push({ kind: 'unknown_key', checkpoint: position, key: e.key });
        continue;
      }
      if (!verify(null, Buffer.from(canonicalJson(e.body)), key, Buffer.from(e.sig, 'base64'))) {
        problems.push({ kind: 'bad_signature', checkpoint: position, detail: `checkpoint at ${e.body.time} does not verify with the recording key` });
        continue;
      }
      if (headAt.get(e.body.entries) !== e.body.head || e.body.length > offset) {
        problems.push({ kind: 'bad_signature', checkpoint: position, detail: `signed checkpoint at ${e.body.time} (length ${e.body.length}) does not match the chain` });
        continue;
      }
      if (options.ids && (e.body.recording !== options.ids.recording || e.body.session !== options.ids.session)) {
        problems.push({
          kind: 'wrong_recording',
          checkpoint: position,
          detail: `checkpoint ${position} is signed for recording ${e.body.recording} of session ${e.body.session}, not this one: the files were replaced`,
        });
        continue;
      }
      checkpoints++;
      if (e.body.length <= firstDamage) verifiedLength = e.body.length;
      signedAt.set(e.body.length, e.body.head);
      final = e.body.final;
    }
  }
  // After a crash the file may hold a last range whose chain entry was never written.
  if (!stopped && offset < fileLength && !options.allowUnfinished) problems.push({ kind: 'extended', expected: offset, actual: fileLength, covered: offset });
  const last = options.lastCheckpoint;
  if (last && !stopped && (Math.max(0, ...signedAt.keys()) < last.length || (signedAt.has(last.length) && signedAt.get(last.length) !== last.head))) {
    problems.push({ kind: 'cut_back', expected: last.length, actual: Math.max(0, ...signedAt.keys()) });
  }
  if (checkpoints === 0 && !stopped && !problems.some((p) => p.kind === 'chain_broken')) problems.push({ kind: 'no_checkpoint' });
  if (!final && !stopped && !options.allowUnfinished) problems.push({ kind: 'not_final' });
  if (options.expect && !stopped) {
    if (options.expect.length !== offset || options.expect.head !== head.toString('hex')) {
      problems.push({ kind: 'database_mismatch', detail: `the database recorded length ${options.expect.length} and head ${options.expect.head.slice(0, 16)}…; the chain file ends at ${offset}, ${head.toString('hex').slice(0, 16)}…` });
    }
  }
  const ok = problems.length === 0;
  const unsignedBytes = Math.max(0, fileLength - verifiedLength);
  let summary = summarize(ok, problems, verifiedLength, fileLength);
  if (ok && !final) {
    summary = `interrupted: signed and intact up to byte ${verifiedLength} (last checkpoint); ${unsignedBytes} bytes after it are not covered by a signature`;
  }
  return { ok, verifiedLength, fileLength, checkpoints, final, problems, unsignedBytes, summary };
}

/** SHA-256 of a range, read in pieces: a 300 MB range is never one buffer. */
async function hashRange(source: RangeSource, offset: number, length: number): Promise<Buffer> {
  const hash = createHash('sha256');
  for (let at = 0; at < length; at += READ_PIECE) hash.update(await source.read(offset + at, Math.min(READ_PIECE, length - at)));
  return hash.digest();
}

const READ_PIECE = 4 * 1024 * 1024;

export function describeProblem(p: VerifyProblem): string {
  switch (p.kind) {
    case 'range_changed':
      return `bytes ${p.offset}–${p.offset + p.length - 1} (range #${p.index}) were changed`;
    case 'truncated':
      return `the file was truncated: the chain covers ${p.expected} bytes, the file has ${p.actual}`;
    case 'extended':
      return `the file was extended: ${p.actual - p.expected} bytes after offset ${p.expected} are not in the chain`;
    case 'chain_broken':
      return `the chain file was altered: ${p.detail}`;
    case 'bad_signature':
      return p.detail;
    case 'unknown_key':
      return `checkpoint ${p.checkpoint} is signed by an unknown key ${p.key.slice(0, 16)}…`;
    case 'no_checkpoint':
      return 'no signed checkpoint';
    case 'not_final':
      return 'no final checkpoint (the recording did not close cleanly)';
    case 'database_mismatch':
      return p.detail;
    case 'wrong_recording':
      return p.detail;
    case 'cut_back':
      if (p.actual >= p.expected) return `the recording was rewritten: its signed checkpoint at byte ${p.expected} is not the one the database saw there`;
      return `the file was cut back: the database saw a signed checkpoint at byte ${p.expected}, the file's checkpoints reach only byte ${p.actual}`;
    case 'unreadable':
      return p.detail;
  }
}

function summarize(ok: boolean, problems: VerifyProblem[], verified: number, length: number): string {
  if (ok) return `intact: ${length} bytes, signed`;
  return problems.map(describeProblem).join('; ') + (verified ? ` (signed and intact up to byte ${verified})` : '');
}
