import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { AuditLog, Clock, Config, Db, Queryable, Scheduler, Timer } from '../core/index.js';
import { AirlockError } from '../core/index.js';
import type { User } from '../identity/index.js';
import type { Target } from './targets.js';

/**
 * Break-glass access requests. An engineer asks for a target (login, duration,
 * reason, ticket, file transfer, forwarding); internal approvers decide. The
 * rules live here, enforced inside one transaction per change with the request
 * row locked, so concurrent approve/deny/revoke calls give exactly one outcome:
 *  - nobody approves their own request; only approvers and admins approve;
 *  - critical targets need approvals from distinct people (one person twice counts once);
 *  - an approval can narrow (shorter, no file transfer, no forwarding) but never widen;
 *  - a pending request expires after policy.requestTimeout.
 * Every change is an audit event, and an event on this emitter (for live UIs and
 * engineers waiting in their SSH session).
 */
export type RequestStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'cancelled' | 'revoked';

export interface AccessRequest {
  id: string;
  userId: string;
  userName: string;
  targetId: string;
  targetName: string;
  login: string;
  sensitivity: string;
  approvalsNeeded: number;
  durationMs: number;
  reason: string | null;
  ticket: string | null;
  wantSftp: boolean;
  wantForwarding: boolean;
  source: string | null;
  status: RequestStatus;
  createdAt: Date;
  pendingUntil: Date;
  decidedAt: Date | null;
  decidedBy: string | null;
  decisionComment: string | null;
  grantedFrom: Date | null;
  grantedUntil: Date | null;
  grantedSftp: boolean | null;
  grantedForwarding: boolean | null;
  revokedAt: Date | null;
  revokedBy: string | null;
  revokeComment: string | null;
  approvals: Array<{ approver: string; at: Date; comment: string | null }>;
}

export interface RequestEvent {
  type: 'request.created' | 'request.approval' | 'request.decided' | 'request.expired' | 'request.cancelled' | 'grant.revoked';
  request: AccessRequest;
  actor?: string;
}

export interface NewRequest {
  login: string;
  durationMs?: number | undefined;
  reason?: string | undefined;
  ticket?: string | undefined;
  sftp?: boolean | undefined;
  forwarding?: boolean | undefined;
  source?: string | undefined;
}

export interface Decision {
  comment?: string | undefined;
  /** Narrowing only. */
  durationMs?: number | undefined;
  sftp?: boolean | undefined;
  forwarding?: boolean | undefined;
}

interface Row {
  [k: string]: unknown;
}

const MAX_TEXT = 1000;

function toRequest(r: Row, approvals: Array<{ approver: string; at: Date; comment: string | null }>): AccessRequest {
  return {
    id: r['id'] as string,
    userId: r['user_id'] as string,
    userName: r['user_name'] as string,
    targetId: r['target_id'] as string,
    targetName: r['target_name'] as string,
    login: r['login'] as string,
    sensitivity: r['sensitivity'] as string,
    approvalsNeeded: r['approvals_needed'] as number,
    durationMs: r['duration_ms'] as number,
    reason: r['reason'] as string | null,
    ticket: r['ticket'] as string | null,
    wantSftp: r['want_sftp'] as boolean,
    wantForwarding: r['want_forwarding'] as boolean,
    source: r['source'] as string | null,
    status: r['status'] as RequestStatus,
    createdAt: r['created_at'] as Date,
    pendingUntil: r['pending_until'] as Date,
    decidedAt: r['decided_at'] as Date | null,
    decidedBy: r['decided_by'] as string | null,
    decisionComment: r['decision_comment'] as string | null,
    grantedFrom: r['granted_from'] as Date | null,
    grantedUntil: r['granted_until'] as Date | null,
    grantedSftp: r['granted_sftp'] as boolean | null,
    grantedForwarding: r['granted_forwarding'] as boolean | null,
    revokedAt: r['revoked_at'] as Date | null,
    revokedBy: r['revoked_by'] as string | null,
    revokeComment: r['revoke_comment'] as string | null,
    approvals,
  };
}

export class AccessRequests extends EventEmitter {
  #sweep: Timer | undefined;

  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly scheduler: Scheduler,
    private readonly policy: Config['policy'],
  ) {
    super();
    this.setMaxListeners(0); // one listener per waiting engineer and per event stream
  }

  tierOf(sensitivity: string): Config['policy']['standard'] {
    return this.policy[sensitivity as 'standard' | 'sensitive' | 'critical'] ?? this.policy.critical;
  }

  /** Creates a request, checking what the tier demands (reason, ticket format, duration). */
  async create(user: User, target: Target, input: NewRequest): Promise<AccessRequest> {
    const tier = this.tierOf(target.sensitivity);
    if (tier.approvals === 0) throw new AirlockError('ERR_APPROVAL_NOT_NEEDED', `${target.name} is ${target.sensitivity}: it needs no approval`);
    const reason = input.reason?.trim().slice(0, MAX_TEXT) || undefined;
    const ticket = input.ticket?.trim().slice(0, 100) || undefined;
    if (tier.reasonRequired && !reason) throw new AirlockError('ERR_REASON_REQUIRED', `a reason is required for ${target.sensitivity} targets`);
    if (tier.ticketRequired && !ticket) throw new AirlockError('ERR_TICKET_REQUIRED', `a ticket reference is required for ${target.sensitivity} targets`);
    if (ticket && !new RegExp(this.policy.ticketPattern).test(ticket)) {
      throw new AirlockError('ERR_TICKET_INVALID', `ticket "${ticket}" does not look like a ticket reference (${this.policy.ticketPattern})`);
    }
    const durationMs = Math.min(input.durationMs ?? tier.maxDuration, tier.maxDuration);
    if (!(durationMs >= 60_000)) throw new AirlockError('ERR_DURATION_INVALID', 'duration must be at least 1m');
    const id = randomUUID();
    const now = this.clock.now();
    await this.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO access_requests (id, user_id, user_name, target_id, target_name, login, sensitivity, approvals_needed, duration_ms,
           reason, ticket, want_sftp, want_forwarding, source, status, created_at, pending_until)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'pending', $15, $16)`,
        [
          id, user.id, user.name, target.id, target.name, input.login, target.sensitivity, tier.approvals, durationMs,
          reason ?? null, ticket ?? null, Boolean(input.sftp), Boolean(input.forwarding), input.source ?? null, now,
          new Date(now.getTime() + this.policy.requestTimeout),
        ],
      );
      await this.audit.append(tx, {
        action: 'request.created',
        outcome: 'info',
        actor: user.name,
        source: input.source,
        target: `${target.name}:${input.login}`,
        details: { requestId: id, sensitivity: target.sensitivity, durationMs, reason: reason ?? null, ticket: ticket ?? null, sftp: Boolean(input.sftp), forwarding: Boolean(input.forwarding) },
      });
    });
    const request = await this.get(id);
    this.emit('event', { type: 'request.created', request, actor: user.name } satisfies RequestEvent);
    return request;
  }

  async get(id: string, q: Queryable = this.db): Promise<AccessRequest> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) throw new AirlockError('ERR_NOT_FOUND', `no request ${id}`);
    const row = (await q.query<Row>('SELECT * FROM access_requests WHERE id = $1', [id])).rows[0];
    if (!row) throw new AirlockError('ERR_NOT_FOUND', `no request ${id}`);
    return toRequest(row, await this.#approvals(q, id));
  }

  async #approvals(q: Queryable, id: string) {
    return (
      await q.query<{ approver_name: string; at: Date; comment: string | null }>('SELECT approver_name, at, comment FROM request_approvals WHERE request_id = $1 ORDER BY at', [id])
    ).rows.map((a) => ({ approver: a.approver_name, at: a.at, comment: a.comment }));
  }

  async list(filter: { status?: RequestStatus; userId?: string; limit?: number } = {}): Promise<AccessRequest[]> {
    await this.expireDue();
    const rows = (
      await this.db.query<Row>(
        `SELECT * FROM access_requests WHERE ($1::text IS NULL OR status = $1) AND ($2::uuid IS NULL OR user_id = $2) ORDER BY created_at DESC LIMIT $3`,
        [filter.status ?? null, filter.userId ?? null, Math.min(filter.limit ?? 200, 1000)],
      )
    ).rows;
    return Promise.all(rows.map(async (r) => toRequest(r, await this.#approvals(this.db, r['id'] as string))));
  }

  /** The approved, unrevoked, unexpired request covering (user, target, login) now. */
  async activeGrant(userId: string, targetId: string, login: string): Promise<AccessRequest | undefined> {
    const row = (
      await this.db.query<Row>(
        `SELECT * FROM access_requests WHERE user_id = $1 AND target_id = $2 AND login = $3 AND status = 'approved'
           AND granted_until > $4 ORDER BY granted_until DESC LIMIT 1`,
        [userId, targetId, login, this.clock.now()],
      )
    ).rows[0];
    return row && toRequest(row, []);
  }

  /** An approval; decides the request once enough distinct approvers agree. */
  async approve(id: string, approver: User, decision: Decision = {}): Promise<AccessRequest> {
    this.#mayDecide(approver);
    let decided = false;
    const request = await this.db.transaction(async (tx) => {
      const req = await this.#lockPending(tx, id);
      if (req.userId === approver.id) throw new AirlockError('ERR_SELF_APPROVAL', 'nobody approves their own request');
      const durationMs = Math.min(decision.durationMs ?? req.durationMs, req.durationMs);
      const inserted = await tx.query(
        `INSERT INTO request_approvals (request_id, approver_id, approver_name, at, comment, duration_ms, allow_sftp, allow_forwarding)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (request_id, approver_id) DO NOTHING`,
        [id, approver.id, approver.name, this.clock.now(), decision.comment?.slice(0, MAX_TEXT) ?? null, durationMs, decision.sftp ?? req.wantSftp, decision.forwarding ?? req.wantForwarding],
      );
      if (inserted.rowCount === 0) throw new AirlockError('ERR_ALREADY_APPROVED', 'you already approved this request; another approver is needed');
      const votes = (
        await tx.query<{ n: number; d: number; sftp: boolean; fwd: boolean }>(
          `SELECT count(*)::int AS n, min(duration_ms)::bigint AS d, bool_and(allow_sftp) AS sftp, bool_and(allow_forwarding) AS fwd
           FROM request_approvals WHERE request_id = $1`,
          [id],
        )
      ).rows[0] as { n: number; d: number; sftp: boolean; fwd: boolean };
      await this.audit.append(tx, {
        action: 'request.approval',
        outcome: 'success',
        actor: approver.name,
        target: id,
        details: { approvals: votes.n, needed: req.approvalsNeeded, comment: decision.comment ?? null, ticket: req.ticket },
      });
      if (votes.n >= req.approvalsNeeded) {
        const now = this.clock.now();
        await tx.query(
          `UPDATE access_requests SET status = 'approved', decided_at = $2, decided_by = $3, decision_comment = $4,
             granted_from = $2, granted_until = $5, granted_sftp = $6, granted_forwarding = $7 WHERE id = $1`,
          [id, now, approver.name, decision.comment ?? null, new Date(now.getTime() + Number(votes.d)), req.wantSftp && votes.sftp, req.wantForwarding && votes.fwd],
        );
        await this.audit.append(tx, {
          action: 'request.approved',
          outcome: 'success',
          actor: approver.name,
          target: id,
          details: { user: req.userName, target: req.targetName, login: req.login, until: new Date(now.getTime() + Number(votes.d)).toISOString(), ticket: req.ticket },
        });
        decided = true;
      }
      return this.get(id, tx);
    });
    this.emit('event', { type: decided ? 'request.decided' : 'request.approval', request, actor: approver.name } satisfies RequestEvent);
    return request;
  }

  async deny(id: string, approver: User, comment: string): Promise<AccessRequest> {
    this.#mayDecide(approver);
    if (!comment.trim()) throw new AirlockError('ERR_COMMENT_REQUIRED', 'say why the request is denied');
    const request = await this.db.transaction(async (tx) => {
      const req = await this.#lockPending(tx, id);
      if (req.userId === approver.id) throw new AirlockError('ERR_SELF_APPROVAL', 'nobody decides their own request');
      await tx.query(`UPDATE access_requests SET status = 'denied', decided_at = $2, decided_by = $3, decision_comment = $4 WHERE id = $1`, [
        id,
        this.clock.now(),
        approver.name,
        comment.slice(0, MAX_TEXT),
      ]);
      await this.audit.append(tx, { action: 'request.denied', outcome: 'success', actor: approver.name, target: id, details: { comment, user: req.userName, ticket: req.ticket } });
      return this.get(id, tx);
    });
    this.emit('event', { type: 'request.decided', request, actor: approver.name } satisfies RequestEvent);
    return request;
  }

  async cancel(id: string, user: User): Promise<AccessRequest> {
    const request = await this.db.transaction(async (tx) => {
      const req = await this.#lockPending(tx, id);
      if (req.userId !== user.id) throw new AirlockError('ERR_NOT_FOUND', `no request ${id}`);
      await tx.query(`UPDATE access_requests SET status = 'cancelled', decided_at = $2, decided_by = $3 WHERE id = $1`, [id, this.clock.now(), user.name]);
      await this.audit.append(tx, { action: 'request.cancelled', outcome: 'info', actor: user.name, target: id });
      return this.get(id, tx);
    });
    this.emit('event', { type: 'request.cancelled', request, actor: user.name } satisfies RequestEvent);
    return request;
  }

  /** Ends an approved grant now; its sessions end within seconds (SessionWatch). */
  async revoke(id: string, by: User, comment: string): Promise<AccessRequest> {
    this.#mayDecide(by);
    const request = await this.db.transaction(async (tx) => {
      const row = (await tx.query<Row>('SELECT * FROM access_requests WHERE id = $1 FOR UPDATE', [id])).rows[0];
      if (!row || row['status'] !== 'approved') throw new AirlockError('ERR_NOT_REVOCABLE', 'only an approved grant can be revoked');
      await tx.query(`UPDATE access_requests SET status = 'revoked', revoked_at = $2, revoked_by = $3, revoke_comment = $4 WHERE id = $1`, [
        id,
        this.clock.now(),
        by.name,
        comment.slice(0, MAX_TEXT),
      ]);
      await this.audit.append(tx, { action: 'grant.revoked', outcome: 'success', actor: by.name, target: id, details: { comment, user: row['user_name'], target: row['target_name'] } });
      return this.get(id, tx);
    });
    this.emit('event', { type: 'grant.revoked', request, actor: by.name } satisfies RequestEvent);
    return request;
  }

  /** Of these approved requests, the ones revoked since: for ending their sessions. */
  async revokedAmong(ids: string[]): Promise<Map<string, string>> {
    if (ids.length === 0) return new Map();
    const rows = (
      await this.db.query<{ id: string; revoked_by: string | null; revoke_comment: string | null }>(
        `SELECT id, revoked_by, revoke_comment FROM access_requests WHERE id = ANY($1::uuid[]) AND status = 'revoked'`,
        [ids],
      )
    ).rows;
    return new Map(rows.map((r) => [r.id, `your access was revoked by ${r.revoked_by ?? 'an approver'}${r.revoke_comment ? `: ${r.revoke_comment}` : ''}`]));
  }

  /** Pending requests past their deadline become expired (audited, announced). */
  async expireDue(): Promise<void> {
    const rows = (
      await this.db.query<{ id: string }>(
        `UPDATE access_requests SET status = 'expired', decided_at = $1 WHERE status = 'pending' AND pending_until <= $1 RETURNING id`,
        [this.clock.now()],
      )
    ).rows;
    for (const { id } of rows) {
      await this.audit.record({ action: 'request.expired', outcome: 'info', actor: 'system', target: id });
      this.emit('event', { type: 'request.expired', request: await this.get(id) } satisfies RequestEvent);
    }
  }

  start(): void {
    this.#sweep ??= this.scheduler.every(5000, () => void this.expireDue().catch(() => {}));
  }

  stop(): void {
    this.#sweep?.cancel();
    this.#sweep = undefined;
  }

  #mayDecide(user: User): void {
    if (user.role !== 'approver' && user.role !== 'admin') throw new AirlockError('ERR_NOT_AN_APPROVER', 'only internal approvers decide access requests');
    if (user.status !== 'active') throw new AirlockError('ERR_ACCOUNT_DISABLED', 'this account is disabled');
  }

  async #lockPending(tx: Queryable, id: string): Promise<AccessRequest> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) throw new AirlockError('ERR_NOT_FOUND', `no request ${id}`);
    const row = (await tx.query<Row>('SELECT * FROM access_requests WHERE id = $1 FOR UPDATE', [id])).rows[0];
    if (!row) throw new AirlockError('ERR_NOT_FOUND', `no request ${id}`);
    const req = toRequest(row, []);
    if (req.status === 'pending' && req.pendingUntil.getTime() <= this.clock.now().getTime()) {
      throw new AirlockError('ERR_REQUEST_EXPIRED', 'this request has expired');
    }
    if (req.status !== 'pending') throw new AirlockError('ERR_REQUEST_NOT_PENDING', `this request is already ${req.status}`);
    return req;
  }
}
