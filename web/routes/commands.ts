import { Router } from 'express';
import { z } from 'zod';
import type { WebDeps } from '../deps.js';
import { ROLES } from '../../identity/index.js';
import { authenticate, requireRole, actorOf } from '../auth.js';
import { fromZod } from '../errors.js';
import { timeSpec } from '../query.js';
import type { Clock } from '../../core/index.js';

/**
 * Commands found in recordings by analysis, searchable across sessions: by
 * text, user, target, time, and risk. Auditors, approvers and admins search
 * everyone's; an engineer only their own. A search reads recording content, so
 * it is audited.
 */
const searchQuery = (clock: Clock) =>
  z.object({
    q: z.string().min(1).max(200).optional(),
    user: z.string().max(32).optional(),
    target: z.string().max(63).optional(),
    since: timeSpec(clock).optional(),
    until: timeSpec(clock).optional(),
    risky: z.enum(['true', 'false']).optional(),
    limit: z.coerce.number().int().min(1).max(1000).optional(),
  });

export function commandRoutes(s: WebDeps): Router {
  const r = Router();
  r.use(authenticate(s.identity), requireRole(...ROLES));

  r.get('/', async (req, res) => {
    const q = searchQuery(s.clock).safeParse(req.query);
    if (!q.success) throw fromZod(q.error);
    const me = req.auth!.user;
    const { q: text, risky, ...rest } = q.data;
    const commands = await s.analyses.search({ ...rest, text, risky: risky === 'true', ...(me.role === 'engineer' ? { user: me.name } : {}) });
    const actor = actorOf(req);
    await s.audit.record({ action: 'recording.searched', outcome: 'success', actor: actor.name, source: actor.source, details: { query: q.data, results: commands.length } });
    res.json({ commands });
  });

  return r;
}
