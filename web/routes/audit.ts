import { Router } from 'express';
import { z } from 'zod';
import { verifyAuditChain } from '../../core/index.js';
import type { WebDeps } from '../deps.js';
import { authenticate, requireRole, actorOf } from '../auth.js';
import { fromZod } from '../errors.js';

const listQuery = z.object({
  after: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  action: z.string().max(64).regex(/^[a-z0-9_.]*$/).optional(),
  newest: z.enum(['1', 'true']).optional(),
});

export function auditRoutes(s: WebDeps): Router {
  const r = Router();
  r.use(authenticate(s.identity), requireRole('admin', 'auditor'));

  r.get('/', async (req, res) => {
    const q = listQuery.safeParse(req.query);
    if (!q.success) throw fromZod(q.error);
    const events = await s.audit.list({ afterSeq: q.data.after, limit: q.data.limit, action: q.data.action, newest: q.data.newest !== undefined });
    res.json({ events });
  });

  r.post('/verify', async (req, res) => {
    const report = await verifyAuditChain(s.db);
    await s.audit.record({
      action: 'audit.verified',
      outcome: report.ok ? 'success' : 'failure',
      ...actorFields(actorOf(req)),
      details: { checked: report.checked, firstBad: report.firstBad ?? null },
    });
    res.json(report);
  });

  return r;
}

function actorFields(actor: { name: string; source?: string | undefined }) {
  return { actor: actor.name, source: actor.source };
}
