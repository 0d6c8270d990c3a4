import { describe, it, expect } from 'vitest';
import { ByteSink, JsonTextEncoder } from '../../../recordings/cast-encoder.js';

/** What JSON.stringify puts between the quotes for the text these bytes decode to. */
function reference(chunks: Uint8Array[]): { content: string; nuls: number } {
  const decoder = new TextDecoder('utf-8');
  let text = '';
  for (const c of chunks) text += decoder.decode(c, { stream: true });
  text += decoder.decode();
  const nuls = text.split('\u0000').length - 1;
  const json = JSON.stringify(text.replaceAll('\u0000', ''));
  return { content: json.slice(1, -1), nuls };
}

function encode(chunks: Uint8Array[]): { content: string; nuls: number } {
  const enc = new JsonTextEncoder();
  const sink = new ByteSink();
  for (const c of chunks) enc.write(c, sink);
  enc.end(sink);
  return { content: sink.take().toString('utf8'), nuls: enc.takeNuls() };
}

/** A small seeded PRNG (mulberry32), so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Bytes that hit every branch: ASCII, controls, quotes, valid and broken UTF-8. */
function randomBytes(next: () => number, n: number): Uint8Array {
  const pieces = [
    () => [Math.floor(next() * 0x80)],
    () => [0],
    () => [0x22],
    () => [0x5c],
    () => [0x7f],
    () => [...Buffer.from('é')],
    () => [...Buffer.from('€')],
    () => [...Buffer.from('🦀')],
    () => [0xed, 0xa0, 0x80], // a surrogate: invalid
    () => [0xe0, 0x80, 0x80], // overlong: invalid
    () => [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF: invalid
    () => [0xc0 + Math.floor(next() * 0x40)],
    () => [0x80 + Math.floor(next() * 0x80)],
    () => [0xf0, 0x9f],
  ];
  const out: number[] = [];
  while (out.length < n) out.push(...(pieces[Math.floor(next() * pieces.length)] as () => number[])());
  return Uint8Array.from(out.slice(0, n));
}

function split(next: () => number, bytes: Uint8Array): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    const n = 1 + Math.floor(next() * 9);
    chunks.push(bytes.subarray(at, at + n));
    at += n;
  }
  return chunks;
}

describe('JsonTextEncoder', () => {
  it('matches TextDecoder + JSON.stringify on random bytes split anywhere (NULs left out and counted)', () => {
    for (let seed = 1; seed <= 400; seed++) {
      const next = rng(seed);
      const bytes = randomBytes(next, 1 + Math.floor(next() * 200));
      const chunks = split(next, bytes);
      expect(encode(chunks), `seed ${seed}`).toEqual(reference(chunks));
      expect(encode([bytes]), `seed ${seed}, one chunk`).toEqual(reference([bytes]));
    }
  });

  it('matches on every single byte value and uniformly random buffers', () => {
    for (let b = 0; b < 256; b++) expect(encode([Uint8Array.of(b)])).toEqual(reference([Uint8Array.of(b)]));
    const next = rng(99);
    for (let n = 0; n < 50; n++) {
      const bytes = Uint8Array.from({ length: 5000 }, () => Math.floor(next() * 256));
      expect(encode(split(next, bytes))).toEqual(reference([bytes]));
    }
  });

  it('escapes what JSON must escape and keeps the rest as it is', () => {
    const text = 'ls -l "a b" C:\\dir\ttab\r\n\x1b[1mbold\x1b[0m\x07 café 🦀 \x7f';
    const { content } = encode([Buffer.from(text)]);
    expect(JSON.parse(`"${content}"`)).toBe(text);
    expect(content).toBe(JSON.stringify(text).slice(1, -1));
  });

  it('leaves NULs out and counts them', () => {
    const enc = new JsonTextEncoder();
    const sink = new ByteSink();
    enc.write(Buffer.alloc(100_000), sink);
    enc.write(Buffer.from('a\0b'), sink);
    expect(sink.take().toString()).toBe('ab');
    expect(enc.takeNuls()).toBe(100_001);
    expect(enc.takeNuls()).toBe(0);
  });

  it('holds a sequence split across chunks until its last byte', () => {
    const enc = new JsonTextEncoder();
    const sink = new ByteSink();
    const crab = Buffer.from('🦀');
    enc.write(crab.subarray(0, 2), sink);
    expect(sink.len).toBe(0);
    enc.write(crab.subarray(2), sink);
    expect(sink.take().toString()).toBe('🦀');
    enc.write(crab.subarray(0, 3), sink);
    enc.end(sink);
    expect(sink.take().toString()).toBe('\ufffd');
  });

  it('handles large chunks in slices without overflowing the sink', () => {
    const bytes = Buffer.alloc(200_000, 0x01); // worst case: six bytes each
    const { content } = encode([bytes]);
    expect(content.length).toBe(1_200_000);
    expect(content.slice(0, 12)).toBe('\\u0001\\u0001');
  });
});
