import type { Client } from 'ssh2';
import { AirlockError, isAirlockError } from '../core/index.js';
import type { AccessScope, Target } from '../approvals/index.js';
import { denialError } from '../approvals/index.js';
import type { Login, User } from '../identity/index.js';
import { connectTarget } from './connector.js';
import type { GatewayDeps } from './deps.js';
import type { LiveSession, SessionControl } from './sessions.js';

/**
 * The target phase of a connection: the policy decision, then airlock's own
 * SSH connection to the target with the injected credential, then the session
 * row. A target that needs break-glass approval is not an error here but an
 * answer (`approvalRequired`): the connection decides whether to ask for it in
 * the terminal. Every other refusal is an AirlockError with its code, audited
 * here with the specifics.
 */
export interface TargetLink {
  client: Client;
  scope: AccessScope;
  session: LiveSession;
}

export interface ApprovalNeeded {
  target: Target;
  login: string;
  /** For the engineer: "db01 is critical: approval required". */
  reason: string;
}

export type LinkResult = { ok: true; link: TargetLink } | { ok: false; approvalRequired: ApprovalNeeded };

export interface LinkRequest {
  user: User;
  login: Login;
  source: string;
  target: string;
  /** The target login the engineer asked for (user@target:login); default: the target's. */
  targetLogin: string | undefined;
}

export interface LinkHooks extends SessionControl {
  /** The engineer went away while the target connection was being made. */
  closed(): boolean;
  /** The target ended airlock's connection to it. */
  targetClosed(): void;
}

export async function openTargetLink(deps: GatewayDeps, req: LinkRequest, hooks: LinkHooks): Promise<LinkResult> {
  const { policy, targets, sessions, audit, config, logger, recordings } = deps;
  const { user, source } = req;
  const decision = await policy.decide(user, req.target, req.targetLogin);
  if (!decision.allowed) {
    await audit.record({
      action: 'session.denied',
      outcome: 'failure',
      actor: user.name,
      target: `${req.target}:${req.targetLogin ?? '-'}`,
      source,
      details: { reason: decision.code, detail: decision.detail },
    });
    if (decision.code === 'ERR_APPROVAL_REQUIRED') {
      return { ok: false, approvalRequired: { target: decision.target, login: decision.login, reason: decision.reason } };
    }
    throw denialError(decision);
  }
  const { scope } = decision;
  recordings.assertHealthy(); // fail closed: nothing runs unrecorded
  if (sessions.count() >= config.ssh.maxSessions) {
    throw new AirlockError('ERR_NODE_AT_CAPACITY', 'airlock is at its session limit; try again later');
  }
  if (sessions.countFor(user.id) >= config.ssh.maxSessionsPerUser) {
    throw new AirlockError('ERR_SESSION_LIMIT', `you already have ${config.ssh.maxSessionsPerUser} open sessions; close one first`);
  }
  const secret = await targets.secret(scope.target, scope.login);
  if (!secret) throw new AirlockError('ERR_TARGET_NO_CREDENTIAL', `airlock holds no credential for ${scope.target.name} as ${scope.login}; ask an administrator`);
  let client: Client;
  try {
    client = await connectTarget({ target: scope.target, login: scope.login, secret, timeoutMs: config.ssh.targetConnectTimeout });
  } catch (err) {
    const code = isAirlockError(err) ? err.code : 'ERR_TARGET_UNREACHABLE';
    await audit.record({
      action: code === 'ERR_HOST_KEY_MISMATCH' ? 'session.target.host_key_mismatch' : 'session.target.failed',
      outcome: 'failure',
      actor: user.name,
      target: `${scope.target.name}:${scope.login}`,
      source,
      details: { reason: code, ...(isAirlockError(err) ? (err.details ?? {}) : {}) },
    });
    logger.warn({ target: scope.target.name, code, err: (err as Error).message }, 'target connection failed');
    throw err;
  }
  if (hooks.closed()) {
    client.end();
    throw new AirlockError('ERR_ACCESS_ENDED', 'the engineer disconnected');
  }
  const approvalEnds = scope.until !== undefined && scope.until < req.login.expiresAt;
  let session: LiveSession;
  try {
    session = await sessions.start(
      {
        userId: user.id,
        userName: user.name,
        targetId: scope.target.id,
        targetName: scope.target.name,
        login: scope.login,
        source,
        loginId: req.login.id,
        loginKind: req.login.kind,
        expiresAt: approvalEnds ? (scope.until as Date) : req.login.expiresAt,
        expiresWith: approvalEnds ? 'approval' : 'login',
        ...(scope.requestId ? { requestId: scope.requestId } : {}),
      },
      hooks,
    );
  } catch (err) {
    // No session row (the database or the audit chain failed): no connection to the target either.
    client.end();
    throw err;
  }
  client.on('error', (err) => logger.debug({ err: err.message, session: session.id }, 'target connection error'));
  client.on('close', () => hooks.targetClosed());
  return { ok: true, link: { client, scope, session } };
}
