import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, createHash } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { Clock, Db, Vault } from '../core/index.js';

/**
 * The recording key: Ed25519, kept in the database sealed under the master key
 * (every node signs with it). Its public half is exported for auditors, who can
 * check a recording's signed checkpoints without airlock (recordings/integrity.ts
 * documents the format).
 */
const PURPOSE = 'recording';
const context = (kid: string) => `airlock:recording-key:${kid}`;

export interface RecordingKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** SHA-256 of the SPKI DER, hex: names the key inside checkpoints. */
  fingerprint: string;
  publicPem: string;
}

export function keyFingerprint(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ format: 'der', type: 'spki' })).digest('hex');
}

export class RecordingKeys {
  #keys: RecordingKey[] = [];

  constructor(
    private readonly db: Db,
    private readonly vault: Vault,
    private readonly clock: Clock,
  ) {}

  async init(): Promise<void> {
    await this.#load();
    if (this.#keys.length === 0) {
      const { privateKey } = generateKeyPairSync('ed25519');
      const kid = randomUUID();
      const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
      await this.db.query(
        `INSERT INTO signing_keys (kid, purpose, alg, public_jwk, private_enc, created_at) VALUES ($1, $2, 'Ed25519', $3, $4, $5)`,
        [kid, PURPOSE, JSON.stringify(createPublicKey(privateKey).export({ format: 'jwk' })), this.vault.encrypt(pem, context(kid)), this.clock.now()],
      );
      await this.#load();
    }
  }

  async #load(): Promise<void> {
    const rows = (
      await this.db.query<{ kid: string; private_enc: string }>('SELECT kid, private_enc FROM signing_keys WHERE purpose = $1 ORDER BY created_at DESC', [PURPOSE])
    ).rows;
    this.#keys = rows.map((r) => {
      const privateKey = createPrivateKey(this.vault.decrypt(r.private_enc, context(r.kid)).toString('utf8'));
      const publicKey = createPublicKey(privateKey);
      return {
        kid: r.kid,
        privateKey,
        publicKey,
        fingerprint: keyFingerprint(publicKey),
        publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
      };
    });
  }

  /** The key that signs new checkpoints. */
  current(): RecordingKey {
    const key = this.#keys[0];
    if (!key) throw new Error('RecordingKeys.init() was not called');
    return key;
  }

  /** Every recording key, to verify old recordings. */
  all(): RecordingKey[] {
    return [...this.#keys];
  }

  byFingerprint(fingerprint: string): RecordingKey | undefined {
    return this.#keys.find((k) => k.fingerprint === fingerprint);
  }
}
