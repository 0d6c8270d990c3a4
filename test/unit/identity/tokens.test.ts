import { randomUUID } from 'node:crypto';
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { SignJWT, generateKeyPair, importJWK, decodeProtectedHeader, decodeJwt, base64url } from 'jose';
import type { JWK, JWTPayload, JWTHeaderParameters, CryptoKey } from 'jose';
import { ManualClock } from '../../../core/clock.js';
import { SigningKeyStore } from '../../../core/index.js';
import { AirlockError } from '../../../core/errors.js';
import type { ErrorCode } from '../../../core/errors.js';
import { currentTotp } from '../../../identity/index.js';
import type { LoginResult } from '../../../identity/index.js';
import { TokenService } from '../../../identity/tokens.js';
import { engines } from '../../helpers/db.js';
import { openTestServices } from '../../helpers/services.js';
import type { TestServices } from '../../helpers/services.js';

/**
 * Attacks on the API token (RFC 7519 JWT, EdDSA per RFC 8037): `none`, HS256 keyed
 * with the public key (CVE-2022-23540/23541 class), wrong iss/aud/typ, expiry,
 * revocation by jti, unknown kid, tampering, and key rotation. Forged tokens that
 * need airlock's own key take it from the database, as an attacker with the master
 * key could; each must still fail on the one claim that is wrong.
 */
const PASSWORD = 'correct-horse-battery';
const T0 = Date.UTC(2026, 0, 1, 9, 0, 0);
const admin = { name: 'admin' };

async function refusal(p: Promise<unknown>): Promise<AirlockError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(AirlockError);
    return err as AirlockError;
  }
  throw new Error('expected the token to be refused, but it was accepted');
}

const enc = (v: unknown) => base64url.encode(JSON.stringify(v));

describe.each(engines)('API tokens on %s', (engine) => {
  let s: TestServices;
  let clock: ManualClock;
  let secret: string;
  let good: LoginResult;
  let claims: JWTPayload;
  let header: JWTHeaderParameters;

  const login = async (): Promise<LoginResult> => {
    clock.advance(30_000); // a fresh TOTP step for each login
    return s.identity.login({ name: 'alice', password: PASSWORD, totp: await currentTotp(secret, clock.now()) }, { channel: 'api' });
  };

  /** airlock's signing key for kid, decrypted from the database. */
  const privateKey = async (kid: string): Promise<CryptoKey> => {
    const row = (await s.db.query<{ private_enc: string }>('SELECT private_enc FROM signing_keys WHERE kid = $1', [kid])).rows[0];
    if (!row) throw new Error(`no key ${kid}`);
    const jwk = JSON.parse(s.vault.decrypt(row.private_enc, `airlock:signing-key:${kid}`).toString('utf8')) as JWK;
    return (await importJWK(jwk, 'EdDSA')) as CryptoKey;
  };

  /** The good token's claims and header with changes, signed with airlock's own key. */
  const forge = async (claimChanges: JWTPayload = {}, headerChanges: Record<string, unknown> = {}, key?: CryptoKey) => {
    const h = { ...header, ...headerChanges } as JWTHeaderParameters;
    for (const [k, v] of Object.entries(h)) if (v === undefined) delete h[k];
    const p = { ...claims, ...claimChanges };
    for (const [k, v] of Object.entries(p)) if (v === undefined) delete p[k];
    return new SignJWT(p).setProtectedHeader(h).sign(key ?? (await privateKey(header.kid as string)));
  };

  /** Refused by the JWT checks alone, and so by authenticateToken. */
  const expectRefused = async (token: string, code: 'ERR_TOKEN_INVALID' | 'ERR_TOKEN_EXPIRED') => {
    expect((await refusal(s.identity.tokens.verify(token))).code).toBe(code);
    expect((await refusal(s.identity.authenticateToken(token))).code).toBe(code);
  };
  const expectInvalid = (token: string) => expectRefused(token, 'ERR_TOKEN_INVALID');

  beforeEach(async () => {
    clock = new ManualClock(T0);
    s = await openTestServices(engine, { clock });
    secret = (await s.identity.users.add({ name: 'alice', role: 'engineer', password: PASSWORD }, admin)).totp.secret;
    good = await login();
    claims = decodeJwt(good.token);
    header = decodeProtectedHeader(good.token) as JWTHeaderParameters;
  });
  afterEach(() => s.close());

  it('accepts the token it issued, with the expected header and claims', async () => {
    expect(header).toEqual({ alg: 'EdDSA', typ: 'at+jwt', kid: expect.any(String) });
    expect(claims).toMatchObject({ iss: 'airlock', aud: 'airlock-api', sub: good.user.id, jti: good.login.id, name: 'alice', role: 'engineer' });
    expect(claims.exp).toBe(good.login.expiresAt.getTime() / 1000);
    const who = await s.identity.authenticateToken(good.token);
    expect(who.user.name).toBe('alice');
    expect(who.login.id).toBe(good.login.id);
    // The forging helper itself makes acceptable tokens: the refusals below are about the one change.
    await expect(s.identity.authenticateToken(await forge())).resolves.toMatchObject({ user: { name: 'alice' } });
  });

  it('refuses alg "none", with or without a signature part', async () => {
    const body = `${enc({ ...header, alg: 'none' })}.${enc(claims)}`;
    await expectInvalid(`${body}.`);
    await expectInvalid(`${body}.${good.token.split('.')[2]}`);
    await expectInvalid(`${enc({ alg: 'none' })}.${enc(claims)}.`);
  });

  it('refuses HS256 keyed with the public key (algorithm confusion)', async () => {
    const { keys } = await s.identity.tokens.jwks();
    const jwk = keys.find((k) => k.kid === header.kid);
    expect(jwk?.x).toBeTypeOf('string');
    const secrets = [
      base64url.decode(jwk!.x as string), // raw Ed25519 public key bytes
      new TextEncoder().encode(jwk!.x as string),
      new TextEncoder().encode(JSON.stringify(jwk)),
    ];
    for (const hmacKey of secrets) {
      const token = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: header.kid as string }).sign(hmacKey);
      await expectInvalid(token);
    }
  });

  it('refuses a wrong audience or issuer', async () => {
    await expectInvalid(await forge({ aud: 'some-other-api' }));
    await expectInvalid(await forge({ aud: undefined }));
    await expectInvalid(await forge({ iss: 'https://evil.example' }));
    await expectInvalid(await forge({ iss: undefined }));
  });

  it('refuses a wrong or missing typ', async () => {
    await expectInvalid(await forge({}, { typ: 'JWT' }));
    await expectInvalid(await forge({}, { typ: 'id_token+jwt' }));
    await expectInvalid(await forge({}, { typ: undefined }));
  });

  it('refuses tokens missing required claims', async () => {
    for (const missing of ['exp', 'iat', 'sub', 'jti', 'name', 'role']) await expectInvalid(await forge({ [missing]: undefined }));
    await expectInvalid(await forge({ role: 42 as unknown as string }));
  });

  it('refuses an expired token, and one whose login expired', async () => {
    const exp = (claims.exp as number) * 1000;
    clock.set(exp - 1000);
    await expect(s.identity.authenticateToken(good.token)).resolves.toMatchObject({ user: { name: 'alice' } });
    // Within jose's 5 s tolerance the login itself has expired.
    clock.set(exp + 1000);
    expect((await refusal(s.identity.authenticateToken(good.token))).code).toBe('ERR_TOKEN_EXPIRED');
    clock.set(exp + 60_000);
    await expectRefused(good.token, 'ERR_TOKEN_EXPIRED');
    // A token re-signed with a later exp does not outlive its login.
    const stretched = await forge({ exp: Math.floor(clock.now().getTime() / 1000) + 3600 });
    expect((await refusal(s.identity.authenticateToken(stretched))).code).toBe('ERR_TOKEN_EXPIRED');
  });

  it('refuses the token of a login ended by logout', async () => {
    const other = await login();
    await s.identity.revokeLogin(good.login.id, { name: 'alice' }, 'logout');
    expect((await refusal(s.identity.authenticateToken(good.token))).code).toBe('ERR_TOKEN_REVOKED');
    // Only that login: the user's other login still works.
    await expect(s.identity.authenticateToken(other.token)).resolves.toMatchObject({ login: { id: other.login.id } });
    const audit = await s.db.query<{ target: string }>("SELECT target FROM audit_events WHERE action = 'auth.logout'");
    expect(audit.rows).toEqual([{ target: good.login.id }]);
  });

  it('refuses tokens of a disabled user', async () => {
    const other = await login();
    await s.identity.users.setStatus('alice', 'disabled', admin);
    // Disabling revoked every live login at once.
    for (const t of [good.token, other.token]) expect((await refusal(s.identity.authenticateToken(t))).code).toBe('ERR_TOKEN_REVOKED');
    // And the user's status is checked on its own, e.g. when a login escaped revocation.
    await s.identity.users.setStatus('alice', 'active', admin);
    const third = await login();
    await s.db.query("UPDATE users SET status = 'disabled' WHERE name = 'alice'");
    expect((await refusal(s.identity.authenticateToken(third.token))).code).toBe('ERR_ACCOUNT_DISABLED');
  });

  it('refuses a token naming a login that does not exist or belongs to someone else', async () => {
    await expectRefusedAuth(await forge({ jti: '00000000-0000-4000-8000-000000000000' }), 'ERR_TOKEN_INVALID');
    const bob = await s.identity.users.add({ name: 'bob', role: 'admin', password: PASSWORD }, admin);
    await expectRefusedAuth(await forge({ sub: bob.user.id }), 'ERR_TOKEN_INVALID');
  });
  const expectRefusedAuth = async (token: string, code: ErrorCode) =>
    expect((await refusal(s.identity.authenticateToken(token))).code).toBe(code);

  it('refuses an unknown kid, and a foreign key behind a known kid', async () => {
    const { privateKey: foreign } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    await expectInvalid(await forge({}, { kid: randomUUID() }, foreign));
    await expectInvalid(await forge({}, { kid: undefined }, foreign));
    await expectInvalid(await forge({}, {}, foreign));
    await expectInvalid(await forge({}, { kid: 'k'.repeat(65) }));
    // Unknown kids make the service look again at most every 10 s, not on every request.
    clock.advance(11_000);
    await expectInvalid(await forge({}, { kid: randomUUID() }, foreign));
  });

  it('refuses a tampered payload or header', async () => {
    const [h, p, sig] = good.token.split('.') as [string, string, string];
    await expectInvalid(`${h}.${enc({ ...claims, role: 'admin' })}.${sig}`);
    await expectInvalid(`${h}.${enc({ ...claims, exp: (claims.exp as number) + 86_400 })}.${sig}`);
    await expectInvalid(`${enc({ ...header, kid: header.kid, typ: 'at+jwt', x: 1 })}.${p}.${sig}`);
    const flipped = Buffer.from(base64url.decode(sig));
    flipped[0] = (flipped[0] as number) ^ 1;
    await expectInvalid(`${h}.${p}.${base64url.encode(flipped)}`);
    await expectInvalid(`${h}.${p}`);
    await expectInvalid('not a token');
    await expectInvalid(`${h}.${p}.${sig}`.padEnd(5000, 'A'));
  });

  it('keeps verifying old tokens after rotation, and signs new ones with the new key', async () => {
    const oldKid = header.kid as string;
    const newKid = await s.identity.tokens.rotate();
    expect(newKid).not.toBe(oldKid);
    await expect(s.identity.authenticateToken(good.token)).resolves.toMatchObject({ login: { id: good.login.id } });

    const fresh = await login();
    expect(decodeProtectedHeader(fresh.token).kid).toBe(newKid);
    await expect(s.identity.authenticateToken(fresh.token)).resolves.toMatchObject({ login: { id: fresh.login.id } });
    expect((await s.identity.tokens.jwks()).keys.map((k) => k.kid).sort()).toEqual([oldKid, newKid].sort());

    // Once every token the old key signed must have expired, the old key stops verifying.
    clock.advance(s.config.auth.maxLoginTtl + 1000);
    expect((await s.identity.tokens.jwks()).keys.map((k) => k.kid)).toEqual([newKid]);
    await expectInvalid(await forge({ exp: Math.floor(clock.now().getTime() / 1000) + 600 }));
  });

  it('picks up a key rotated by another node', async () => {
    const otherNode = new TokenService(new SigningKeyStore(s.db, s.vault, clock), clock, s.config);
    await otherNode.init();
    const newKid = await otherNode.rotate();
    const token = await otherNode.sign({ sub: good.user.id, jti: good.login.id, name: 'alice', role: 'engineer', exp: claims.exp as number });
    expect(decodeProtectedHeader(token).kid).toBe(newKid);
    clock.advance(11_000);
    await expect(s.identity.authenticateToken(token)).resolves.toMatchObject({ login: { id: good.login.id } });
    // This node now signs with the new key too.
    expect(decodeProtectedHeader((await login()).token).kid).toBe(newKid);
  });
});
