import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { castFromFrames } from '../../../../recordings/cast-export.js';
import { analyseCast, analyseFrames } from '../../../../recordings/analysis/index.js';
import { completeLength, OutputBatch } from '../../../../recordings/analysis/output-batch.js';
import { Frame, MAGIC } from '../../../../recordings/frame-format.js';
import type { RecordingHeader } from '../../../../recordings/frame-format.js';
import { cut, frame } from '../frame-helpers.js';

/** Bytes that are hard on a decoder: multi-byte characters cut anywhere, invalid bytes, NULs, escapes. */
const piece = fc.oneof(
  fc.constantFrom('é', '→', '日本', '😀', 'données', '\x1b[1;31m', '\r\n', '\t', 'abc '),
  fc.constantFrom('\u0000', '\xff', '\xc3', '\xe2\x86', '\xf0\x9f', '\x80'),
);
const bytesArb = fc.array(piece, { maxLength: 40 }).map((ps) => Buffer.concat(ps.map((p) => (/[\x80-\xff]/.test(p) && !/[^\x00-\xff]/.test(p) ? Buffer.from(p, 'latin1') : Buffer.from(p, 'utf8')))));

const text = (x: Uint8Array | string) => (typeof x === 'string' ? x : new TextDecoder('utf-8', { fatal: true }).decode(x));

describe('OutputBatch', () => {
  it('gives what a stream decoder gives, however the bytes are split and taken', () => {
    fc.assert(
      fc.property(bytesArb, fc.array(fc.nat(), { maxLength: 12 }), fc.array(fc.boolean(), { maxLength: 12 }), (bytes, points, takes) => {
        const b = new OutputBatch();
        let out = '';
        cut(bytes, points).forEach((part, i) => {
          b.push(part, 0);
          if (takes[i] ?? true) out += text(b.take());
        });
        out += text(b.take()) + b.end();
        expect(out).toBe(new TextDecoder().decode(bytes).replaceAll('\u0000', ''));
      }),
      { numRuns: 500 },
    );
  });

  it('hands valid UTF-8 over as bytes, and decodes only what would show differently', () => {
    const b = new OutputBatch();
    b.push(Buffer.from('plain → text'), 0);
    expect(b.take()).toBeInstanceOf(Uint8Array);
    b.push(Buffer.from([0x61, 0x00, 0x62]), 0);
    expect(b.take()).toBe('ab');
    b.push(Buffer.from([0x61, 0xff]), 0);
    expect(b.take()).toBe('a\ufffd');
  });

  it('keeps a character cut between frames per stream, as the export decodes stdout and stderr apart', () => {
    const b = new OutputBatch();
    const arrow = Buffer.from('→');
    b.push(arrow.subarray(0, 1), 0);
    expect(text(b.take())).toBe('');
    b.push(Buffer.from('err'), 1);
    expect(text(b.take())).toBe('err');
    b.push(arrow.subarray(1), 0);
    expect(text(b.take())).toBe('→');
    expect(() => (b.push(Buffer.from('x'), 0), b.push(Buffer.from('y'), 1))).toThrow(/take\(\)/);
  });

  it('finds where a cut-short character begins', () => {
    expect(completeLength(Buffer.from('ab'))).toBe(2);
    expect(completeLength(Buffer.from('a→').subarray(0, 3))).toBe(1);
    expect(completeLength(Buffer.from('😀').subarray(0, 3))).toBe(0);
    expect(completeLength(Buffer.from('😀'))).toBe(4);
    expect(completeLength(Buffer.from([0x61, 0xff]))).toBe(2); // invalid, not waiting for more
    expect(completeLength(Buffer.from([0x80, 0x80, 0x80]))).toBe(3);
  });
});

const HEADER: RecordingHeader = {
  format: 'airlock-recording', version: 1, start: Date.UTC(2026, 11, 6), recording: 'r', session: 's', kind: 'terminal',
  user: 'alice', target: 'db01', login: 'root', source: '192.0.2.7', cols: 40, rows: 8, term: 'xterm', command: null, approval: null, title: 't',
};

describe('analysis of output as bytes', () => {
  it('shows the same screen as the exported text does, stdout and stderr, split anywhere', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ stderr: fc.boolean(), bytes: bytesArb }), { minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 97 }), async (outputs, readSize) => {
        const file = Buffer.concat([
          MAGIC,
          frame(Frame.Header, 0, Buffer.from(JSON.stringify(HEADER))),
          ...outputs.map((o, i) => frame(o.stderr ? Frame.Stderr : Frame.Output, i * 10, o.bytes)),
          // Both streams end in whole characters before the last keyframe: a character cut short at the very end is shown after it (the export's decoders flush at the end of the file).
          frame(Frame.Stderr, 90_000, Buffer.from('.')),
          frame(Frame.Output, 90_000, Buffer.from('.')),
          frame(Frame.Marker, 100_000, Buffer.from('end')),
        ]);
        const chunks = cut(file, Array.from({ length: Math.ceil(file.length / readSize) }, (_, i) => i * readSize));
        const cast: Buffer[] = [];
        for await (const c of castFromFrames(chunks)) cast.push(c);
        const options = { keyframeBytes: 1 };
        const [frames, exported] = await Promise.all([analyseFrames(chunks, options), analyseCast([Buffer.concat(cast)], options)]);
        expect(frames.keyframes.at(-1)?.screen).toBe(exported.keyframes.at(-1)?.screen);
      }),
      { numRuns: 150 },
    );
  });
});
