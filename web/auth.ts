import type { Request, RequestHandler } from 'express';
import { AirlockError } from '../core/index.js';
import type { Authenticated, Identity, Role, Actor } from '../identity/index.js';

/**
 * Bearer-token authentication and role checks. Every route under /api/v1 except
 * login passes `authenticate`, then `requireRole(...)` naming exactly the roles
 * that may call it: no route is open by default.
 */
declare module 'express-serve-static-core' {
  interface Request {
    auth?: Authenticated;
  }
}

export function authenticate(identity: Identity): RequestHandler {
  return async (req, _res, next) => {
    const header = req.headers.authorization;
    const match = header ? /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(header) : null;
    if (!match) return next(new AirlockError('ERR_UNAUTHENTICATED', 'log in first (no bearer token)'));
    try {
      req.auth = await identity.authenticateToken(match[1] as string);
      next();
    } catch (err) {
      next(err);
    }
  };
}

export function requireRole(...roles: Role[]): RequestHandler {
  return (req, _res, next) => {
    const role = req.auth?.user.role;
    if (!role) return next(new AirlockError('ERR_UNAUTHENTICATED', 'log in first'));
    if (!roles.includes(role)) return next(new AirlockError('ERR_ROLE_REQUIRED', `this needs the ${roles.join(' or ')} role`));
    next();
  };
}

export function clientAddress(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}

export function actorOf(req: Request): Actor {
  return { name: req.auth?.user.name ?? 'anonymous', source: clientAddress(req) };
}
