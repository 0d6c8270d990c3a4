import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AirlockError } from '../core/index.js';
import type { Logger } from '../core/index.js';
import { totpUri } from '../identity/index.js';
import type { Role } from '../identity/index.js';
import type { Sensitivity } from '../approvals/index.js';
import { startDemoTarget } from './demo-target.js';
import type { DemoTarget } from './demo-target.js';
import type { Services } from './services.js';

/**
 * The throw-away demo's data: one user per role (passwords and TOTP secrets
 * kept in <dataDir>/demo-credentials.json so a restart shows the same ones),
 * a demo target server on loopback, and two targets on it: "demo" (standard)
 * and "vault" (sensitive, to try break-glass), both granted to alice.
 */
export interface DemoCredential {
  name: string;
  role: Role;
  what: string;
  password: string;
  totpSecret: string;
  totpUri: string;
}

export interface DemoTargetInfo {
  name: string;
  sensitivity: Sensitivity;
  description: string | null;
}

export interface DemoSetup {
  users: DemoCredential[];
  server: DemoTarget;
  /** As they are in the database now (an admin may have changed them since the first start). */
  targets: DemoTargetInfo[];
}

const DEMO_USERS: Array<{ name: string; role: Role; org?: string; what: string }> = [
  { name: 'admin', role: 'admin', what: 'manages users, targets and policy' },
  { name: 'alice', role: 'engineer', org: 'Acme MSP', what: 'outside engineer who connects to servers' },
  { name: 'olivia', role: 'approver', what: 'internal approver' },
  { name: 'oscar', role: 'approver', what: 'second internal approver (critical targets need two)' },
  { name: 'ada', role: 'auditor', what: 'compliance auditor, read-only' },
];

export async function prepareDemo(services: Services, logger: Logger): Promise<DemoSetup> {
  const users = await demoUsers(services);
  const server = await startDemoTarget(services.config.dataDir, logger);
  try {
    const targets = await registerDemoTargets(services, server);
    return { users, server, targets };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

async function demoUsers(services: Services): Promise<DemoCredential[]> {
  const file = join(services.config.dataDir, 'demo-credentials.json');
  if ((await services.identity.users.count()) > 0) {
    if (!existsSync(file)) {
      throw new AirlockError('ERR_CONFLICT', `${services.config.dataDir} has users but no demo-credentials.json: delete the directory to start a fresh demo`);
    }
    // Files from before the QR codes have no URI: it follows from the secret.
    return (JSON.parse(readFileSync(file, 'utf8')) as DemoCredential[]).map((c) => ({ ...c, totpUri: c.totpUri ?? totpUri(c.totpSecret, c.name) }));
  }
  const creds: DemoCredential[] = [];
  for (const u of DEMO_USERS) {
    const e = await services.identity.users.add({ name: u.name, role: u.role, org: u.org }, { name: 'demo' });
    creds.push({ name: u.name, role: u.role, what: u.what, password: e.password as string, totpSecret: e.totp.secret, totpUri: e.totp.uri });
  }
  writeFileSync(file, JSON.stringify(creds, null, 2) + '\n', { mode: 0o600 });
  return creds;
}

/**
 * "demo" and "vault" point at the demo server. On a restart the server has a new
 * port (and maybe a new kind), so both are updated; their sensitivity and
 * description are left as an admin may have changed them.
 */
async function registerDemoTargets(services: Services, t: DemoTarget): Promise<DemoTargetInfo[]> {
  const actor = { name: 'demo' };
  const credential = { login: t.login, secret: { kind: 'key' as const, secret: t.clientKey } };
  const where = t.kind === 'sshd' ? `this machine, as ${t.login} (OpenSSH on 127.0.0.1:${t.port})` : `a built-in server on 127.0.0.1:${t.port} (scratch directory)`;
  const wanted: Array<{ name: string; sensitivity: Sensitivity; description: string; sftp: boolean }> = [
    { name: 'demo', sensitivity: 'standard', description: `demo server: ${where}`, sftp: true },
    { name: 'vault', sensitivity: 'sensitive', description: `the demo server again, behind break-glass approval`, sftp: false },
  ];
  const alice = await services.identity.users.get('alice');
  const out: DemoTargetInfo[] = [];
  for (const w of wanted) {
    const existing = await services.targets.find(w.name);
    const target = existing
      ? await services.targets.update(w.name, { host: t.host, port: t.port, hostKey: t.hostKey, defaultLogin: t.login, credential }, actor)
      : await services.targets.add(
          { name: w.name, host: t.host, port: t.port, login: t.login, secret: credential.secret, sensitivity: w.sensitivity, hostKey: t.hostKey, description: w.description },
          actor,
        );
    if (!existing) await services.grants.grant(alice, target, { allowSftp: w.sftp }, actor);
    out.push({ name: target.name, sensitivity: target.sensitivity, description: target.description });
  }
  return out;
}
