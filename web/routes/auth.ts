import { Router } from 'express';
import { z } from 'zod';
import { parseDuration, AirlockError } from '../../core/index.js';
import type { WebDeps } from '../deps.js';
import { authenticate, requireRole, actorOf, clientAddress } from '../auth.js';
import { fromZod } from '../errors.js';
import { idParam } from '../ids.js';
import { ROLES } from '../../identity/index.js';
import type { Login, User } from '../../identity/index.js';

const loginBody = z.strictObject({
  user: z.string().min(1).max(64),
  password: z.string().min(1).max(1024),
  totp: z.string().min(1).max(16),
  /** How long the login should last, e.g. "1h"; capped by auth.maxLoginTtl. */
  ttl: z.string().max(16).optional(),
  /** The engineer's Ed25519 public key ("ssh-ed25519 AAAA…") to certify for SSH. */
  publicKey: z.string().max(1024).optional(),
  /** Pin the certificate to the address this login comes from. */
  pinSource: z.boolean().optional(),
});

export function publicUser(u: User) {
  return {
    id: u.id,
    name: u.name,
    role: u.role,
    status: u.status,
    org: u.org,
    email: u.email,
    mfaEnrolled: u.mfaEnrolled,
    createdAt: u.createdAt,
    updatedAt: u.updatedAt,
  };
}

export function publicLogin(l: Login) {
  return {
    id: l.id,
    userId: l.userId,
    kind: l.kind,
    source: l.source,
    createdAt: l.createdAt,
    expiresAt: l.expiresAt,
    revokedAt: l.revokedAt,
    revokedReason: l.revokedReason,
    certSerial: l.certSerial,
  };
}

export function authRoutes(s: WebDeps): Router {
  const r = Router();
  const auth = authenticate(s.identity);

  r.post('/login', async (req, res) => {
    const parsed = loginBody.safeParse(req.body);
    if (!parsed.success) throw fromZod(parsed.error);
    const { user, password, totp, ttl, publicKey, pinSource } = parsed.data;
    const ttlMs = ttl === undefined ? undefined : parseDuration(ttl);
    if (ttl !== undefined && (ttlMs === undefined || ttlMs < 60_000)) throw new AirlockError('ERR_LOGIN_TTL', 'invalid request: ttl: expected a duration of at least 1m, like 30m or 8h');
    const result = await s.identity.login(
      { name: user, password, totp, source: clientAddress(req) },
      {
        channel: 'api',
        ttlMs,
        publicKey,
        pinSource,
        permitForwarding: async (u) => (await s.grants.list({ userId: u.id, live: true })).some((g) => g.allowForwarding),
        mayUseSsh: (u) => s.config.ssh.allowedRoles.includes(u.role),
      },
    );
    res.status(201).json({
      token: result.token,
      login: publicLogin(result.login),
      user: publicUser(result.user),
      ssh: publicKey === undefined ? null : result.certificate ? 'certified' : 'role_not_allowed',
      ...(result.certificate
        ? { certificate: { line: result.certificate.line, serial: result.certificate.serial.toString(), keyId: result.certificate.keyId, ca: result.certificate.caFingerprint } }
        : {}),
    });
  });

  r.post('/logout', auth, async (req, res) => {
    const { login } = req.auth!;
    await s.identity.revokeLogin(login.id, actorOf(req), 'logout');
    res.json({ ok: true, loginId: login.id });
  });

  r.get('/me', auth, (req, res) => {
    const { user, login } = req.auth!;
    res.json({ user: publicUser(user), login: publicLogin(login) });
  });

  /** Admins see every live login; anyone else their own. */
  r.get('/logins', auth, requireRole(...ROLES), async (req, res) => {
    const { user } = req.auth!;
    const logins = await s.identity.logins.listLive(user.role === 'admin' ? undefined : user.id);
    res.json({ logins: logins.map(publicLogin) });
  });

  r.post('/logins/:id/revoke', auth, requireRole(...ROLES), async (req, res) => {
    const { user } = req.auth!;
    // Someone else's login is "not found" to a non-admin: no hint that it exists.
    const id = await idParam(s, req, { table: 'logins', noun: 'login', ...(user.role === 'admin' ? {} : { visible: { column: 'user_id', value: user.id } }) });
    const login = await s.identity.logins.get(id);
    if (!login) throw new AirlockError('ERR_NOT_FOUND', 'no such login');
    const revoked = await s.identity.revokeLogin(login.id, actorOf(req), user.role === 'admin' && login.userId !== user.id ? 'revoked by admin' : 'logout');
    res.json({ login: publicLogin(revoked) });
  });

  return r;
}
