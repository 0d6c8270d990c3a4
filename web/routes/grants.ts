import { Router } from 'express';
import { z } from 'zod';
import { parseDuration, AirlockError } from '../../core/index.js';
import type { WebDeps } from '../deps.js';
import { authenticate, requireRole, actorOf } from '../auth.js';
import { fromZod } from '../errors.js';
import { idParam } from '../ids.js';

const newGrant = z.strictObject({
  user: z.string().min(1).max(32),
  target: z.string().min(1).max(63),
  logins: z.array(z.string().min(1).max(32)).max(32).optional(),
  sftp: z.boolean().optional(),
  forwarding: z.boolean().optional(),
  /** e.g. "30d"; omitted = until revoked. */
  expiresIn: z.string().max(16).optional(),
});

const listQuery = z.object({ user: z.string().max(32).optional(), target: z.string().max(63).optional(), all: z.enum(['1', 'true']).optional() });

export function grantRoutes(s: WebDeps): Router {
  const r = Router();
  r.use(authenticate(s.identity));

  r.get('/', requireRole('admin', 'approver', 'auditor', 'engineer'), async (req, res) => {
    const q = listQuery.safeParse(req.query);
    if (!q.success) throw fromZod(q.error);
    const me = req.auth!.user;
    // Engineers see their own grants only, whatever they ask for.
    const userName = me.role === 'engineer' ? me.name : q.data.user;
    const userId = userName ? (await s.identity.users.get(userName)).id : undefined;
    const targetId = q.data.target ? (await s.targets.get(q.data.target)).id : undefined;
    const grants = await s.grants.list({ ...(userId ? { userId } : {}), ...(targetId ? { targetId } : {}), live: q.data.all === undefined });
    res.json({ grants });
  });

  r.post('/', requireRole('admin'), async (req, res) => {
    const body = newGrant.safeParse(req.body);
    if (!body.success) throw fromZod(body.error);
    const user = await s.identity.users.get(body.data.user);
    const target = await s.targets.get(body.data.target);
    let expiresAt: Date | undefined;
    if (body.data.expiresIn) {
      const ms = parseDuration(body.data.expiresIn);
      if (!ms) throw new AirlockError('ERR_EXPIRY_INVALID', 'invalid request: expiresIn: expected a duration like 8h or 30d');
      expiresAt = new Date(s.clock.now().getTime() + ms);
    }
    const grant = await s.grants.grant(
      user,
      target,
      { logins: body.data.logins, allowSftp: body.data.sftp, allowForwarding: body.data.forwarding, expiresAt },
      actorOf(req),
    );
    res.status(201).json({ grant });
  });

  r.post('/:id/revoke', requireRole('admin'), async (req, res) => {
    const grant = await s.grants.revoke(await idParam(s, req, { table: 'grants', noun: 'grant' }), actorOf(req));
    res.json({ grant });
  });

  return r;
}
