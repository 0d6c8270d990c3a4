import { Router } from 'express';
import ssh2 from 'ssh2';
import { z } from 'zod';
import { AirlockError } from '../../core/index.js';
import type { WebDeps } from '../deps.js';
import { SENSITIVITIES } from '../../approvals/index.js';
import type { Target, TargetSecret } from '../../approvals/index.js';
import { scanHostKey } from '../../gateway/index.js';
import { parsePublicKeyLine, sshFingerprint as fingerprint } from '../../identity/index.js';
import { authenticate, requireRole, actorOf } from '../auth.js';
import { fromZod } from '../errors.js';

/**
 * Targets: admins manage them; approvers and auditors read them; engineers see
 * only the targets they hold a grant for, without connection details. No route
 * ever returns a target's secret.
 */
const secretFields = {
  /** OpenSSH or PEM private key text (unencrypted). */
  key: z.string().min(1).max(16 * 1024).optional(),
  password: z.string().min(1).max(1024).optional(),
};

const newTarget = z.strictObject({
  name: z.string().min(1).max(63),
  host: z.string().min(1).max(253),
  port: z.number().int().min(1).max(65535).default(22),
  login: z.string().min(1).max(32),
  sensitivity: z.enum(SENSITIVITIES).default('standard'),
  hostKey: z.string().max(16 * 1024).optional(),
  tags: z.array(z.string().min(1).max(64)).max(32).optional(),
  description: z.string().max(500).optional(),
  ...secretFields,
});

const targetUpdate = z.strictObject({
  host: z.string().min(1).max(253).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  defaultLogin: z.string().min(1).max(32).optional(),
  sensitivity: z.enum(SENSITIVITIES).optional(),
  hostKey: z.string().max(16 * 1024).nullable().optional(),
  tags: z.array(z.string().min(1).max(64)).max(32).optional(),
  description: z.string().max(500).optional(),
  /** With key or password: adds or replaces the credential for this login. */
  login: z.string().min(1).max(32).optional(),
  removeLogin: z.string().min(1).max(32).optional(),
  ...secretFields,
});

function secretOf(body: { key?: string | undefined; password?: string | undefined }): TargetSecret | undefined {
  if (body.key && body.password) throw new AirlockError('ERR_CREDENTIAL_INVALID', 'give a key or a password, not both');
  if (body.password) return { kind: 'password', secret: body.password };
  if (!body.key) return undefined;
  const parsed = ssh2.utils.parseKey(body.key);
  if (parsed instanceof Error || !parsed.isPrivateKey()) {
    throw new AirlockError('ERR_CREDENTIAL_INVALID', `key: not an unencrypted private key (${parsed instanceof Error ? parsed.message : 'public key given'})`);
  }
  return { kind: 'key', secret: body.key };
}

export function publicTarget(t: Target) {
  return {
    id: t.id,
    name: t.name,
    host: t.host,
    port: t.port,
    defaultLogin: t.defaultLogin,
    logins: t.logins,
    sensitivity: t.sensitivity,
    hostKey: t.hostKey,
    hostKeyFingerprint: t.hostKey ? fingerprint(parsePublicKeyLine(t.hostKey).blob) : null,
    tags: t.tags,
    description: t.description,
    createdAt: t.createdAt,
    updatedAt: t.updatedAt,
  };
}

export function targetRoutes(s: WebDeps): Router {
  const r = Router();
  r.use(authenticate(s.identity));

  r.get('/', requireRole('admin', 'approver', 'auditor', 'engineer'), async (req, res) => {
    const user = req.auth!.user;
    if (user.role === 'engineer') {
      const available = await s.policy.available(user);
      res.json({
        targets: available.map(({ target, grant }) => ({
          name: target.name,
          sensitivity: target.sensitivity,
          description: target.description,
          logins: grant.logins.length ? grant.logins : [target.defaultLogin],
          sftp: grant.allowSftp,
          forwarding: grant.allowForwarding,
        })),
      });
      return;
    }
    res.json({ targets: (await s.targets.list()).map(publicTarget) });
  });

  r.post('/', requireRole('admin'), async (req, res) => {
    const body = newTarget.safeParse(req.body);
    if (!body.success) throw fromZod(body.error);
    const secret = secretOf(body.data);
    if (!secret) throw new AirlockError('ERR_CREDENTIAL_MISSING', 'give the key or the password airlock logs in with');
    let hostKey = body.data.hostKey;
    let pinnedBy: 'admin' | 'scan' = 'admin';
    if (hostKey) {
      hostKey = hostKey.trim().split(/\s+/).slice(0, 2).join(' ');
    } else {
      // Trust on first use, by an admin who sees the fingerprint in the answer.
      hostKey = (await scanHostKey(body.data.host, body.data.port)).publicKey;
      pinnedBy = 'scan';
    }
    const target = await s.targets.add({ ...body.data, secret, hostKey }, actorOf(req));
    res.status(201).json({ target: publicTarget(target), hostKeyPinnedBy: pinnedBy });
  });

  r.get('/:name', requireRole('admin', 'approver', 'auditor'), async (req, res) => {
    res.json({ target: publicTarget(await s.targets.get(String(req.params['name']))) });
  });

  r.patch('/:name', requireRole('admin'), async (req, res) => {
    const body = targetUpdate.safeParse(req.body);
    if (!body.success) throw fromZod(body.error);
    const { key, password, login, hostKey, ...rest } = body.data;
    const secret = secretOf({ key, password });
    if (secret && !login) throw new AirlockError('ERR_CREDENTIAL_INVALID', 'name the login the key or password is for');
    const target = await s.targets.update(
      String(req.params['name']),
      {
        ...rest,
        ...(hostKey !== undefined ? { hostKey: hostKey === null ? null : hostKey.trim().split(/\s+/).slice(0, 2).join(' ') } : {}),
        ...(secret && login ? { credential: { login, secret } } : {}),
      },
      actorOf(req),
    );
    res.json({ target: publicTarget(target) });
  });

  r.delete('/:name', requireRole('admin'), async (req, res) => {
    await s.targets.remove(String(req.params['name']), actorOf(req));
    res.json({ ok: true });
  });

  /** Fetch the key the target presents now; with accept: true, pin it. */
  r.post('/:name/scan', requireRole('admin'), async (req, res) => {
    const accept = z.strictObject({ accept: z.boolean().optional() }).safeParse(req.body ?? {});
    if (!accept.success) throw fromZod(accept.error);
    const target = await s.targets.get(String(req.params['name']));
    const presented = await scanHostKey(target.host, target.port);
    const matches = target.hostKey ? parsePublicKeyLine(target.hostKey).blob.equals(parsePublicKeyLine(presented.publicKey).blob) : false;
    let pinned = target;
    if (accept.data.accept && !matches) pinned = await s.targets.update(target.name, { hostKey: presented.publicKey }, actorOf(req));
    res.json({ presented, pinned: publicTarget(pinned).hostKeyFingerprint, matches: matches || Boolean(accept.data.accept) });
  });

  return r;
}
