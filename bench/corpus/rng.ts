import { createHash } from 'node:crypto';

/**
 * Seeded randomness for the corpus: human typing jitter and the choice of
 * typing errors come from here, so a failing session can be typed again key for
 * key with the same seed (printed by every run). Each scenario draws from its
 * own stream, derived from the run's seed and the scenario's id, so the order in
 * which concurrent sessions happen to run changes nothing.
 *
 * The generator is sfc32 (Chris Doty-Humphrey's small fast counter, from
 * PractRand): four 32-bit words of state, seeded from SHA-256.
 */
export interface Rng {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
}

export function rngFor(seed: number, stream: string): Rng {
  const h = createHash('sha256').update(`${seed}:${stream}`).digest();
  let a = h.readUInt32LE(0);
  let b = h.readUInt32LE(4);
  let c = h.readUInt32LE(8);
  let d = h.readUInt32LE(12);
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next(); // mix the seed in
  return { next, int: (min, max) => min + Math.floor(next() * (max - min + 1)) };
}

/** A seed for a run: from the environment's CORPUS_SEED when set (to repeat a run), else random. */
export function runSeed(fromEnv: string | undefined): number {
  if (fromEnv !== undefined && fromEnv !== '') {
    const n = Number(fromEnv);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`CORPUS_SEED must be a non-negative integer (got ${fromEnv})`);
    return n;
  }
  return Math.floor(Math.random() * 2 ** 31);
}
