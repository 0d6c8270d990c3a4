import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, createHash } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { KeyPurpose, SigningKeyStore } from '../core/index.js';

/**
 * The recording key: Ed25519, kept in the database sealed under the master key
 * (every node signs with it). Its public half is exported for auditors, who can
 * check a recording's signed checkpoints without airlock (recordings/integrity.ts
 * documents the format).
 */
const PURPOSE: KeyPurpose = 'recording';

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

  constructor(private readonly store: SigningKeyStore) {}

  async init(): Promise<void> {
    await this.#load();
    if (this.#keys.length === 0) {
      const { privateKey } = generateKeyPairSync('ed25519');
      const publicJwk = createPublicKey(privateKey).export({ format: 'jwk' }) as Record<string, unknown>;
      await this.store.rotate(PURPOSE, { kid: randomUUID(), alg: 'Ed25519', publicJwk, privateText: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() });
      await this.#load();
    }
  }

  /** Newest first: the first signs. */
  async #load(): Promise<void> {
    this.#keys = (await this.store.list(PURPOSE)).reverse().map((k) => {
      const privateKey = createPrivateKey(k.privateText);
      const publicKey = createPublicKey(privateKey);
      return {
        kid: k.kid,
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
