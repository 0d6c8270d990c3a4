import type { AuthContext, KeyboardAuthContext, PublicKeyAuthContext } from 'ssh2';
import { AirlockError } from '../core/index.js';
import type { AuditLog, Config, Logger } from '../core/index.js';
import type { Identity, Login, User } from '../identity/index.js';
import type { Targets } from '../approvals/index.js';
import type { Guard } from './guard.js';
import { sshMessage } from './ssh-errors.js';
import { parseSshUser } from './ssh-user.js';
import type { SshUser } from './ssh-user.js';

/**
 * The authentication phase of one SSH connection: certificates from
 * `airlock login` (plain public keys are never a way in), or keyboard-
 * interactive password + verification code, and for critical targets a fresh
 * code after a certificate (partial success, then one prompt).
 *
 * The identity is decided only at the moment a request is accepted, from that
 * request's own user name (Warpgate CVE-2023-48712 switched identities between
 * attempts): `accepted` is called exactly then, and nothing else sets who the
 * connection belongs to. ssh2 refuses channels and global requests until then.
 */
export type AuthMethod = 'publickey' | 'keyboard-interactive' | 'certificate+totp';

export interface Authenticated {
  user: User;
  login: Login;
  spec: SshUser;
  method: AuthMethod;
}

export interface AuthDeps {
  config: Config;
  logger: Logger;
  audit: Pick<AuditLog, 'record'>;
  identity: Identity;
  targets: Pick<Targets, 'find'>;
}

/** Offered after "none": certificates first, then password + code. */
const METHODS = ['publickey', 'keyboard-interactive'] as const;
/** Plain keys a client may offer per allowed attempt (an agent with several keys tries each). */
const PROBES_PER_ATTEMPT = 4;

export class SshAuth {
  /** A certificate accepted as first factor, awaiting a fresh code (critical targets). */
  #pendingCert: { user: User; login: Login; username: string } | undefined;
  /** A valid certificate of a role that may not use SSH: said on the next keyboard-interactive round. */
  #roleRefused: { role: string; username: string } | undefined;
  #failures = 0;
  #exhausted = false;
  /** Unsigned plain-key queries ("would this key do?"). */
  #probes = 0;
  /** Failures already audited on this connection, by user and reason: repeats are counted, not written again. */
  readonly #audited = new Map<string, number>();

  constructor(
    private readonly deps: AuthDeps,
    private readonly conn: { end(): void },
    private readonly source: string,
    private readonly guard: Guard,
    private readonly accepted: (a: Authenticated) => void,
  ) {}

  async handle(ctx: AuthContext): Promise<void> {
    // Out of attempts and hanging up: what the client still sends meanwhile gets nothing, and no audit row.
    if (this.#exhausted) return ctx.reject([]);
    if (ctx.method === 'none') return ctx.reject([...METHODS]);
    // A changed user name abandons any half-finished login (CVE-2023-48712).
    if (this.#pendingCert && this.#pendingCert.username !== ctx.username) this.#pendingCert = undefined;
    if (this.#roleRefused && this.#roleRefused.username !== ctx.username) this.#roleRefused = undefined;
    const spec = parseSshUser(ctx.username);
    if (!spec) {
      await this.#auditFailure(ctx.username.slice(0, 64), 'invalid_user_name');
      return this.#reject(ctx, 'the user name must look like user@target (or just user for a menu)');
    }
    if (ctx.method === 'keyboard-interactive') return this.#keyboardInteractive(ctx, spec);
    if (ctx.method === 'publickey') return this.#publicKey(ctx, spec);
    // password and hostbased are not offered.
    return this.#reject(ctx);
  }

  /**
   * OpenSSH first asks whether a key would do (no signature), then signs; both
   * are checked in full by identity.verifyCertificate, the second also for the
   * client's signature.
   */
  async #publicKey(ctx: PublicKeyAuthContext, spec: SshUser): Promise<void> {
    const check = await this.deps.identity.verifyCertificate({
      username: spec.user,
      keyAlgo: ctx.key.algo,
      keyData: ctx.key.data,
      signature: ctx.signature,
      blob: ctx.blob,
      source: this.source,
    });
    if (!check.ok) {
      // A client offering the plain keys it has (unsigned queries) is normal and
      // not worth an audit row, but it is bounded. A certificate that fails, or
      // anything signed, counts as a failed attempt, signed or not: otherwise one
      // connection could send thousands of queries, each an audit row.
      if (!ctx.signature && check.reason === 'not_a_certificate') {
        if (++this.#probes > this.deps.config.ssh.maxAuthAttempts * PROBES_PER_ATTEMPT) return this.#tooMany(ctx);
        return ctx.reject([...METHODS]);
      }
      const reason = check.reason === 'not_a_certificate' ? 'publickey_not_accepted' : `certificate_${check.reason}`;
      await this.#auditFailure(spec.user, reason, { method: 'publickey', code: check.error.code, signed: Boolean(ctx.signature) });
      return this.#reject(ctx);
    }
    if (!ctx.signature) return ctx.accept(); // "this key would do": the signed request follows
    const { user, login } = check;
    if (!this.#roleMayUseSsh(user)) {
      await this.#auditFailure(user.name, 'role_not_allowed', { role: user.role, method: 'publickey' });
      // Publickey has no way to say why; the keyboard-interactive round that
      // OpenSSH tries next says it, instead of "wrong password" three times.
      this.#roleRefused = { role: user.role, username: ctx.username };
      this.#failures++;
      return ctx.reject(['keyboard-interactive']);
    }
    if (spec.target && (await this.#wantsFreshCode(spec.target))) {
      this.#pendingCert = { user, login, username: ctx.username };
      return ctx.reject(['keyboard-interactive'], true); // partial success: a code next
    }
    await this.#accept(ctx, user, login, spec, 'publickey');
  }

  #wantsFreshCode(targetName: string): Promise<boolean> {
    return wantsFreshCode(this.deps, targetName);
  }

  #roleMayUseSsh(user: User): boolean {
    return this.deps.config.ssh.allowedRoles.includes(user.role);
  }

  #keyboardInteractive(ctx: KeyboardAuthContext, spec: SshUser): void {
    if (this.#roleRefused) return this.#refuseRole(ctx, this.#roleRefused.role);
    const pending = this.#pendingCert;
    const prompts = pending
      ? [{ prompt: 'Verification code: ', echo: false }]
      : [
          { prompt: 'Password: ', echo: false },
          { prompt: 'Verification code: ', echo: false },
        ];
    const instruction = pending ? 'airlock: this target needs a fresh verification code.' : '';
    ctx.prompt(
      prompts,
      '',
      instruction,
      this.guard.wrap('keyboard-interactive answers', async (answers: string[] | Error) => {
        if (!Array.isArray(answers) || answers.length !== prompts.length) return this.#reject(ctx);
        let user: User;
        try {
          if (pending) {
            user = await this.deps.identity.verifyTotp(spec.user, answers[0] as string, this.source, 'ssh');
          } else {
            const [password, totp] = answers as [string, string];
            user = await this.deps.identity.authenticate({ name: spec.user, password, totp, source: this.source }, 'ssh');
          }
        } catch (err) {
          return this.#reject(ctx, sshMessage(err, this.deps.logger, { source: this.source, during: 'ssh login' }));
        }
        if (!this.#roleMayUseSsh(user)) {
          await this.#auditFailure(user.name, 'role_not_allowed', { role: user.role });
          return this.#refuseRole(ctx, user.role);
        }
        const login =
          pending && pending.user.id === user.id
            ? pending.login
            : await this.deps.identity.sshLogin(user, this.source, { target: spec.target ?? null, login: spec.login ?? null });
        await this.#accept(ctx, user, login, spec, pending ? 'certificate+totp' : 'keyboard-interactive');
      }),
    );
  }

  /** The one place an identity is set: from the request being accepted. */
  async #accept(ctx: AuthContext, user: User, login: Login, spec: SshUser, method: AuthMethod): Promise<void> {
    this.#pendingCert = undefined;
    if (method !== 'keyboard-interactive') {
      // keyboard-interactive logins were audited by identity.sshLogin already.
      await this.deps.audit.record({
        action: 'auth.ssh.accepted',
        outcome: 'success',
        actor: user.name,
        target: user.name,
        source: this.source,
        details: { method, loginId: login.id, certificateSerial: login.certSerial, target: spec.target ?? null },
      });
    }
    this.accepted({ user, login, spec, method });
    ctx.accept();
  }

  /** Not a wrong password: this role never opens SSH sessions. Say so once and hang up. */
  #refuseRole(ctx: KeyboardAuthContext, role: string): void {
    const error = new AirlockError('ERR_ROLE_NO_SSH', `the ${role} role may not open SSH sessions; use the web console or the airlock command instead`);
    ctx.prompt([], 'airlock', `airlock: ${sshMessage(error)}`, () => {
      ctx.reject([]);
      this.conn.end();
    });
  }

  /**
   * Refuses one attempt. With a message, it is shown first as the instruction of an
   * empty keyboard-interactive round (RFC 4256 §3.2 allows zero prompts; OpenSSH
   * prints the instruction), since SSH has no other way to say why mid-login.
   */
  #reject(ctx: AuthContext, message?: string): void {
    this.#failures++;
    const finish = () => {
      if (this.#failures >= this.deps.config.ssh.maxAuthAttempts) return this.#tooMany(ctx);
      ctx.reject([...METHODS]);
    };
    if (message && ctx.method === 'keyboard-interactive') ctx.prompt([], 'airlock', `airlock: ${message}`, finish);
    else finish();
  }

  /** The connection used up its attempts: one audit row with what was repeated, then hang up. */
  #tooMany(ctx: AuthContext): void {
    ctx.reject([]);
    if (this.#exhausted) return;
    this.#exhausted = true;
    this.deps.logger.info({ source: this.source, failures: this.#failures, probes: this.#probes }, 'too many authentication attempts; disconnecting');
    const repeated = Object.fromEntries([...this.#audited].filter(([, n]) => n > 1));
    this.guard.audit({
      action: 'auth.ssh.too_many_attempts',
      outcome: 'failure',
      source: this.source,
      details: { attempts: this.#failures, probes: this.#probes, ...(Object.keys(repeated).length ? { repeated } : {}) },
    });
    this.conn.end();
  }

  /** One audit row per user and reason on a connection; repeats are counted and reported by #tooMany. */
  async #auditFailure(name: string, reason: string, details: Record<string, unknown> = {}): Promise<unknown> {
    const key = `${name}:${reason}`;
    const seen = this.#audited.get(key) ?? 0;
    this.#audited.set(key, seen + 1);
    if (seen > 0) return;
    return this.deps.audit.record({
      action: 'auth.login.failed',
      outcome: 'failure',
      target: name,
      source: this.source,
      details: { channel: 'ssh', reason, ...details },
    });
  }
}

/** Critical targets ask for a fresh code on every connection, even with a certificate (ssh.freshTotpForCritical). */
export async function wantsFreshCode(deps: Pick<AuthDeps, 'config' | 'targets'>, targetName: string): Promise<boolean> {
  if (!deps.config.ssh.freshTotpForCritical) return false;
  return (await deps.targets.find(targetName))?.sensitivity === 'critical';
}
