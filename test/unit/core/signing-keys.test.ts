import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { ManualClock, SigningKeyStore, createVault, isAirlockError } from '../../../core/index.js';
import { engines, openTestDb } from '../../helpers/db.js';
import type { TestDb } from '../../helpers/db.js';

describe.each(engines)('the signing key store on %s', (engine) => {
  let t: TestDb;
  const clock = new ManualClock(Date.UTC(2026, 5, 1));
  const vault = createVault(randomBytes(32));
  let store: SigningKeyStore;
  beforeAll(async () => {
    t = await openTestDb(engine);
    store = new SigningKeyStore(t.db, vault, clock);
  });
  afterAll(() => t?.close());

  it('keeps one signing key per purpose; rotating retires the one before, which stays listed', async () => {
    await store.rotate('api-token', { kid: 'a1', alg: 'EdDSA', publicJwk: { x: 'one' }, privateText: '{"d":"secret-1"}' });
    clock.advance(1000);
    await store.rotate('api-token', { kid: 'a2', alg: 'EdDSA', publicJwk: { x: 'two' }, privateText: '{"d":"secret-2"}' });
    await store.rotate('recording', { kid: 'r1', alg: 'Ed25519', publicJwk: { x: 'rec' }, privateText: '-----BEGIN PRIVATE KEY-----' });
    const api = await store.list('api-token');
    expect(api.map((k) => [k.kid, k.privateText, k.retiredAt === null])).toEqual([
      ['a1', '{"d":"secret-1"}', false],
      ['a2', '{"d":"secret-2"}', true],
    ]);
    expect(api[0]?.retiredAt?.getTime()).toBe(clock.now().getTime());
    // Other purposes are untouched by a rotation.
    expect((await store.list('recording')).map((k) => [k.kid, k.retiredAt])).toEqual([['r1', null]]);
    expect(await store.list('ssh-user-ca')).toEqual([]);
  });

  it('seals private halves to their purpose: a key moved to another purpose does not open', async () => {
    const row = (await t.db.query<{ private_enc: string }>("SELECT private_enc FROM signing_keys WHERE kid = 'a2'")).rows[0] as { private_enc: string };
    expect(row.private_enc).not.toContain('secret-2');
    await t.db.query("UPDATE signing_keys SET purpose = 'ssh-user-ca' WHERE kid = 'a2'");
    await expect(store.list('ssh-user-ca')).rejects.toSatisfy((err: unknown) => isAirlockError(err, 'ERR_DECRYPT'));
  });
});
