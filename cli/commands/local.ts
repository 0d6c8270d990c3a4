import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { AirlockError } from '../../core/errors.js';
import { verifyAuditChain } from '../../core/audit.js';
import { currentTotp } from '../../identity/index.js';
import type { Role } from '../../identity/index.js';
import type { VerbContext } from '../context.js';
import { EXIT } from '../output.js';
import { readStdin } from '../secrets-input.js';
import { openServices } from '../services.js';
import type { Services } from '../services.js';
import { startServer } from '../server.js';
import type { RunningServer } from '../server.js';
import { formatAuditReport } from './audit.js';
import { startDemoTarget } from '../demo-target.js';
import type { DemoTarget } from '../demo-target.js';

/** Verbs that open the database themselves; the server must not be running on it. */

export async function initVerb(ctx: VerbContext, options: { admin: string; passwordStdin?: boolean; email?: string }): Promise<number> {
  const config = ctx.config();
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const logger = ctx.logger(config);
  const password = options.passwordStdin ? await readStdin() : undefined;
  const services = await openServices({ config, logger, generateMasterKey: true });
  try {
    if ((await services.identity.users.count()) > 0) {
      throw new AirlockError('ERR_CONFLICT', `already initialised: ${config.dataDir} has users (use "airlock user add" through the running server)`);
    }
    const enrolment = await services.identity.users.add({ name: options.admin, role: 'admin', password, email: options.email }, { name: 'system' });
    await services.audit.record({ action: 'system.initialised', outcome: 'success', actor: 'system', target: options.admin, details: { database: services.db.engine } });
    ctx.out.result(
      { dataDir: config.dataDir, database: services.db.engine, admin: options.admin, password: enrolment.password, totp: enrolment.totp },
      () =>
        [
          `airlock initialised in ${config.dataDir} (${services.db.engine === 'pglite' ? 'embedded database' : 'PostgreSQL'}).`,
          `First admin: ${options.admin}`,
          ...(enrolment.password ? [`  password (shown once): ${enrolment.password}`] : []),
          `  TOTP secret (shown once): ${enrolment.totp.secret}`,
          `  TOTP URI: ${enrolment.totp.uri}`,
          `Start the server with "airlock serve", then "airlock login --user ${options.admin}".`,
        ].join('\n'),
    );
    return EXIT.ok;
  } finally {
    await services.close();
  }
}

export async function serveVerb(ctx: VerbContext): Promise<number> {
  const config = ctx.config();
  const services = await openServices({ config, logger: ctx.logger(config) });
  const server = await startServer(services).catch(async (err: unknown) => {
    await services.close();
    throw err;
  });
  const ssh = `${server.sshAddress.host}:${server.sshAddress.port}`;
  ctx.out.result(
    { event: 'ready', web: server.web.url, ssh, sshHostKey: server.ssh.hostKey.fingerprint },
    `airlock serving: SSH on ${ssh} (host key ${server.ssh.hostKey.fingerprint}), web API on ${server.web.url}`,
  );
  return runUntilSignal(services, server);
}

const DEMO_USERS: Array<{ name: string; role: Role; org?: string; what: string }> = [
  { name: 'admin', role: 'admin', what: 'manages users, targets and policy' },
  { name: 'alice', role: 'engineer', org: 'Acme MSP', what: 'outside engineer who connects to servers' },
  { name: 'olivia', role: 'approver', what: 'internal approver' },
  { name: 'oscar', role: 'approver', what: 'second internal approver (critical targets need two)' },
  { name: 'ada', role: 'auditor', what: 'compliance auditor, read-only' },
];

interface DemoCredential {
  name: string;
  role: Role;
  what: string;
  password: string;
  totpSecret: string;
}

export async function demoVerb(ctx: VerbContext): Promise<number> {
  const dataDir = ctx.opts.dataDir ?? process.env['AIRLOCK_DATA_DIR'] ?? './.airlock-demo';
  // The demo listens on loopback only unless told otherwise.
  const config = ctx.config({ dataDir, demo: true, ...(process.env['AIRLOCK_SSH_LISTEN'] ? {} : { 'ssh.listen': '127.0.0.1:2222' }) });
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const logger = ctx.logger(config);
  const services = await openServices({ config, logger, generateMasterKey: true });
  let creds: DemoCredential[];
  let target: DemoTarget;
  try {
    creds = await demoUsers(services);
    target = await startDemoTarget(config.dataDir, logger);
    await registerDemoTarget(services, target);
  } catch (err) {
    await services.close();
    throw err;
  }
  const server = await startServer(services).catch(async (err: unknown) => {
    await target.stop();
    await services.close();
    throw err;
  });
  const ssh = { host: server.sshAddress.host, port: server.sshAddress.port, hostKey: server.ssh.hostKey.fingerprint };
  ctx.out.result({ event: 'ready', web: server.web.url, ssh, dataDir: config.dataDir, target: { kind: target.kind, port: target.port }, users: creds }, () =>
    demoInstructions(config.dataDir, server.web.url, ssh, creds),
  );
  const code = await runUntilSignal(services, server);
  await target.stop();
  return code;
}

/** The demo target as a standard target "demo" that alice may use, with file transfer. */
async function registerDemoTarget(services: Services, t: DemoTarget): Promise<void> {
  const actor = { name: 'demo' };
  const existing = await services.targets.find('demo');
  const target = existing
    ? await services.targets.update(
        'demo',
        { host: t.host, port: t.port, hostKey: t.hostKey, defaultLogin: t.login, credential: { login: t.login, secret: { kind: 'key', secret: t.clientKey } } },
        actor,
      )
    : await services.targets.add(
        {
          name: 'demo',
          host: t.host,
          port: t.port,
          login: t.login,
          secret: { kind: 'key', secret: t.clientKey },
          sensitivity: 'standard',
          hostKey: t.hostKey,
          description: t.kind === 'sshd' ? 'demo server (OpenSSH on loopback)' : 'demo server (built-in, scratch directory)',
        },
        actor,
      );
  const alice = await services.identity.users.get('alice');
  await services.grants.grant(alice, target, { allowSftp: true }, actor);
  // The same server as a sensitive target, to try break-glass: alice asks in her SSH
  // session, olivia approves (`airlock requests approve ID` logged in as olivia).
  const vault =
    (await services.targets.find('vault')) ??
    (await services.targets.add(
      { name: 'vault', host: t.host, port: t.port, login: t.login, secret: { kind: 'key', secret: t.clientKey }, sensitivity: 'sensitive', hostKey: t.hostKey, description: 'the demo server as a sensitive target (needs approval)' },
      actor,
    ));
  if (existing) {
    await services.targets.update('vault', { host: t.host, port: t.port, hostKey: t.hostKey, defaultLogin: t.login, credential: { login: t.login, secret: { kind: 'key', secret: t.clientKey } } }, actor);
  }
  await services.grants.grant(alice, vault, {}, actor);
}

async function demoUsers(services: Services): Promise<DemoCredential[]> {
  const file = join(services.config.dataDir, 'demo-credentials.json');
  if ((await services.identity.users.count()) > 0) {
    if (!existsSync(file)) throw new AirlockError('ERR_CONFLICT', `${services.config.dataDir} has users but no demo-credentials.json: delete the directory to start a fresh demo`);
    return JSON.parse(readFileSync(file, 'utf8')) as DemoCredential[];
  }
  const creds: DemoCredential[] = [];
  for (const u of DEMO_USERS) {
    const e = await services.identity.users.add({ name: u.name, role: u.role, org: u.org }, { name: 'demo' });
    creds.push({ name: u.name, role: u.role, what: u.what, password: e.password as string, totpSecret: e.totp.secret });
  }
  writeFileSync(file, JSON.stringify(creds, null, 2) + '\n', { mode: 0o600 });
  return creds;
}

function demoInstructions(dataDir: string, url: string, ssh: { host: string; port: number; hostKey: string }, creds: DemoCredential[]): string {
  const admin = creds.find((c) => c.role === 'admin') as DemoCredential;
  const alice = creds.find((c) => c.name === 'alice') as DemoCredential;
  const w = Math.max(...creds.map((c) => c.name.length));
  return [
    '',
    '  airlock demo — DEMO MODE: throw-away data, printed passwords. Never use for real access.',
    `  data: ${dataDir}    web API: ${url}    health: ${url}/readyz`,
    `  SSH: ${ssh.host}:${ssh.port}    host key ${ssh.hostKey}`,
    '',
    '  Connect as the outside engineer alice to the demo server, through airlock:',
    `    ssh -p ${ssh.port} alice@demo@${ssh.host}`,
    `    Password: ${alice.password}`,
    `    Verification code: npx airlock totp ${alice.totpSecret}`,
    `  (or "ssh -p ${ssh.port} alice@${ssh.host}" for a menu of her targets; sftp -P ${ssh.port} alice@demo@${ssh.host} works too)`,
    '',
    '  Break-glass: "vault" is the same server marked sensitive. Connect and give a reason:',
    `    ssh -p ${ssh.port} alice@vault@${ssh.host}`,
    '  then, as olivia in another terminal (see below for logging in), approve it:',
    '    npx airlock requests list --pending;  npx airlock requests approve ID',
    '',
    '  Demo users (user / role / password / TOTP secret):',
    ...creds.map((c) => `    ${c.name.padEnd(w)}  ${c.role.padEnd(8)}  ${c.password}  ${c.totpSecret}   ${c.what}`),
    '',
    '  A current verification code:  npx airlock totp SECRET   (or: oathtool --totp -b SECRET)',
    '',
    '  Try, in another terminal:',
    `    export AIRLOCK_URL=${url} AIRLOCK_HOME=${join(dataDir, 'cli')}`,
    `    printf '%s' '${admin.password}' | npx airlock login --user admin --password-stdin --totp "$(npx airlock totp ${admin.totpSecret})"`,
    '    npx airlock user list',
    '    npx airlock audit tail',
    '    npx airlock audit verify',
    '  and after a session (recordings are analysed once they end):',
    '    npx airlock recordings list',
    '    npx airlock recordings commands ID         # what ran, with risk flags',
    "    npx airlock recordings search --risky      # across sessions; or a text: search 'rm -rf'",
    '',
    '  Stop with Ctrl-C. Delete the data directory to start over.',
    '',
  ].join('\n');
}

/** Serves until SIGINT or SIGTERM, then stops cleanly. */
function runUntilSignal(services: Services, server: RunningServer): Promise<number> {
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      services.logger.info({ signal }, 'stopping');
      process.off('SIGINT', stop).off('SIGTERM', stop);
      void server
        .close()
        .then(() => services.close())
        .catch((err: unknown) => services.logger.error({ err }, 'error while stopping'))
        .finally(() => resolve(EXIT.ok));
    };
    process.on('SIGINT', stop).on('SIGTERM', stop);
  });
}

/** `audit verify --direct`: reads the database itself (the server must be stopped for the embedded one). */
export async function auditVerifyDirect(ctx: VerbContext): Promise<number> {
  const config = ctx.config();
  const services = await openServices({ config, logger: ctx.logger(config) });
  try {
    const report = await verifyAuditChain(services.db);
    ctx.out.result(report, () => formatAuditReport(report));
    return report.ok ? EXIT.ok : EXIT.verifyFailed;
  } finally {
    await services.close();
  }
}

export async function totpVerb(ctx: VerbContext, secret: string): Promise<number> {
  if (!/^[A-Z2-7]+=*$/i.test(secret)) throw new AirlockError('ERR_INVALID_INPUT', 'expected a base32 TOTP secret');
  const code = await currentTotp(secret.toUpperCase(), new Date());
  ctx.out.result({ code }, code);
  return EXIT.ok;
}
