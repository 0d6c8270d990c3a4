import { AirlockError } from '../core/index.js';
import type { User } from '../identity/index.js';
import type { Grant, Grants } from './grants.js';
import type { AccessRequests } from './requests.js';
import type { Target, Targets } from './targets.js';

/**
 * Decides whether a user may open a session on a target as a login, and with what
 * scope: an active user, a live grant, a login the grant names (or the target's
 * default); and for sensitive and critical targets also an approved break-glass
 * request for that login that has not ended (approvals/requests.ts). The scope is
 * the narrower of grant and approval, and ends when the approval ends.
 *
 * A denial carries an error code (core/errors.ts) and two messages: `reason`
 * for the user (general, never naming targets they cannot use) and `detail` for
 * the audit log. denialError() makes the error a caller throws.
 */
export interface AccessScope {
  target: Target;
  login: string;
  grant: Grant;
  allowSftp: boolean;
  allowForwarding: boolean;
  /** The approved request behind this access (sensitive and critical targets). */
  requestId?: string;
  /** When access ends, if sooner than the login: the approval's end. */
  until?: Date;
}

export type AccessDenial =
  | { allowed: false; reason: string; detail: string; code: 'ERR_NO_ACCESS' | 'ERR_LOGIN_NOT_GRANTED' | 'ERR_ACCOUNT_DISABLED' }
  | { allowed: false; reason: string; detail: string; code: 'ERR_APPROVAL_REQUIRED'; target: Target; login: string };

export type AccessDecision = { allowed: true; scope: AccessScope } | AccessDenial;

/** The error to throw for a denial: the user's reason as message, the audit detail kept. */
export function denialError(d: AccessDenial): AirlockError {
  return new AirlockError(d.code, d.reason, { details: { detail: d.detail } });
}

export class AccessPolicy {
  constructor(
    private readonly targets: Targets,
    private readonly grants: Grants,
    private readonly requests: AccessRequests,
  ) {}

  async decide(user: User, targetName: string, requestedLogin: string | undefined): Promise<AccessDecision> {
    if (user.status !== 'active') return { allowed: false, code: 'ERR_ACCOUNT_DISABLED', reason: 'your account is disabled', detail: 'user disabled' };
    const unknown = {
      allowed: false as const,
      code: 'ERR_NO_ACCESS' as const,
      reason: `no target "${targetName}" is available to you`,
    };
    const target = await this.targets.find(targetName);
    if (!target) return { ...unknown, detail: 'no such target' };
    const grant = await this.grants.live(user.id, target.id);
    if (!grant) return { ...unknown, detail: 'no live grant' };
    const login = requestedLogin ?? target.defaultLogin;
    const allowedLogins = grant.logins.length ? grant.logins : [target.defaultLogin];
    if (!allowedLogins.includes(login) || !target.logins.includes(login)) {
      return {
        allowed: false,
        code: 'ERR_LOGIN_NOT_GRANTED',
        reason: `you may not log in to ${target.name} as "${login}" (allowed: ${allowedLogins.filter((l) => target.logins.includes(l)).join(', ') || 'none'})`,
        detail: allowedLogins.includes(login) ? `no credential for login ${login}` : `login ${login} not in grant`,
      };
    }
    if (this.requests.tierOf(target.sensitivity).approvals > 0) {
      const approved = await this.requests.activeGrant(user.id, target.id, login);
      if (!approved) {
        return {
          allowed: false,
          code: 'ERR_APPROVAL_REQUIRED',
          reason: `${target.name} is ${target.sensitivity}: approval required`,
          detail: `sensitivity ${target.sensitivity}, no approved request`,
          target,
          login,
        };
      }
      return {
        allowed: true,
        scope: {
          target,
          login,
          grant,
          allowSftp: grant.allowSftp && Boolean(approved.grantedSftp),
          allowForwarding: grant.allowForwarding && Boolean(approved.grantedForwarding),
          requestId: approved.id,
          until: approved.grantedUntil as Date,
        },
      };
    }
    return { allowed: true, scope: { target, login, grant, allowSftp: grant.allowSftp, allowForwarding: grant.allowForwarding } };
  }

  /** Targets the user holds a live grant for: the menu for a plain "ssh alice@airlock". */
  async available(user: User): Promise<Array<{ target: Target; grant: Grant }>> {
    const grants = await this.grants.list({ userId: user.id, live: true });
    const all = new Map((await this.targets.list()).map((t) => [t.id, t]));
    return grants.flatMap((g) => {
      const target = all.get(g.targetId);
      return target ? [{ target, grant: g }] : [];
    });
  }
}
