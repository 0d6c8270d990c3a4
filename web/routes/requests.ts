import { Router } from 'express';
import type { Request } from 'express';
import { z } from 'zod';
import { parseDuration, AirlockError } from '../../core/index.js';
import type { WebDeps } from '../deps.js';
import { ROLES } from '../../identity/index.js';
import { denialError } from '../../approvals/index.js';
import type { LiveCommand } from '../../recordings/index.js';
import type { RequestEvent } from '../../approvals/index.js';
import { authenticate, requireRole, clientAddress } from '../auth.js';
import { fromZod } from '../errors.js';
import { idParam } from '../ids.js';

/**
 * Break-glass requests. Engineers ask (and see their own); approvers and admins
 * decide, revoke and watch the live event stream; auditors read. Rules about who
 * may decide what live in approvals/requests.ts, not here.
 */
const durationText = z
  .string()
  .max(16)
  .transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: 'expected a duration like 30m or 2h' });
      return z.NEVER;
    }
    return ms;
  });

const newRequest = z.strictObject({
  target: z.string().min(1).max(63),
  login: z.string().min(1).max(32).optional(),
  duration: durationText.optional(),
  reason: z.string().max(1000).optional(),
  ticket: z.string().max(100).optional(),
  sftp: z.boolean().optional(),
  forwarding: z.boolean().optional(),
});

const decision = z.strictObject({
  comment: z.string().max(1000).optional(),
  duration: durationText.optional(),
  sftp: z.boolean().optional(),
  forwarding: z.boolean().optional(),
});

const withComment = z.strictObject({ comment: z.string().min(1).max(1000) });

export function requestRoutes(s: WebDeps): Router {
  const r = Router();
  r.use(authenticate(s.identity));

  /** The request's full id from an id or prefix; an engineer only finds their own. */
  const requestId = (req: Request) => {
    const me = req.auth!.user;
    return idParam(s, req, { table: 'access_requests', noun: 'request', ...(me.role === 'engineer' ? { visible: { column: 'user_id', value: me.id } } : {}) });
  };

  r.get('/', requireRole(...ROLES), async (req, res) => {
    const q = z.object({ status: z.enum(['pending', 'approved', 'denied', 'expired', 'cancelled', 'revoked']).optional() }).safeParse(req.query);
    if (!q.success) throw fromZod(q.error);
    const me = req.auth!.user;
    res.json({ requests: await s.requests.list({ ...q.data, ...(me.role === 'engineer' ? { userId: me.id } : {}) }) });
  });

  r.post('/', requireRole('engineer', 'admin'), async (req, res) => {
    const body = newRequest.safeParse(req.body);
    if (!body.success) throw fromZod(body.error);
    const me = req.auth!.user;
    const decisionNow = await s.policy.decide(me, body.data.target, body.data.login);
    if (decisionNow.allowed) throw new AirlockError('ERR_ALREADY_HAVE_ACCESS', `you already have access to ${body.data.target}`);
    if (decisionNow.code !== 'ERR_APPROVAL_REQUIRED') throw denialError(decisionNow);
    const request = await s.requests.create(me, decisionNow.target, {
      login: decisionNow.login,
      durationMs: body.data.duration,
      reason: body.data.reason,
      ticket: body.data.ticket,
      sftp: body.data.sftp,
      forwarding: body.data.forwarding,
      source: clientAddress(req),
    });
    res.status(201).json({ request });
  });

  /** Who may decide: the active approvers (approvers see who else may approve). */
  r.get('/approvers', requireRole(...ROLES), async (_req, res) => {
    const users = [...(await s.identity.users.list({ role: 'approver', status: 'active' })), ...(await s.identity.users.list({ role: 'admin', status: 'active' }))];
    res.json({ approvers: users.map((u) => ({ name: u.name, role: u.role, email: u.email })) });
  });

  /**
   * Server-Sent Events: request created, approved, decided, expired, cancelled;
   * grant revoked; and command.risky, a risky command in a live session, as
   * live analysis finds it (recordings/analyses.ts).
   */
  r.get('/events', requireRole('approver', 'admin', 'auditor'), (req, res) => {
    res.setHeader('Content-Type', 'text/event-stream');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    res.write(': airlock request events\n\n');
    const send = (e: RequestEvent) => res.write(`event: ${e.type}\ndata: ${JSON.stringify({ request: e.request, actor: e.actor ?? null })}\n\n`);
    const risky = (e: LiveCommand) => {
      if (e.command.risks.length === 0) return;
      const r = e.recording;
      const session = { id: r.sessionId, recording: r.id, user: r.userName, target: r.targetName, sensitivity: r.sensitivity };
      res.write(`event: command.risky\ndata: ${JSON.stringify({ session, command: e.command })}\n\n`);
    };
    const ping = s.scheduler.every(15_000, () => res.write(': ping\n\n'));
    s.requests.on('event', send);
    const unlisten = s.analyses.onLiveCommand(risky);
    req.on('close', () => {
      ping.cancel();
      s.requests.off('event', send);
      unlisten();
    });
  });

  r.get('/:id', requireRole(...ROLES), async (req, res) => {
    res.json({ request: await s.requests.get(await requestId(req)) });
  });

  r.post('/:id/approve', requireRole('approver', 'admin'), async (req, res) => {
    const body = decision.safeParse(req.body ?? {});
    if (!body.success) throw fromZod(body.error);
    const { duration, ...rest } = body.data;
    res.json({ request: await s.requests.approve(await requestId(req), req.auth!.user, { ...rest, durationMs: duration }) });
  });

  r.post('/:id/deny', requireRole('approver', 'admin'), async (req, res) => {
    const body = withComment.safeParse(req.body);
    if (!body.success) throw fromZod(body.error);
    res.json({ request: await s.requests.deny(await requestId(req), req.auth!.user, body.data.comment) });
  });

  r.post('/:id/cancel', requireRole('engineer', 'admin'), async (req, res) => {
    res.json({ request: await s.requests.cancel(await requestId(req), req.auth!.user) });
  });

  r.post('/:id/revoke', requireRole('approver', 'admin'), async (req, res) => {
    const body = withComment.safeParse(req.body);
    if (!body.success) throw fromZod(body.error);
    res.json({ request: await s.requests.revoke(await requestId(req), req.auth!.user, body.data.comment) });
  });

  return r;
}
