import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { castFromFrames } from '../../../recordings/cast-export.js';
import { parseCast } from '../../../recordings/asciicast.js';
import { Frame, FRAME_HEADER, FrameParser, MAGIC, MAX_FRAME, parseHeader, putFrameHeader } from '../../../recordings/frame-format.js';
import type { ParsedFrame, RecordingHeader } from '../../../recordings/frame-format.js';
import { REDACTED } from '../../../recordings/redactor.js';
import { cut, frame } from './frame-helpers.js';

const HEADER: RecordingHeader = {
  format: 'airlock-recording',
  version: 1,
  start: Date.UTC(2026, 11, 2, 9),
  recording: 'r',
  session: 's',
  kind: 'exec',
  user: 'alice',
  target: 'db01',
  login: 'root',
  source: '192.0.2.7',
  cols: 80,
  rows: 24,
  term: 'dumb',
  command: 'cat',
  approval: null,
  title: 'alice@db01: cat',
};
const headerFrame = () => frame(Frame.Header, 0, Buffer.from(JSON.stringify(HEADER)));

function parseAll(chunks: Uint8Array[], start = 0): { frames: ParsedFrame[]; pending: number } {
  const p = new FrameParser(start);
  const frames: ParsedFrame[] = [];
  for (const c of chunks) p.push(c, (f) => void frames.push({ ...f, payload: Buffer.from(f.payload) }));
  return { frames, pending: p.pending };
}

const frameArb = fc.record({
  type: fc.integer({ min: 2, max: 12 }),
  time: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  payload: fc.uint8Array({ maxLength: 300 }),
});

describe('FrameParser', () => {
  it('reads back any frames, split anywhere, with their offsets', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 20 }), (frames, points) => {
        const file = Buffer.concat([MAGIC, ...frames.map((f) => frame(f.type, f.time, f.payload))]);
        const { frames: got, pending } = parseAll(cut(file, points));
        expect(pending).toBe(0);
        expect(got.map((f) => ({ type: f.type, time: f.time, payload: new Uint8Array(f.payload) }))).toEqual(frames);
        let offset = MAGIC.length;
        for (const [i, f] of got.entries()) {
          expect(f.offset).toBe(offset);
          offset += FRAME_HEADER + (frames[i]?.payload.length ?? 0);
          expect(f.next).toBe(offset);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('starts at a frame offset (replay from a keyframe) without the magic', () => {
    const a = frame(Frame.Output, 5, Buffer.from('one'));
    const b = frame(Frame.Input, 7, Buffer.from('two'));
    const { frames } = parseAll([b], MAGIC.length + a.length);
    expect(frames).toMatchObject([{ type: Frame.Input, time: 7, offset: MAGIC.length + a.length }]);
    expect(frames[0]?.payload.toString()).toBe('two');
  });

  it('holds a torn last frame (a crash) and reports it pending', () => {
    const whole = frame(Frame.Output, 1, Buffer.from('complete'));
    const torn = frame(Frame.Output, 2, Buffer.from('cut off here')).subarray(0, 14);
    const { frames, pending } = parseAll([Buffer.concat([MAGIC, whole, torn])]);
    expect(frames).toHaveLength(1);
    expect(pending).toBe(14);
  });

  it('refuses a file without the magic, and a frame claiming more than 16 MiB', () => {
    expect(() => parseAll([Buffer.from('{"version": 2, "width": 80}\n')])).toThrow(/does not start with its magic bytes/);
    const huge = Buffer.alloc(FRAME_HEADER);
    putFrameHeader(huge, 0, Frame.Output, 0, MAX_FRAME + 1);
    expect(() => parseAll([MAGIC, huge])).toThrow(`frame at offset 8 claims ${MAX_FRAME + 1} bytes (at most ${MAX_FRAME})`);
  });

  it('checks the header frame', () => {
    const [f] = parseAll([Buffer.concat([MAGIC, headerFrame()])]).frames;
    expect(parseHeader(f as ParsedFrame)).toEqual(HEADER);
    const [notJson] = parseAll([Buffer.concat([MAGIC, frame(Frame.Header, 0, Buffer.from('{'))])]).frames;
    expect(() => parseHeader(notJson as ParsedFrame)).toThrow('the header frame is not JSON');
    const [output] = parseAll([Buffer.concat([MAGIC, frame(Frame.Output, 0, Buffer.from('x'))])]).frames;
    expect(() => parseHeader(output as ParsedFrame)).toThrow('does not begin with a header frame');
    const [v2] = parseAll([Buffer.concat([MAGIC, frame(Frame.Header, 0, Buffer.from(JSON.stringify({ ...HEADER, version: 2 })))])]).frames;
    expect(() => parseHeader(v2 as ParsedFrame)).toThrow('not an airlock recording header of version 1');
  });
});

async function exportOf(file: Buffer, chunk = 7): Promise<ReturnType<typeof parseCast>> {
  const parts: Buffer[] = [];
  for (let i = 0; i < file.length; i += chunk) parts.push(file.subarray(i, i + chunk));
  const out: Buffer[] = [];
  for await (const b of castFromFrames(parts)) out.push(b);
  return parseCast(Buffer.concat(out).toString('utf8'));
}

describe('asciicast export', () => {
  it('shows output as a terminal would: UTF-8 decoded across frames, NULs counted', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 200 }), { minLength: 1, maxLength: 20 }), fc.integer({ min: 1, max: 64 }), async (chunks, readSize) => {
        const file = Buffer.concat([MAGIC, headerFrame(), ...chunks.map((c, i) => frame(Frame.Output, i * 10, c))]);
        const cast = await exportOf(file, readSize);
        const all = Buffer.concat(chunks);
        const text = new TextDecoder().decode(all);
        const out = cast.events.filter((e) => e[1] === 'o').map((e) => e[2]).join('');
        expect(out).toBe(text.replaceAll('\u0000', ''));
        const nuls = all.filter((b) => b === 0).length;
        const marker = cast.events.find((e) => e[1] === 'm' && e[2].includes('NUL'));
        if (nuls) expect(marker?.[2]).toMatch(new RegExp(`^${nuls} NUL byte`));
        else expect(marker).toBeUndefined();
      }),
      { numRuns: 200 },
    );
  });

  it('keeps the header, input, hidden keys, resizes, markers and stderr switches', async () => {
    const hidden = Buffer.alloc(4);
    hidden.writeUInt32BE(7);
    const file = Buffer.concat([
      MAGIC,
      headerFrame(),
      frame(Frame.Marker, 0, Buffer.from('exec: cat')),
      frame(Frame.Input, 100, Buffer.from('typed\n')),
      frame(Frame.Hidden, 200, hidden),
      frame(Frame.Output, 300, Buffer.from('out\n')),
      frame(Frame.Stderr, 400, Buffer.from('err\n')),
      frame(Frame.Resize, 500, Buffer.from([0, 120, 0, 40])),
      frame(99, 600, Buffer.from('a frame type of a later version')),
      frame(Frame.Output, 700, Buffer.from('back\n')),
    ]);
    const cast = await exportOf(file);
    expect(cast.header).toMatchObject({ version: 2, width: 80, height: 24, timestamp: HEADER.start / 1000, title: 'alice@db01: cat', airlock: { command: 'cat', kind: 'exec' } });
    expect(cast.events).toEqual([
      [0, 'm', 'exec: cat'],
      [0.1, 'i', 'typed\n'],
      [0.2, 'i', REDACTED],
      [0.3, 'o', 'out\n'],
      [0.4, 'm', 'stderr'],
      [0.4, 'o', 'err\n'],
      [0.5, 'r', '120x40'],
      [0.7, 'm', 'stdout'],
      [0.7, 'o', 'back\n'],
    ]);
  });

  it('says where a recording cut off by a crash ends', async () => {
    const file = Buffer.concat([MAGIC, headerFrame(), frame(Frame.Output, 100, Buffer.from('last words')), frame(Frame.Output, 200, Buffer.from('lost')).subarray(0, 12)]);
    const cast = await exportOf(file);
    expect(cast.events.at(-1)).toEqual([0.1, 'm', 'the recording ends in a torn frame (12 bytes): it was cut off, e.g. by a crash']);
  });
});
