import { Router } from 'express';
import { z } from 'zod';
import { AirlockError } from '../../core/index.js';
import type { WebDeps } from '../deps.js';
import { listSessionRows } from '../../gateway/index.js';
import { authenticate, requireRole, actorOf } from '../auth.js';
import { fromZod } from '../errors.js';
import { idParam } from '../ids.js';
import { accessContext } from '../access-context.js';

const listQuery = z.object({
  user: z.string().max(32).optional(),
  target: z.string().max(63).optional(),
  active: z.enum(['1', 'true']).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

/**
 * Session history and live sessions. Engineers see only their own; approvers,
 * auditors and admins see all; approvers and admins may terminate a live one.
 */
export function sessionRoutes(s: WebDeps): Router {
  const r = Router();
  r.use(authenticate(s.identity));

  r.get('/', requireRole('admin', 'approver', 'auditor', 'engineer'), async (req, res) => {
    const q = listQuery.safeParse(req.query);
    if (!q.success) throw fromZod(q.error);
    const me = req.auth!.user;
    const sessions = await listSessionRows(s.db, {
      user: me.role === 'engineer' ? me.name : q.data.user,
      target: q.data.target,
      active: q.data.active !== undefined,
      limit: q.data.limit,
    });
    res.json({ sessions: sessions.map((row) => ({ ...row, live: live(s, row.id) })) });
  });

  r.get('/:id', requireRole('admin', 'approver', 'auditor', 'engineer'), async (req, res) => {
    const me = req.auth!.user;
    const id = await idParam(s, req, { table: 'sessions', noun: 'session', ...(me.role === 'engineer' ? { visible: { column: 'user_name', value: me.name } } : {}) });
    const row = (await listSessionRows(s.db, { id }))[0];
    if (!row) throw new AirlockError('ERR_NOT_FOUND', 'no such session');
    res.json({ session: { ...row, live: live(s, row.id), access: await accessContext(s, row.requestId) } });
  });

  r.post('/:id/terminate', requireRole('admin', 'approver'), async (req, res) => {
    const id = await idParam(s, req, { table: 'sessions', noun: 'session' });
    const body = z.strictObject({ reason: z.string().max(200).optional() }).safeParse(req.body ?? {});
    if (!body.success) throw fromZod(body.error);
    const actor = actorOf(req);
    const reason = `session terminated by ${actor.name}${body.data.reason ? `: ${body.data.reason}` : ''}`;
    if (!s.sessions.terminate(id, reason)) throw new AirlockError('ERR_NOT_FOUND', 'no live session with that id on this node');
    await s.audit.record({ action: 'session.terminated', outcome: 'success', actor: actor.name, source: actor.source, target: id, details: { reason: body.data.reason ?? null } });
    res.json({ ok: true });
  });

  return r;
}

function live(s: WebDeps, id: string) {
  const l = s.sessions.get(id);
  return l ? { bytesIn: l.bytesIn, bytesOut: l.bytesOut, channels: l.channels.length } : null;
}
