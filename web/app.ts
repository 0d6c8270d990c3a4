import express from 'express';
import type { Express } from 'express';
import type { WebDeps } from './deps.js';
import { publicMessage } from '../core/index.js';
import { errorHandler, notFound } from './errors.js';
import { homePage } from './home.js';
import { authRoutes } from './routes/auth.js';
import { userRoutes } from './routes/users.js';
import { auditRoutes } from './routes/audit.js';
import { targetRoutes } from './routes/targets.js';
import { grantRoutes } from './routes/grants.js';
import { sessionRoutes } from './routes/sessions.js';
import { caRoutes } from './routes/ca.js';
import { recordingRoutes } from './routes/recordings.js';
import { commandRoutes } from './routes/commands.js';
import { requestRoutes } from './routes/requests.js';
import { authenticate, requireRole, actorOf } from './auth.js';
import { ROLES } from '../identity/index.js';

/** Named checks behind /readyz; later components (SSH, recordings) add theirs. */
export type ReadinessCheck = () => Promise<{ ok: boolean; message?: string }>;

export interface AppOptions {
  readiness?: Record<string, ReadinessCheck>;
  /** Facts for GET /api/v1/status (SSH fingerprint and so on). */
  status?: () => Record<string, unknown>;
  version?: string;
}

export function createApp(s: WebDeps, options: AppOptions = {}): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', s.config.web.trustProxy);
  app.set('json spaces', 0);

  app.use((_req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
    next();
  });

  app.get('/', homePage);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  const readiness: Record<string, ReadinessCheck> = {
    database: async () => {
      await s.db.query('SELECT 1');
      return { ok: true };
    },
    ...options.readiness,
  };
  const runChecks = async () => {
    const checks: Record<string, { ok: boolean; message?: string }> = {};
    for (const [name, check] of Object.entries(readiness)) {
      try {
        checks[name] = await check();
      } catch (err) {
        s.logger.warn({ err, check: name }, 'readiness check failed');
        checks[name] = { ok: false, message: publicMessage(err, 'the check failed; see the airlock log') };
      }
    }
    return { ok: Object.values(checks).every((c) => c.ok), checks };
  };
  // For load balancers and anyone else: ready or not, and nothing about why
  // beyond a generic line (the details name paths and errors; admins read them
  // at GET /api/v1/readiness).
  app.get('/readyz', async (_req, res) => {
    const { ok } = await runChecks();
    res.status(ok ? 200 : 503).json(ok ? { status: 'ready' } : { status: 'not ready', reason: 'a component airlock needs is unavailable' });
  });

  // Only JSON bodies, strictly parsed (objects and arrays), size-capped.
  app.use('/api', express.json({ limit: s.config.web.maxBodyBytes, strict: true, type: ['application/json', 'application/*+json'] }));

  const api = express.Router();
  api.use(authRoutes(s));
  api.use('/users', userRoutes(s));
  api.use('/audit', auditRoutes(s));
  api.use('/targets', targetRoutes(s));
  api.use('/grants', grantRoutes(s));
  api.use('/sessions', sessionRoutes(s));
  api.use('/ca', caRoutes(s));
  api.use('/recordings', recordingRoutes(s));
  api.use('/commands', commandRoutes(s));
  api.use('/requests', requestRoutes(s));
  api.get('/readiness', authenticate(s.identity), requireRole('admin'), async (_req, res) => {
    const { ok, checks } = await runChecks();
    res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'not ready', checks });
  });
  api.get('/status', authenticate(s.identity), requireRole(...ROLES), (_req, res) => {
    res.json({ version: options.version ?? null, database: s.db.engine, masterKey: s.vault.fingerprint, ...(options.status?.() ?? {}) });
  });
  api.get('/keys/jwks', authenticate(s.identity), requireRole(...ROLES), async (_req, res) => {
    res.json(await s.identity.tokens.jwks());
  });
  api.post('/keys/rotate', authenticate(s.identity), requireRole('admin'), async (req, res) => {
    const kid = await s.identity.tokens.rotate();
    await s.audit.record({ action: 'keys.api_token.rotated', outcome: 'success', actor: actorOf(req).name, source: actorOf(req).source, details: { kid } });
    res.json({ kid });
  });
  app.use('/api/v1', api);

  app.use(notFound);
  app.use(errorHandler(s.logger));
  return app;
}
