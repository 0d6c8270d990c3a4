import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { loadConfig } from '../../../core/config.js';
import { AirlockError } from '../../../core/errors.js';
import { checkMasterKey, createVault, loadMasterKey, parseMasterKey } from '../../../core/vault.js';
import { engines, openTestDb } from '../../helpers/db.js';
import type { TestDb } from '../../helpers/db.js';

/** Secrets at rest: AES-256-GCM under the master key, bound to a context string. */
function thrown(fn: () => unknown): AirlockError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AirlockError);
    return err as AirlockError;
  }
  throw new Error('expected an error');
}

const key = randomBytes(32);
const vault = createVault(key);

describe('vault', () => {
  it('round-trips text and bytes, with a fresh nonce each time', () => {
    const sealed = vault.encrypt('JBSWY3DPEHPK3PXP', 'airlock:totp:u1');
    expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain('JBSWY3DPEHPK3PXP');
    expect(vault.decrypt(sealed, 'airlock:totp:u1').toString('utf8')).toBe('JBSWY3DPEHPK3PXP');
    expect(vault.encrypt('JBSWY3DPEHPK3PXP', 'airlock:totp:u1')).not.toBe(sealed);

    const bytes = randomBytes(1000);
    expect(vault.decrypt(vault.encrypt(bytes, 'ctx'), 'ctx').equals(bytes)).toBe(true);
    expect(vault.decrypt(vault.encrypt('', 'ctx'), 'ctx').length).toBe(0);
    expect(vault.decrypt(vault.encrypt('pässwörd ✓', 'ctx'), 'ctx').toString('utf8')).toBe('pässwörd ✓');
  });

  it('refuses another context (a value moved to another field)', () => {
    const sealed = vault.encrypt('seed', 'airlock:totp:u1');
    for (const ctx of ['airlock:totp:u2', 'airlock:target-password:u1', '', 'airlock:totp:u1 ']) {
      expect(thrown(() => vault.decrypt(sealed, ctx)).code).toBe('ERR_DECRYPT');
    }
  });

  it('refuses another key, keeping the cause', () => {
    const sealed = vault.encrypt('seed', 'ctx');
    const err = thrown(() => createVault(randomBytes(32)).decrypt(sealed, 'ctx'));
    expect(err.code).toBe('ERR_DECRYPT');
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('refuses any changed byte, truncation, or an unknown format', () => {
    const sealed = vault.encrypt('a target password', 'ctx');
    const raw = Buffer.from(sealed.slice(3), 'base64url');
    // nonce (0–11), tag (12–27), ciphertext (28–)
    for (const i of [0, 11, 12, 27, 28, raw.length - 1]) {
      const bad = Buffer.from(raw);
      bad[i] = (bad[i] as number) ^ 0x01;
      expect(thrown(() => vault.decrypt('v1.' + bad.toString('base64url'), 'ctx')).code).toBe('ERR_DECRYPT');
    }
    for (const bad of [raw.subarray(0, raw.length - 1), raw.subarray(0, 28), raw.subarray(0, 27), Buffer.alloc(0)]) {
      expect(thrown(() => vault.decrypt('v1.' + bad.toString('base64url'), 'ctx')).code).toBe('ERR_DECRYPT');
    }
    expect(thrown(() => vault.decrypt(Buffer.concat([raw, Buffer.from([0])]).toString('base64url'), 'ctx')).code).toBe('ERR_DECRYPT');
    expect(thrown(() => vault.decrypt('v2.' + raw.toString('base64url'), 'ctx')).code).toBe('ERR_DECRYPT');
    expect(thrown(() => vault.decrypt('', 'ctx')).code).toBe('ERR_DECRYPT');
  });

  it('takes only 32-byte keys, and shows a fingerprint, never the key', () => {
    for (const n of [0, 16, 31, 33, 64]) expect(thrown(() => createVault(randomBytes(n))).code).toBe('ERR_MASTER_KEY');
    expect(vault.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(vault.fingerprint).toBe(createVault(Buffer.from(key)).fingerprint);
    expect(vault.fingerprint).not.toBe(createVault(randomBytes(32)).fingerprint);
    expect(vault.fingerprint).not.toContain(key.toString('base64').slice(0, 12));
  });
});

describe('parseMasterKey', () => {
  it('accepts 32 bytes as hex or base64, with surrounding white space', () => {
    expect(parseMasterKey(key.toString('hex'), 'masterKey').equals(key)).toBe(true);
    expect(parseMasterKey(key.toString('hex').toUpperCase(), 'masterKey').equals(key)).toBe(true);
    expect(parseMasterKey(key.toString('base64'), 'masterKey').equals(key)).toBe(true);
    expect(parseMasterKey(`  ${key.toString('base64')}\n`, 'masterKeyFile').equals(key)).toBe(true);
  });

  it.each([
    ['too short (hex)', randomBytes(31).toString('hex')],
    ['too long (hex)', randomBytes(33).toString('hex')],
    ['too short (base64)', randomBytes(16).toString('base64')],
    ['too long (base64)', randomBytes(48).toString('base64')],
    ['empty', ''],
    ['a passphrase', 'correct horse battery staple'],
  ])('refuses a key that is %s, naming the setting and not the value', (_, text) => {
    const err = thrown(() => parseMasterKey(text, 'AIRLOCK_MASTER_KEY'));
    expect(err.code).toBe('ERR_CONFIG_INVALID');
    expect(err.message).toContain('AIRLOCK_MASTER_KEY');
    expect(err.message).toContain('32 bytes');
    if (text.length > 8) expect(err.message).not.toContain(text.trim().slice(0, 8));
  });
});

describe('loadMasterKey', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'airlock-vault-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const config = (overrides: Record<string, unknown> = {}) => loadConfig({ env: {}, overrides: { dataDir: join(dir, 'data'), ...overrides } });

  it('prefers masterKey, then masterKeyFile, and names the setting that is wrong', () => {
    const file = join(dir, 'key');
    writeFileSync(file, key.toString('base64') + '\n', { mode: 0o600 });
    expect(loadMasterKey(config({ masterKeyFile: file })).key.equals(key)).toBe(true);
    const other = randomBytes(32);
    expect(loadMasterKey(config({ masterKey: other.toString('hex'), masterKeyFile: file })).key.equals(other)).toBe(true);
    expect(thrown(() => loadMasterKey(config({ masterKey: 'short' }))).message).toContain('masterKey');
    const missing = thrown(() => loadMasterKey(config({ masterKeyFile: join(dir, 'nope') })));
    expect(missing.code).toBe('ERR_CONFIG_INVALID');
    expect(missing.message).toContain('masterKeyFile');
  });

  it('refuses to run without a key unless told to generate one, which it writes 0600 and warns about', () => {
    expect(thrown(() => loadMasterKey(config())).code).toBe('ERR_CONFIG_INVALID');
    const made = loadMasterKey(config(), { generate: true });
    expect(made.key).toHaveLength(32);
    expect(made.warning).toMatch(/beside the data/);
    const path = join(dir, 'data', 'master.key');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(parseMasterKey(readFileSync(path, 'utf8'), path).equals(made.key)).toBe(true);
    // The next start finds the same key; a loosened mode is called out.
    expect(loadMasterKey(config()).key.equals(made.key)).toBe(true);
    chmodSync(path, 0o644);
    expect(loadMasterKey(config()).warning).toMatch(/mode 644/);
  });
});

describe.each(engines)('checkMasterKey on %s', (engine) => {
  let t: TestDb;
  beforeEach(async () => {
    t = await openTestDb(engine);
  });
  afterEach(() => t.close());

  it('remembers the first key and refuses a database set up with another', async () => {
    await checkMasterKey(t.db, vault);
    const stored = (await t.db.query<{ value: string }>("SELECT value FROM meta WHERE key = 'master_key_check'")).rows;
    expect(stored).toHaveLength(1);
    await checkMasterKey(t.db, createVault(Buffer.from(key))); // same key again: fine

    const err = await checkMasterKey(t.db, createVault(randomBytes(32))).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AirlockError);
    expect((err as AirlockError).code).toBe('ERR_MASTER_KEY');
    expect((err as AirlockError).message).toMatch(/another key/);
    // The refusal changed nothing: the first key still fits.
    expect((await t.db.query("SELECT value FROM meta WHERE key = 'master_key_check'")).rows).toEqual(stored);
    await checkMasterKey(t.db, vault);
  });

  it('lets only one of two nodes starting at once with different keys set up a fresh database', async () => {
    const results = await Promise.allSettled([checkMasterKey(t.db, createVault(randomBytes(32))), checkMasterKey(t.db, createVault(randomBytes(32)))]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect((rejected?.reason as AirlockError).code).toBe('ERR_MASTER_KEY');
  });
});
