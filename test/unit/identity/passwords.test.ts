import { describe, it, expect } from 'vitest';
import { generatePassword, hashPassword, verifyPassword, MAX_PASSWORD_LENGTH } from '../../../identity/passwords.js';

/** scrypt password hashes ("scrypt$logN$r$p$salt$hash") and generated passwords. */
const ALPHABET = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';

describe('password hashing', () => {
  it('verifies the right password and refuses others', async () => {
    const hash = await hashPassword('correct-horse-battery');
    expect(hash).toMatch(/^scrypt\$15\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(hash).not.toContain('correct-horse-battery');
    expect(await verifyPassword('correct-horse-battery', hash)).toBe(true);
    for (const wrong of ['correct-horse-batterY', 'correct-horse-battery ', 'correct-horse-batter', '', 'x'.repeat(MAX_PASSWORD_LENGTH)]) {
      expect(await verifyPassword(wrong, hash)).toBe(false);
    }
  });

  it('salts every hash', async () => {
    const [a, b] = await Promise.all([hashPassword('same-password-twice'), hashPassword('same-password-twice')]);
    expect(a).not.toBe(b);
    expect(await verifyPassword('same-password-twice', a)).toBe(true);
    expect(await verifyPassword('same-password-twice', b)).toBe(true);
  });

  it('treats canonically equal Unicode spellings as one password', async () => {
    const composed = 'caf\u00e9-au-lait-!'; // é as one code point
    const decomposed = 'cafe\u0301-au-lait-!'; // e + combining acute
    expect(await verifyPassword(decomposed, await hashPassword(composed))).toBe(true);
    expect(await verifyPassword('cafe-au-lait-!', await hashPassword(composed))).toBe(false);
  });

  it('verifies a hash stored with other (older) parameters', async () => {
    // Same scheme with logN 14: the stored parameters are used, not the current ones.
    const current = await hashPassword('parameters-travel');
    const parts = current.split('$');
    const { scrypt } = await import('node:crypto');
    const salt = Buffer.from(parts[4] as string, 'base64url');
    const key = await new Promise<Buffer>((res, rej) =>
      scrypt('parameters-travel', salt, 32, { N: 2 ** 14, r: 8, p: 1 }, (err, k) => (err ? rej(err) : res(k))),
    );
    const older = `scrypt$14$8$1$${parts[4]}$${key.toString('base64url')}`;
    expect(await verifyPassword('parameters-travel', older)).toBe(true);
    expect(await verifyPassword('parameters-travel', older.replace('$14$', '$15$'))).toBe(false);
  });

  it('returns false, never throws, for malformed stored hashes', async () => {
    const good = await hashPassword('a-fine-password');
    const [, , , , salt, key] = good.split('$') as string[];
    const malformed = [
      '',
      'not a hash',
      '$2b$12$abcdefghijklmnopqrstuuAbCdEfGhIjKlMnOpQrStUvWxYz01234', // bcrypt
      `argon2$15$8$1$${salt}$${key}`,
      `scrypt$15$8$1$${salt}`, // too few parts
      `scrypt$15$8$1$${salt}$${key}$extra`,
      `scrypt$x$8$1$${salt}$${key}`,
      `scrypt$15$8$$${salt}$${key}`,
      `scrypt$9$8$1$${salt}$${key}`, // logN below the floor
      `scrypt$21$8$1$${salt}$${key}`, // logN above the ceiling (memory bomb)
      `scrypt$15$0$1$${salt}$${key}`,
      `scrypt$15$33$1$${salt}$${key}`,
      `scrypt$15$8$17$${salt}$${key}`,
      `scrypt$15.5$8$1$${salt}$${key}`, // not an integer
      `scrypt$15$8.5$1$${salt}$${key}`,
      `scrypt$15$8$1.5$${salt}$${key}`,
      `scrypt$1e1$8$1$${salt}$${key}`,
      `scrypt$15$8$1$${salt}$`, // empty hash
      `scrypt$15$8$1$${salt}$${key?.slice(0, 20)}`, // truncated hash
      `scrypt$15$8$1$$${key}`, // empty salt
    ];
    for (const stored of malformed) {
      await expect(verifyPassword('a-fine-password', stored), stored).resolves.toBe(false);
    }
  });
});

describe('generatePassword', () => {
  it('makes 20 characters from the unambiguous alphabet by default', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const p = generatePassword();
      expect(p).toHaveLength(20);
      expect(p).toMatch(/^[a-km-zA-HJ-NP-Z2-9]+$/);
      for (const c of p) seen.add(c);
      expect(p).not.toMatch(/[lIO01]/);
    }
    // 4,000 characters drawn: every letter of the alphabet appears, and nothing else.
    expect([...seen].sort().join('')).toBe([...ALPHABET].sort().join(''));
  });

  it('honours the length and never repeats', () => {
    for (const n of [1, 12, 64, 300]) expect(generatePassword(n)).toHaveLength(n);
    const many = new Set(Array.from({ length: 1000 }, () => generatePassword()));
    expect(many.size).toBe(1000);
  });

  it('draws characters evenly (no modulo bias)', () => {
    const counts = new Map<string, number>();
    const total = 57 * 2000;
    const text = generatePassword(total);
    for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
    // Expected 2000 each; a biased draw (256 % 57 = 28 characters favoured) gives ~2.2k vs ~1.8k.
    for (const c of ALPHABET) expect(counts.get(c)).toBeGreaterThan(1780);
    for (const c of ALPHABET) expect(counts.get(c)).toBeLessThan(2220);
  });
});
