import { generateKeyPairSync, createPrivateKey, randomBytes, randomUUID } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { Clock, Config, KeyPurpose, SigningKeyStore } from '../core/index.js';
import { AirlockError } from '../core/index.js';
import { ed25519Blob, rawEd25519, signCertificate } from './ssh-cert.js';
import { sshFingerprint } from './ssh-wire.js';

/**
 * airlock's SSH user certificate authority: Ed25519 keys kept in the database,
 * private halves sealed under the master key (so every node signs and verifies
 * with the same CA). One key signs; `rotate()` adds a new signing key while the
 * older ones keep verifying until every certificate they signed has expired
 * (maxLoginTtl after they stopped signing).
 */
const PURPOSE: KeyPurpose = 'ssh-user-ca';

export interface CaKey {
  kid: string;
  raw: Buffer;
  blob: Buffer;
  privateKey: KeyObject;
  createdAt: Date;
  retiredAt: Date | null;
}

export interface IssuedCertificate {
  /** "ssh-ed25519-cert-v01@openssh.com AAAA… keyid", as ssh wants it in a -cert.pub file. */
  line: string;
  serial: bigint;
  keyId: string;
  caFingerprint: string;
}

export class SshCa {
  #keys: CaKey[] = [];

  constructor(
    private readonly store: SigningKeyStore,
    private readonly clock: Clock,
    private readonly config: Pick<Config, 'auth'>,
  ) {}

  async init(): Promise<void> {
    await this.reload();
    if (!this.#signing()) await this.rotate();
  }

  async reload(): Promise<void> {
    this.#keys = (await this.store.list(PURPOSE)).map((k) => {
      const raw = Buffer.from(String(k.publicJwk['x']), 'base64url');
      return { kid: k.kid, raw, blob: ed25519Blob(raw), privateKey: createPrivateKey(k.privateText), createdAt: k.createdAt, retiredAt: k.retiredAt };
    });
  }

  /** A new signing key; returns its public key line. */
  async rotate(): Promise<string> {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const kid = randomUUID();
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    await this.store.rotate(PURPOSE, { kid, alg: 'Ed25519', publicJwk: publicKey.export({ format: 'jwk' }) as Record<string, unknown>, privateText: pem });
    await this.reload();
    return publicKeyLineOf(rawEd25519(publicKey));
  }

  /** Keys a certificate may be signed by right now: the signing key and recently retired ones. */
  trusted(): CaKey[] {
    const horizon = this.clock.now().getTime() - this.config.auth.maxLoginTtl - 120_000;
    return this.#keys.filter((k) => k.retiredAt === null || k.retiredAt.getTime() > horizon);
  }

  /** Finds the trusted CA key whose blob is exactly this one. */
  trustedBlob(blob: Buffer): CaKey | undefined {
    return this.trusted().find((k) => k.blob.equals(blob));
  }

  publicKeys(): Array<{ line: string; fingerprint: string; signing: boolean; createdAt: Date; retiredAt: Date | null }> {
    return this.trusted().map((k) => ({
      line: publicKeyLineOf(k.raw),
      fingerprint: sshFingerprint(k.blob),
      signing: k.retiredAt === null,
      createdAt: k.createdAt,
      retiredAt: k.retiredAt,
    }));
  }

  issue(options: {
    publicKey: Buffer;
    user: string;
    loginId: string;
    validBefore: Date;
    sourceAddress?: string | undefined;
    permitForwarding: boolean;
  }): IssuedCertificate {
    const key = this.#signing();
    if (!key) throw new AirlockError('ERR_INTERNAL', 'no SSH CA key: SshCa.init() was not called');
    // 63 random bits: unique enough, and never 0 (which means "no serial").
    const serial = (randomBytes(8).readBigUInt64BE() >> 1n) | 1n;
    const keyId = `airlock:${options.user}:${options.loginId}`;
    const extensions = new Map([['permit-pty', '']]);
    if (options.permitForwarding) extensions.set('permit-port-forwarding', '');
    const criticalOptions = new Map<string, string>();
    if (options.sourceAddress) criticalOptions.set('source-address', options.sourceAddress);
    const blob = signCertificate(
      {
        publicKey: options.publicKey,
        serial,
        keyId,
        principals: [options.user],
        // One minute back-dated for clock skew between airlock and the client.
        validAfter: new Date(this.clock.now().getTime() - 60_000),
        validBefore: options.validBefore,
        criticalOptions,
        extensions,
      },
      key.privateKey,
      key.raw,
    );
    return { line: `ssh-ed25519-cert-v01@openssh.com ${blob.toString('base64')} ${keyId}`, serial, keyId, caFingerprint: sshFingerprint(key.blob) };
  }

  #signing(): CaKey | undefined {
    return this.#keys.find((k) => k.retiredAt === null);
  }
}

export function publicKeyLineOf(raw: Buffer): string {
  return `ssh-ed25519 ${ed25519Blob(raw).toString('base64')} airlock-user-ca`;
}
