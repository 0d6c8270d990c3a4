import { Router } from 'express';
import type { WebDeps } from '../deps.js';
import { ROLES } from '../../identity/index.js';
import { authenticate, requireRole, actorOf } from '../auth.js';

/** The SSH user CA: its public keys for anyone logged in; rotation for admins. */
export function caRoutes(s: WebDeps): Router {
  const r = Router();
  r.use(authenticate(s.identity));

  r.get('/', requireRole(...ROLES), (_req, res) => {
    res.json({ keys: s.identity.ca.publicKeys() });
  });

  r.post('/rotate', requireRole('admin'), async (req, res) => {
    const line = await s.identity.ca.rotate();
    const actor = actorOf(req);
    await s.audit.record({ action: 'keys.ssh_ca.rotated', outcome: 'success', actor: actor.name, source: actor.source, details: { publicKey: line } });
    res.json({ keys: s.identity.ca.publicKeys() });
  });

  return r;
}
