import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { isAirlockError, resolveId, uuidRange } from '../../../core/index.js';
import { engines, openTestDb } from '../../helpers/db.js';
import type { TestDb } from '../../helpers/db.js';

describe('id prefixes', () => {
  it('turn into the range of UUIDs they cover', () => {
    expect(uuidRange('8f3a01c2')).toEqual({ lo: '8f3a01c2-0000-0000-0000-000000000000', hi: '8f3a01c2-ffff-ffff-ffff-ffffffffffff' });
    expect(uuidRange('8F3A01C2-9')).toEqual({ lo: '8f3a01c2-9000-0000-0000-000000000000', hi: '8f3a01c2-9fff-ffff-ffff-ffffffffffff' });
    const full = randomUUID();
    expect(uuidRange(full)).toEqual({ lo: full, hi: full });
  });

  it('refuse what is not the start of a UUID', () => {
    for (const bad of ['', 'xyz', '8f3a01c29', '8f3a-01c2', "8f3a'; DROP TABLE x; --", '8f3a01c2-1234-1234-1234-1234567890123', ' 8f3a']) {
      expect(uuidRange(bad), bad).toBeUndefined();
    }
  });
});

describe.each(engines)('resolveId on %s', (engine) => {
  let t: TestDb;
  const user = randomUUID();
  const other = randomUUID();
  const ids = ['8f3a0000-0000-4000-8000-000000000001', '8f3a0000-0000-4000-8000-000000000002', '7777aaaa-0000-4000-8000-000000000003'];
  beforeAll(async () => {
    t = await openTestDb(engine);
    for (const [id, u] of [[user, 'mine'], [other, 'theirs']] as const) {
      await t.db.query(`INSERT INTO users (id, name, role, password_hash, created_at, updated_at) VALUES ($1, $2, 'engineer', 'x', now(), now())`, [id, u]);
    }
    for (const [i, id] of ids.entries()) {
      await t.db.query(`INSERT INTO logins (id, user_id, created_at, expires_at) VALUES ($1, $2, now(), now())`, [id, i === 1 ? other : user]);
    }
  });
  afterAll(() => t?.close());

  const lookup = { table: 'logins' as const, noun: 'login' };
  const code = async (p: Promise<unknown>) => p.then(() => 'ok', (err: unknown) => (isAirlockError(err) ? err.code : String(err)));

  it('finds the one row a prefix names, whole ids too', async () => {
    expect(await resolveId(t.db, '7777', lookup)).toBe(ids[2]);
    expect(await resolveId(t.db, ids[0] as string, lookup)).toBe(ids[0]);
    expect(await resolveId(t.db, '8f3a0000-0000-4000-8000-00000000000', lookup).catch((e: Error) => e.message)).toMatch(/several logins/);
  });

  it('says ambiguous, not found or malformed', async () => {
    expect(await code(resolveId(t.db, '8f3a', lookup))).toBe('ERR_AMBIGUOUS_ID');
    expect(await code(resolveId(t.db, 'abcd', lookup))).toBe('ERR_NOT_FOUND');
    expect(await code(resolveId(t.db, '8f3', lookup))).toBe('ERR_INVALID_INPUT');
    expect(await code(resolveId(t.db, 'not-an-id', lookup))).toBe('ERR_INVALID_INPUT');
  });

  it('matches only rows the caller may see, so a prefix shared with someone else is not ambiguous and hides nothing', async () => {
    expect(await resolveId(t.db, '8f3a', { ...lookup, visible: { column: 'user_id', value: user } })).toBe(ids[0]);
    expect(await code(resolveId(t.db, '7777', { ...lookup, visible: { column: 'user_id', value: other } }))).toBe('ERR_NOT_FOUND');
  });
});
