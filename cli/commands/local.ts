import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRevealKey, recipientOf } from '../../recordings/index.js';
import { AirlockError, verifyAuditChain } from '../../core/index.js';
import { currentTotp } from '../../identity/index.js';
import type { VerbContext } from '../context.js';
import { EXIT } from '../output.js';
import { readStdin } from '../secrets-input.js';
import { openServices, prepareDemo, serveUntilSignal, startServer } from '../../server/index.js';
import type { DemoSetup } from '../../server/index.js';
import { terminalQr } from '../qr.js';
import { formatAuditReport } from './audit.js';
import { demoInstructions } from './demo-text.js';

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
    const qr = ctx.out.json ? '' : await terminalQr(enrolment.totp.uri);
    ctx.out.result(
      { dataDir: config.dataDir, database: services.db.engine, admin: options.admin, password: enrolment.password, totp: enrolment.totp },
      () =>
        [
          `airlock initialised in ${config.dataDir} (${services.db.engine === 'pglite' ? 'embedded database' : 'PostgreSQL'}).`,
          `First admin: ${options.admin}`,
          ...(enrolment.password ? [`  password (shown once): ${enrolment.password}`] : []),
          `  TOTP secret (shown once): ${enrolment.totp.secret}`,
          `  TOTP URI: ${enrolment.totp.uri}`,
          '  Scan into an authenticator app:',
          qr.trimEnd(),
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
  await serveUntilSignal(services, server);
  return EXIT.ok;
}

export async function demoVerb(ctx: VerbContext): Promise<number> {
  const dataDir = ctx.opts.dataDir ?? process.env['AIRLOCK_DATA_DIR'] ?? './.airlock-demo';
  // The demo listens on loopback only unless told otherwise.
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // The demo plays the customer too: it keeps the reveal key's private half beside its data.
  const revealKey = join(dataDir, 'demo-reveal.key');
  const recipient = await demoRevealRecipient(revealKey);
  const config = ctx.config({
    dataDir,
    demo: true,
    'recordings.revealRecipients': [recipient],
    ...(process.env['AIRLOCK_SSH_LISTEN'] ? {} : { 'ssh.listen': '127.0.0.1:2222' }),
  });
  const logger = ctx.logger(config);
  const services = await openServices({ config, logger, generateMasterKey: true });
  let demo: DemoSetup;
  try {
    demo = await prepareDemo(services, logger);
  } catch (err) {
    await services.close();
    throw err;
  }
  const server = await startServer(services).catch(async (err: unknown) => {
    await demo.server.stop();
    await services.close();
    throw err;
  });
  const ssh = { host: server.sshAddress.host, port: server.sshAddress.port, hostKey: server.ssh.hostKey.fingerprint };
  const ready = {
    event: 'ready',
    web: server.web.url,
    ssh,
    dataDir: config.dataDir,
    target: { kind: demo.server.kind, port: demo.server.port, login: demo.server.login },
    targets: demo.targets,
    users: demo.users,
  };
  const qr = new Map<string, string>();
  if (!ctx.out.json) for (const u of demo.users) qr.set(u.name, await terminalQr(u.totpUri));
  ctx.out.result({ ...ready, revealKey }, () => demoInstructions({ dataDir: config.dataDir, url: server.web.url, ssh, demo, qr, revealKey }));
  await serveUntilSignal(services, server, () => demo.server.stop());
  return EXIT.ok;
}

/** The demo's reveal key (made once, kept in the data directory): its public half. */
async function demoRevealRecipient(file: string): Promise<string> {
  if (existsSync(file)) {
    // Never replaced: older demo recordings are sealed to it.
    const identity = readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-1'));
    if (!identity) throw new AirlockError('ERR_CONFIG_INVALID', `${file} holds no age identity: restore it or delete the demo data directory`);
    return recipientOf(identity);
  }
  const { identity, recipient } = await createRevealKey();
  writeFileSync(file, `# airlock demo reveal key (in production the customer keeps this, never the server)\n# public key: ${recipient}\n${identity}\n`, { mode: 0o600 });
  return recipient;
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
  if (!/^[A-Z2-7]+=*$/i.test(secret)) throw new AirlockError('ERR_USAGE', 'expected a base32 TOTP secret');
  const code = await currentTotp(secret.toUpperCase(), new Date());
  ctx.out.result({ code }, code);
  return EXIT.ok;
}
