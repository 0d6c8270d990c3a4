import type { AuditLog, Clock, Config, Db, Logger, SigningKeyStore, Vault } from '../core/index.js';
import { AirlockError, isAirlockError } from '../core/index.js';
import { Logins } from './logins.js';
import type { Login } from './logins.js';
import { verifyPassword, dummyPasswordHash, MAX_PASSWORD_LENGTH } from './passwords.js';
import { Throttle } from './throttle.js';
import type { ThrottleKey } from './throttle.js';
import { TokenService } from './tokens.js';
import { checkTotp } from './totp.js';
import { Users } from './users.js';
import type { Actor, User } from './users.js';
import { SshCa } from './ssh-ca.js';
import type { IssuedCertificate } from './ssh-ca.js';
import { plainEd25519 } from './ssh-cert.js';
import { checkCertificate } from './cert-verify.js';
import type { CertCheck, CertOffer } from './cert-verify.js';

export interface IdentityDeps {
  db: Db;
  audit: AuditLog;
  clock: Clock;
  vault: Vault;
  /** Where the API token and SSH CA keys live (shared with the recording key). */
  keys: SigningKeyStore;
  config: Pick<Config, 'auth' | 'tokens'>;
  logger: Logger;
}

export interface Credentials {
  name: string;
  password: string;
  totp: string;
  /** Network address the attempt came from. */
  source?: string | undefined;
}

/** How the user is logging in; recorded in the audit trail. */
export type Channel = 'api' | 'ssh' | 'web';

export interface LoginResult {
  user: User;
  login: Login;
  token: string;
  /** With a public key in the request: the OpenSSH certificate for it. */
  certificate?: IssuedCertificate;
}

export interface LoginOptions {
  channel: Channel;
  ttlMs?: number | undefined;
  /** "ssh-ed25519 AAAA…": the engineer's own public key, to certify. */
  publicKey?: string | undefined;
  /** Whether the certificate should say port forwarding is permitted (some grant allows it). */
  permitForwarding?: ((user: User) => Promise<boolean>) | undefined;
  /** Whether this user may have an SSH certificate at all (roles that open SSH sessions); default yes. */
  mayUseSsh?: ((user: User) => boolean) | undefined;
  /** Pin the certificate to the address the login came from (source-address). */
  pinSource?: boolean | undefined;
}

export interface Authenticated {
  user: User;
  login: Login;
}

/**
 * Who someone is: users, password + TOTP authentication with back-off and
 * lockout, logins and the API tokens issued for them. Every success and failure
 * is audited with its reason; clients get only a general one.
 */
export class Identity {
  readonly users: Users;
  readonly logins: Logins;
  readonly tokens: TokenService;
  readonly throttle: Throttle;
  readonly ca: SshCa;

  constructor(private readonly deps: IdentityDeps) {
    this.users = new Users(deps.db, deps.audit, deps.clock, deps.vault);
    this.logins = new Logins(deps.db, deps.clock);
    this.tokens = new TokenService(deps.keys, deps.clock, deps.config);
    this.throttle = new Throttle(deps.clock, deps.config.auth);
    this.ca = new SshCa(deps.keys, deps.clock, deps.config);
  }

  async init(): Promise<void> {
    await this.tokens.init();
    await this.ca.init();
  }

  /**
   * Checks password and TOTP code. Order matters: back-off first (cheap, and stops
   * guessing), then the password (a missing user costs the same scrypt time), then
   * the code, consumed atomically so the same code never works twice.
   */
  authenticate(creds: Credentials, channel: Channel): Promise<User> {
    return this.authenticateWith(creds, channel, { skipPassword: false });
  }

  private async authenticateWith(creds: Credentials, channel: Channel, options: { skipPassword: boolean }): Promise<User> {
    const { db, audit, logger } = this.deps;
    const source = creds.source;
    const addrKey: ThrottleKey = `addr:${source ?? 'unknown'}`;
    const fail = async (reason: string, user: User | undefined, error: AirlockError): Promise<never> => {
      const keys: ThrottleKey[] = user ? [addrKey, `user:${user.id}`] : [addrKey];
      const outcome = await db.transaction(async (tx) => {
        const r = await this.throttle.fail(tx, keys);
        await audit.append(tx, {
          action: 'auth.login.failed',
          outcome: 'failure',
          actor: user?.name,
          target: creds.name.slice(0, 64),
          source,
          details: { reason, channel, ...(r.locked ? { locked: true } : {}) },
        });
        return r;
      });
      logger.info({ user: creds.name.slice(0, 64), source, reason, channel }, 'login failed');
      if (outcome.locked) {
        await audit.record({ action: 'auth.account.locked', outcome: 'info', actor: 'system', target: creds.name, source, details: { channel } });
        throw new AirlockError('ERR_ACCOUNT_LOCKED', 'this account is now locked after too many failed logins; ask an administrator to unlock it');
      }
      throw error;
    };
    const wrong = () => new AirlockError('ERR_LOGIN_FAILED', 'login failed: wrong user name, password or verification code');

    if (creds.name.length > 64 || creds.password.length > MAX_PASSWORD_LENGTH || creds.totp.length > 16) {
      return fail('input_too_long', undefined, wrong());
    }
    const record = await this.users.credentials(creds.name);
    try {
      await this.throttle.check(db, record ? [addrKey, `user:${record.user.id}`] : [addrKey]);
    } catch (err) {
      if (isAirlockError(err)) {
        await audit.record({
          action: 'auth.login.failed',
          outcome: 'failure',
          target: creds.name.slice(0, 64),
          source,
          details: { reason: err.code === 'ERR_ACCOUNT_LOCKED' ? 'locked' : 'throttled', channel },
        });
      }
      throw err;
    }
    if (!record) {
      await verifyPassword(creds.password, await dummyPasswordHash());
      return fail('unknown_user', undefined, wrong());
    }
    const { user } = record;
    if (!options.skipPassword && !(await verifyPassword(creds.password, record.passwordHash))) return fail('bad_password', user, wrong());
    if (user.status !== 'active') {
      return fail('disabled', user, new AirlockError('ERR_ACCOUNT_DISABLED', 'this account is disabled'));
    }
    return this.#secondFactor(record, creds.totp, (reason, error) => fail(reason, user, error));
  }

  /**
   * A fresh TOTP code alone, for a user who already proved the first factor (an SSH
   * certificate to a target whose policy wants a new code on every connection).
   * Same replay rule, back-off and audit as a full login.
   */
  async verifyTotp(name: string, code: string, source: string | undefined, channel: Channel): Promise<User> {
    return this.authenticateWith({ name, password: '', totp: code, source }, channel, { skipPassword: true });
  }

  async #secondFactor(
    record: { user: User; totpSecret: string | null; totpLastStep: number | null },
    code: string,
    fail: (reason: string, error: AirlockError) => Promise<never>,
  ): Promise<User> {
    const { db, clock, config } = this.deps;
    const { user } = record;
    if (!record.totpSecret) {
      return fail('mfa_not_enrolled', new AirlockError('ERR_OTP_NOT_ENROLLED', 'no verification code is set up for this account; ask an administrator'));
    }
    const check = await checkTotp({ secret: record.totpSecret, code, now: clock.now(), window: config.auth.totpWindow, afterStep: record.totpLastStep });
    const replayed = () => new AirlockError('ERR_OTP_REPLAYED', 'this verification code was already used; wait for the next one');
    const wrong = () => new AirlockError('ERR_LOGIN_FAILED', 'login failed: wrong user name, password or verification code');
    if (!check.ok) return fail(check.reason === 'replayed' ? 'otp_replayed' : 'bad_otp', check.reason === 'replayed' ? replayed() : wrong());
    const consumed = await db.transaction(async (tx) => {
      if (!(await this.users.consumeTotpStep(tx, user.id, check.step))) return false;
      await this.throttle.succeed(tx, `user:${user.id}`);
      return true;
    });
    if (!consumed) return fail('otp_replayed', replayed());
    return user;
  }

  /**
   * Password + TOTP → a login and its API token, which expire together, and, given
   * the engineer's public key, an SSH certificate for it that expires with them too.
   */
  async login(creds: Credentials, options: LoginOptions): Promise<LoginResult> {
    const { db, audit, config } = this.deps;
    const ttl = options.ttlMs ?? config.auth.loginTtl;
    if (!(ttl > 0 && ttl <= config.auth.maxLoginTtl)) {
      throw new AirlockError('ERR_LOGIN_TTL', `login duration must be at most ${config.auth.maxLoginTtl / 60_000}m`);
    }
    const offered = options.publicKey === undefined ? undefined : parseEd25519PublicKey(options.publicKey);
    const user = await this.authenticate(creds, options.channel);
    // A certificate the gateway would refuse helps nobody: an approver gets the API token only.
    const publicKey = offered && (options.mayUseSsh?.(user) ?? true) ? offered : undefined;
    const permitForwarding = publicKey && options.permitForwarding ? await options.permitForwarding(user) : false;
    const { login, certificate } = await db.transaction(async (tx) => {
      const created = await this.logins.create(tx, user.id, ttl, creds.source);
      let cert: IssuedCertificate | undefined;
      if (publicKey) {
        cert = this.ca.issue({
          publicKey,
          user: user.name,
          loginId: created.id,
          validBefore: created.expiresAt,
          sourceAddress: options.pinSource && creds.source ? creds.source : undefined,
          permitForwarding,
        });
        await this.logins.setCertificate(tx, created.id, cert.serial, cert.caFingerprint);
        // The returned login (and the API's answer) shows the certificate too.
        created.certSerial = cert.serial.toString();
        created.certFingerprint = cert.caFingerprint;
      }
      await audit.append(tx, {
        action: 'auth.login.succeeded',
        outcome: 'success',
        actor: user.name,
        target: user.name,
        source: creds.source,
        details: {
          channel: options.channel,
          loginId: created.id,
          expiresAt: created.expiresAt.toISOString(),
          ...(cert ? { certificateSerial: cert.serial.toString(), certificateCa: cert.caFingerprint } : {}),
        },
      });
      return { login: created, certificate: cert };
    });
    const token = await this.tokens.sign({
      sub: user.id,
      jti: login.id,
      name: user.name,
      role: user.role,
      exp: Math.floor(login.expiresAt.getTime() / 1000),
    });
    return { user, login, token, ...(certificate ? { certificate } : {}) };
  }

  /**
   * An SSH connection authenticated by password + TOTP gets a login of its own
   * (kind "ssh"), so it has an expiry and can be revoked like any other.
   */
  async sshLogin(user: User, source: string | undefined, requested: Record<string, unknown> = {}): Promise<Login> {
    const { db, audit, config } = this.deps;
    return db.transaction(async (tx) => {
      const login = await this.logins.create(tx, user.id, config.auth.maxLoginTtl, source, 'ssh');
      await audit.append(tx, {
        action: 'auth.login.succeeded',
        outcome: 'success',
        actor: user.name,
        target: user.name,
        source,
        details: { channel: 'ssh', method: 'keyboard-interactive', loginId: login.id, expiresAt: login.expiresAt.toISOString(), ...requested },
      });
      return login;
    });
  }

  /**
   * A bearer token → the user and login behind it. Beyond the JWT checks: the login
   * must exist, be unrevoked and unexpired, and the user active. The role comes from
   * the database, not the token, so a role change applies at once.
   */
  async authenticateToken(token: string): Promise<Authenticated> {
    const claims = await this.tokens.verify(token);
    const login = await this.logins.get(claims.jti);
    if (!login || login.userId !== claims.sub) throw new AirlockError('ERR_TOKEN_INVALID', 'invalid token', { details: { reason: 'no such login' } });
    if (login.revokedAt) throw new AirlockError('ERR_TOKEN_REVOKED', 'this airlock login was ended: run "airlock login" again');
    if (!this.logins.isLive(login)) throw new AirlockError('ERR_TOKEN_EXPIRED', 'your airlock login has expired: run "airlock login" again');
    const user = await this.users.getById(login.userId);
    if (!user) throw new AirlockError('ERR_TOKEN_INVALID', 'invalid token');
    if (user.status !== 'active') throw new AirlockError('ERR_ACCOUNT_DISABLED', 'this account is disabled');
    return { user, login };
  }

  /** Ends a login (logout, or an admin revoking it). Idempotent. */
  async revokeLogin(loginId: string, actor: Actor, reason: string): Promise<Login> {
    const { db, audit } = this.deps;
    return db.transaction(async (tx) => {
      const existing = await this.logins.get(loginId, tx);
      if (!existing) throw new AirlockError('ERR_NOT_FOUND', `no login ${loginId}`);
      const revoked = await this.logins.revoke(tx, loginId, reason);
      if (!revoked) return existing;
      await audit.append(tx, {
        action: reason === 'logout' ? 'auth.logout' : 'auth.login.revoked',
        outcome: 'success',
        actor: actor.name,
        source: actor.source,
        target: loginId,
        details: { reason, userId: existing.userId },
      });
      return revoked;
    });
  }

  /**
   * An OpenSSH certificate offered at the SSH front door, checked in full
   * (identity/cert-verify.ts): CA, signature, window, principal, options, the
   * live login behind it, the user, and the client's own signature.
   */
  verifyCertificate(offer: CertOffer): Promise<CertCheck> {
    return checkCertificate({ ca: this.ca, logins: this.logins, users: this.users, clock: this.deps.clock }, offer);
  }

  /** Admin: clear a user's lockout and failure count. */
  async unlock(name: string, actor: Actor): Promise<void> {
    const user = await this.users.get(name);
    await this.deps.db.transaction(async (tx) => {
      const cleared = await this.throttle.clear(tx, `user:${user.id}`);
      await this.deps.audit.append(tx, {
        action: 'user.unlocked',
        outcome: 'success',
        actor: actor.name,
        source: actor.source,
        target: name,
        details: { wasThrottled: cleared },
      });
    });
  }
}

/** "ssh-ed25519 AAAA… [comment]" → the raw 32-byte key; only Ed25519 is certified. */
export function parseEd25519PublicKey(line: string): Buffer {
  const [algo, b64] = line.trim().split(/\s+/);
  const raw = algo === 'ssh-ed25519' && b64 && b64.length < 200 ? plainEd25519(Buffer.from(b64, 'base64')) : undefined;
  if (!raw) throw new AirlockError('ERR_PUBLIC_KEY_INVALID', 'publicKey must be an OpenSSH Ed25519 public key line ("ssh-ed25519 AAAA…")');
  return raw;
}
