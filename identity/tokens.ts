import { randomUUID } from 'node:crypto';
import { SignJWT, jwtVerify, generateKeyPair, exportJWK, importJWK, errors as joseErrors } from 'jose';
import type { JWK, CryptoKey, JWTPayload, JWTHeaderParameters } from 'jose';
import type { Clock, Config, KeyPurpose, SigningKeyStore } from '../core/index.js';
import { AirlockError } from '../core/index.js';

/**
 * API tokens: JWTs (RFC 7519) signed with Ed25519 (RFC 8037 "EdDSA"). On
 * verification the algorithm is pinned to EdDSA, so `none` and HS256-with-the-
 * public-key (CVE-2022-23540/23541 class) never verify; `typ` must be "at+jwt"
 * (RFC 9068 §2.1); `iss`, `aud` and `exp` are required and checked; the key is
 * picked by `kid` among airlock's own keys only, an unknown kid is refused.
 * Revocation is by `jti` (the login id), checked by the caller against the
 * logins table on every request.
 *
 * Private keys are stored in the database sealed under the master key, so every
 * airlock node signs with the same keys. `rotate()` adds a key that signs from
 * then on; older keys keep verifying until tokens they signed have expired.
 */
const ALG = 'EdDSA';
const TYP = 'at+jwt';
const PURPOSE: KeyPurpose = 'api-token';

export interface TokenClaims {
  /** user id */
  sub: string;
  /** login id */
  jti: string;
  name: string;
  role: string;
  iat: number;
  exp: number;
}

interface LoadedKey {
  kid: string;
  publicKey: CryptoKey;
  privateKey: CryptoKey;
  createdAt: Date;
  retiredAt: Date | null;
}

export class TokenService {
  #keys = new Map<string, LoadedKey>();
  #lastReload = 0;

  constructor(
    private readonly store: SigningKeyStore,
    private readonly clock: Clock,
    private readonly config: Pick<Config, 'tokens' | 'auth'>,
  ) {}

  /** Loads the keys, creating the first one if there is none. */
  async init(): Promise<void> {
    await this.reload();
    if (!this.#signingKey()) await this.rotate();
  }

  async reload(): Promise<void> {
    const keys = new Map<string, LoadedKey>();
    for (const stored of await this.store.list(PURPOSE)) {
      keys.set(stored.kid, {
        kid: stored.kid,
        publicKey: (await importJWK(stored.publicJwk as JWK, ALG)) as CryptoKey,
        privateKey: (await importJWK(JSON.parse(stored.privateText) as JWK, ALG)) as CryptoKey,
        createdAt: stored.createdAt,
        retiredAt: stored.retiredAt,
      });
    }
    this.#keys = keys;
    this.#lastReload = this.clock.now().getTime();
  }

  /** A new signing key; the previous one only verifies from now on. Returns the new kid. */
  async rotate(): Promise<string> {
    const { publicKey, privateKey } = await generateKeyPair(ALG, { crv: 'Ed25519', extractable: true });
    const kid = randomUUID();
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: ALG, use: 'sig' };
    const privateJwk = await exportJWK(privateKey);
    await this.store.rotate(PURPOSE, { kid, alg: ALG, publicJwk, privateText: JSON.stringify(privateJwk) });
    await this.reload();
    return kid;
  }

  /** Public keys still able to verify, as a JWK set (for other services). */
  async jwks(): Promise<{ keys: JWK[] }> {
    const keys: JWK[] = [];
    for (const k of this.#verifying()) keys.push({ ...(await exportJWK(k.publicKey)), kid: k.kid, alg: ALG, use: 'sig' });
    return { keys };
  }

  async sign(claims: Omit<TokenClaims, 'iat'>): Promise<string> {
    const key = this.#signingKey();
    if (!key) throw new AirlockError('ERR_INTERNAL', 'no API signing key: TokenService.init() was not called');
    const iat = Math.floor(this.clock.now().getTime() / 1000);
    return new SignJWT({ name: claims.name, role: claims.role })
      .setProtectedHeader({ alg: ALG, typ: TYP, kid: key.kid })
      .setIssuer(this.config.tokens.issuer)
      .setAudience(this.config.tokens.audience)
      .setSubject(claims.sub)
      .setJti(claims.jti)
      .setIssuedAt(iat)
      .setExpirationTime(claims.exp)
      .sign(key.privateKey);
  }

  /** Verifies signature, algorithm, type, issuer, audience and times. Not revocation. */
  async verify(token: string): Promise<TokenClaims> {
    if (token.length > 4096) throw new AirlockError('ERR_TOKEN_INVALID', 'invalid token');
    try {
      const { payload } = await jwtVerify(token, (header: JWTHeaderParameters) => this.#keyFor(header), {
        algorithms: [ALG],
        typ: TYP,
        issuer: this.config.tokens.issuer,
        audience: this.config.tokens.audience,
        requiredClaims: ['exp', 'iat', 'sub', 'jti'],
        currentDate: this.clock.now(),
        clockTolerance: 5,
      });
      return checkClaims(payload);
    } catch (err) {
      if (err instanceof AirlockError) throw err;
      if (err instanceof joseErrors.JWTExpired) throw new AirlockError('ERR_TOKEN_EXPIRED', 'your airlock login has expired: run "airlock login" again', { cause: err });
      throw new AirlockError('ERR_TOKEN_INVALID', 'invalid token', { cause: err, details: { reason: (err as Error).message } });
    }
  }

  async #keyFor(header: JWTHeaderParameters): Promise<CryptoKey> {
    const kid = header.kid;
    if (typeof kid !== 'string' || kid.length > 64) throw new AirlockError('ERR_TOKEN_INVALID', 'invalid token', { details: { reason: 'no kid' } });
    let key = this.#verifyingKey(kid);
    // Another node may have rotated: look again, at most every 10 s, then refuse.
    if (!key && this.clock.now().getTime() - this.#lastReload > 10_000) {
      await this.reload();
      key = this.#verifyingKey(kid);
    }
    if (!key) throw new AirlockError('ERR_TOKEN_INVALID', 'invalid token', { details: { reason: `unknown kid ${kid}` } });
    return key.publicKey;
  }

  #signingKey(): LoadedKey | undefined {
    return [...this.#keys.values()].find((k) => k.retiredAt === null);
  }

  #verifying(): LoadedKey[] {
    const horizon = this.clock.now().getTime() - this.config.auth.maxLoginTtl;
    return [...this.#keys.values()].filter((k) => k.retiredAt === null || k.retiredAt.getTime() > horizon);
  }

  #verifyingKey(kid: string): LoadedKey | undefined {
    return this.#verifying().find((k) => k.kid === kid);
  }
}

function checkClaims(p: JWTPayload): TokenClaims {
  const { sub, jti, iat, exp } = p;
  const name = p['name'];
  const role = p['role'];
  if (typeof sub !== 'string' || typeof jti !== 'string' || typeof name !== 'string' || typeof role !== 'string' || typeof iat !== 'number' || typeof exp !== 'number') {
    throw new AirlockError('ERR_TOKEN_INVALID', 'invalid token', { details: { reason: 'claims missing or of the wrong type' } });
  }
  return { sub, jti, name, role, iat, exp };
}
