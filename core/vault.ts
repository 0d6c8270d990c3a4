import { createCipheriv, createDecipheriv, randomBytes, createHash } from 'node:crypto';
import { readFileSync, writeFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import type { Config } from './config.js';
import type { Queryable } from './db.js';
import { AirlockError } from './errors.js';

/**
 * Encryption at rest under the customer's master key: AES-256-GCM, a fresh 96-bit
 * nonce per value, and a context string bound as additional data so a ciphertext
 * cannot be moved from one field to another (a TOTP seed pasted in as a target
 * password fails to decrypt). Format: "v1." + base64url(nonce | tag | ciphertext).
 */
export interface Vault {
  encrypt(plaintext: string | Buffer, context: string): string;
  decrypt(sealed: string, context: string): Buffer;
  /** SHA-256 fingerprint of the key, for logs; never the key. */
  readonly fingerprint: string;
}

export function createVault(key: Buffer): Vault {
  if (key.length !== 32) throw new AirlockError('ERR_MASTER_KEY', 'master key must be 32 bytes');
  return {
    fingerprint: 'SHA256:' + createHash('sha256').update(key).digest('base64').replace(/=+$/, ''),
    encrypt(plaintext, context) {
      const nonce = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, nonce);
      cipher.setAAD(Buffer.from(context, 'utf8'));
      const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return 'v1.' + Buffer.concat([nonce, cipher.getAuthTag(), body]).toString('base64url');
    },
    decrypt(sealed, context) {
      if (!sealed.startsWith('v1.')) throw new AirlockError('ERR_DECRYPT', 'unknown ciphertext format');
      const raw = Buffer.from(sealed.slice(3), 'base64url');
      if (raw.length < 28) throw new AirlockError('ERR_DECRYPT', 'ciphertext too short');
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
        decipher.setAAD(Buffer.from(context, 'utf8'));
        decipher.setAuthTag(raw.subarray(12, 28));
        return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]);
      } catch (err) {
        throw new AirlockError('ERR_DECRYPT', 'cannot decrypt: wrong master key or damaged value', { cause: err });
      }
    },
  };
}

export function parseMasterKey(text: string, setting: string): Buffer {
  const t = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
  if (key.length !== 32) {
    throw new AirlockError('ERR_CONFIG_INVALID', `${setting}: expected 32 bytes as 64 hex digits or base64, got ${key.length} bytes`);
  }
  return key;
}

export function defaultMasterKeyPath(config: Config): string {
  return join(config.dataDir, 'master.key');
}

export interface MasterKeySource {
  key: Buffer;
  /** Where it came from, for the start-up log. */
  origin: string;
  warning?: string;
}

/**
 * Finds the master key: masterKey, then masterKeyFile, then dataDir/master.key.
 * With `generate`, creates dataDir/master.key (mode 0600) when none exists: init and
 * demo do that, and warn, because a key kept beside the data it protects protects
 * little.
 */
export function loadMasterKey(config: Config, options: { generate?: boolean } = {}): MasterKeySource {
  if (config.masterKey) return { key: parseMasterKey(config.masterKey, 'masterKey'), origin: 'masterKey setting' };
  if (config.masterKeyFile) {
    let text: string;
    try {
      text = readFileSync(config.masterKeyFile, 'utf8');
    } catch (err) {
      throw new AirlockError('ERR_CONFIG_INVALID', `masterKeyFile: cannot read ${config.masterKeyFile}: ${(err as Error).message}`, { cause: err });
    }
    return { key: parseMasterKey(text, 'masterKeyFile'), origin: config.masterKeyFile };
  }
  const path = defaultMasterKeyPath(config);
  const warning = `the master key is in ${path}, beside the data it protects: move it to storage the customer controls and set masterKeyFile`;
  if (existsSync(path)) {
    const mode = statSync(path).mode & 0o777;
    const loose = mode & 0o077 ? ` (and its mode ${mode.toString(8)} lets others read it)` : '';
    return { key: parseMasterKey(readFileSync(path, 'utf8'), path), origin: path, warning: warning + loose };
  }
  if (!options.generate) {
    throw new AirlockError('ERR_CONFIG_INVALID', `masterKey: no master key configured (set AIRLOCK_MASTER_KEY or masterKeyFile, or run "airlock init")`);
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  writeFileSync(path, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  return { key, origin: path, warning };
}

const CHECK_CONTEXT = 'airlock:master-key-check';

/**
 * The database remembers a value sealed under the master key it was created with, so
 * starting with another key fails at once with a clear message, not later with
 * undecryptable secrets.
 */
export async function checkMasterKey(db: Queryable, vault: Vault): Promise<void> {
  const read = async () => (await db.query<{ value: string }>("SELECT value FROM meta WHERE key = 'master_key_check'")).rows[0];
  let row = await read();
  if (!row) {
    await db.query("INSERT INTO meta (key, value) VALUES ('master_key_check', $1) ON CONFLICT (key) DO NOTHING", [
      vault.encrypt(CHECK_CONTEXT, CHECK_CONTEXT),
    ]);
    // Read back: if another node with another key inserted first, ours did nothing
    // and the check below must fail rather than let two keys share one database.
    row = await read();
    if (!row) throw new AirlockError('ERR_MASTER_KEY', 'cannot record the master key check in the database');
  }
  try {
    vault.decrypt(row.value, CHECK_CONTEXT);
  } catch (err) {
    throw new AirlockError('ERR_MASTER_KEY', 'the master key does not match this database (it was set up with another key)', { cause: err });
  }
}
