import { Router } from 'express';
import { z } from 'zod';
import type { WebDeps } from '../deps.js';
import { authenticate, requireRole, actorOf } from '../auth.js';
import { fromZod } from '../errors.js';
import { ROLES } from '../../identity/index.js';
import { publicUser } from './auth.js';

const newUser = z.strictObject({
  name: z.string().min(1).max(32),
  role: z.enum(ROLES),
  org: z.string().min(1).max(128).optional(),
  email: z.string().email().max(254).optional(),
  password: z.string().max(1024).optional(),
});

const listQuery = z.object({
  role: z.enum(ROLES).optional(),
  status: z.enum(['active', 'disabled']).optional(),
});

export function userRoutes(s: WebDeps): Router {
  const r = Router();
  r.use(authenticate(s.identity));

  r.get('/', requireRole('admin', 'auditor'), async (req, res) => {
    const q = listQuery.safeParse(req.query);
    if (!q.success) throw fromZod(q.error);
    res.json({ users: (await s.identity.users.list(q.data)).map(publicUser) });
  });

  r.post('/', requireRole('admin'), async (req, res) => {
    const body = newUser.safeParse(req.body);
    if (!body.success) throw fromZod(body.error);
    const enrolment = await s.identity.users.add(body.data, actorOf(req));
    res.status(201).json({ user: publicUser(enrolment.user), password: enrolment.password, totp: enrolment.totp });
  });

  r.get('/:name', requireRole('admin', 'auditor'), async (req, res) => {
    res.json({ user: publicUser(await s.identity.users.get(String(req.params['name']))) });
  });

  r.post('/:name/disable', requireRole('admin'), async (req, res) => {
    res.json({ user: publicUser(await s.identity.users.setStatus(String(req.params['name']), 'disabled', actorOf(req))) });
  });

  r.post('/:name/enable', requireRole('admin'), async (req, res) => {
    res.json({ user: publicUser(await s.identity.users.setStatus(String(req.params['name']), 'active', actorOf(req))) });
  });

  r.post('/:name/reset-mfa', requireRole('admin'), async (req, res) => {
    const enrolment = await s.identity.users.resetMfa(String(req.params['name']), actorOf(req));
    res.json({ user: publicUser(enrolment.user), totp: enrolment.totp });
  });

  r.post('/:name/unlock', requireRole('admin'), async (req, res) => {
    const name = String(req.params['name']);
    await s.identity.unlock(name, actorOf(req));
    res.json({ user: publicUser(await s.identity.users.get(name)) });
  });

  return r;
}
