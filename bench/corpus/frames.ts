/**
 * Reading a stored recording the way recordings/FORMAT.md tells an outside
 * reader to: 8 magic bytes, then `type:u8 flags:u8 time:u32 length:u32 payload`
 * frames, big-endian. The corpus reads the stored file itself (not an export)
 * because what it checks is what is stored: hidden keys, secrets in clear,
 * sealed input. Written from the format page alone, on purpose: a reader that
 * shared airlock's parser would share its mistakes.
 */
export const MAGIC = Buffer.from([0x89, 0x41, 0x4c, 0x52, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The frame types of format version 1 (FORMAT.md "Frame types"); `sealed` holds an age file of hidden keys. */
export const FrameType = { header: 1, output: 2, stderr: 3, input: 4, resize: 5, marker: 6, hidden: 7, sealed: 8 } as const;
const KNOWN = new Set<number>(Object.values(FrameType));

export interface RawFrame {
  type: number;
  flags: number;
  /** ms since the recording started. */
  time: number;
  payload: Buffer;
  offset: number;
}

export class NotARecordingError extends Error {
  readonly code = 'ERR_CORPUS_NOT_A_RECORDING';
}

/** Every whole frame of the file, in order; a torn last frame is left out. */
export function* frames(file: Buffer): Generator<RawFrame> {
  if (file.length < MAGIC.length || !MAGIC.equals(file.subarray(0, MAGIC.length))) {
    throw new NotARecordingError('not an airlock recording (format 1): the file does not start with its magic bytes');
  }
  let off = MAGIC.length;
  while (off + 10 <= file.length) {
    const length = file.readUInt32BE(off + 6);
    if (off + 10 + length > file.length) return;
    yield { type: file[off] as number, flags: file[off + 1] as number, time: file.readUInt32BE(off + 2), payload: file.subarray(off + 10, off + 10 + length), offset: off };
    off += 10 + length;
  }
}

/** The header frame's JSON. */
export function recordingHeader(file: Buffer): Record<string, unknown> {
  const first = frames(file).next();
  if (first.done || first.value.type !== FrameType.header) throw new NotARecordingError('the recording does not begin with a header frame');
  return JSON.parse(first.value.payload.toString('utf8')) as Record<string, unknown>;
}

/**
 * The scenario a recording belongs to: the corpus target's forced command sets
 * the terminal title to "corpus <id>" before the shell starts (target.ts), so
 * the id is in the first output the target sent.
 */
export function scenarioOf(file: Buffer): string | undefined {
  const parts: Buffer[] = [];
  let seen = 0;
  for (const f of frames(file)) {
    if (f.type !== FrameType.output && f.type !== FrameType.stderr) continue;
    parts.push(f.payload);
    seen += f.payload.length;
    if (seen > 64 * 1024) break;
  }
  return /\x1b\]0;corpus ([a-z0-9-]+)\x07/.exec(Buffer.concat(parts).toString('latin1'))?.[1];
}

/** Enter as the redactor counts it (recordings/redactor.ts): CR, LF, or CR LF from a paste. */
const ENTER = /\r\n|\r|\n/g;

export interface HiddenByLine {
  /** Bytes of `hidden` frames on each typed line: line n is what was typed after the n-th Enter. */
  lines: number[];
  /** Enters in the stored input (to compare with the number the driver typed). */
  enters: number;
  /** Frame types this reader does not know (a later format version; reported, not guessed at). */
  unknownTypes: number[];
}

/**
 * Hidden typed bytes, attributed to the typed line they belong to. Typed keys
 * are stored in the order they were typed (FORMAT.md "Typed input on a
 * terminal"), with Enter always kept, so counting Enters in the input frames
 * tells which line a `hidden` frame is on.
 */
export function hiddenByLine(file: Buffer): HiddenByLine {
  const lines = [0];
  let enters = 0;
  const unknown = new Set<number>();
  for (const f of frames(file)) {
    if (!KNOWN.has(f.type)) unknown.add(f.type);
    if (f.type === FrameType.input) {
      const n = f.payload.toString('latin1').match(ENTER)?.length ?? 0;
      for (let i = 0; i < n; i++) lines.push(0);
      enters += n;
    } else if (f.type === FrameType.hidden && f.payload.length >= 4) {
      lines[lines.length - 1] = (lines[lines.length - 1] as number) + f.payload.readUInt32BE(0);
    }
  }
  return { lines, enters, unknownTypes: [...unknown].sort((a, b) => a - b) };
}

const AGE_BINARY = Buffer.from('age-encryption.org/v1\n');
const AGE_ARMOR = Buffer.from('-----BEGIN AGE ENCRYPTED FILE-----');

/**
 * age files (https://age-encryption.org/v1) carried inside frames other than
 * the target's output (which may show anything): `sealed` frames, or wherever
 * else a writer put one. Each runs from its header to the end of its frame.
 */
export function agePayloads(file: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (const f of frames(file)) {
    if (f.type === FrameType.output || f.type === FrameType.stderr) continue;
    for (const magic of [AGE_BINARY, AGE_ARMOR]) {
      const at = f.payload.indexOf(magic);
      if (at !== -1) out.push(f.payload.subarray(at));
    }
  }
  return out;
}
