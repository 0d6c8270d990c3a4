import { createApp, startWebServer } from '../web/index.js';
import type { WebServer } from '../web/index.js';
import { SshGateway, SessionWatch, loadOrCreateHostKey, sshCryptoPath } from '../gateway/index.js';
import type { SshGatewayAddress } from '../gateway/index.js';
import type { Services } from './services.js';
import { VERSION } from '../core/index.js';

/**
 * A running airlock: the SSH front door and the HTTP API over one set of
 * services. Tests start this in-process on port 0.
 */
export interface RunningServer {
  web: WebServer;
  ssh: SshGateway;
  sshAddress: SshGatewayAddress;
  close(): Promise<void>;
}

export async function startServer(services: Services): Promise<RunningServer> {
  const { config, logger, audit } = services;

  const interrupted = await services.sessions.markInterrupted();
  if (interrupted) logger.warn({ sessions: interrupted }, 'sessions left active by an earlier crash were marked interrupted');
  const cut = await services.recordings.markInterrupted();
  if (cut) logger.warn({ recordings: cut }, 'recordings left open by an earlier crash were marked interrupted');
  // Fail closed from the start: no sessions while the recording store is not writable.
  if (!(await services.recordings.checkHealth())) logger.error({ problem: services.recordings.problem }, 'recording storage is not writable: sessions are refused');
  const prune = () =>
    void services.recordings
      .prune()
      .then((n) => n && logger.info({ deleted: n }, 'recordings past retention deleted'))
      .catch((err: unknown) => logger.error({ err }, 'recording retention failed'));
  prune();
  const pruneTimer = services.scheduler.every(24 * 3_600_000, prune);

  const hostKey = loadOrCreateHostKey(config.dataDir);
  const ssh = new SshGateway(services, hostKey);
  const sshAddress = await ssh.listen(config.ssh.listen);
  const crypto = sshCryptoPath();
  logger.info({ address: `${sshAddress.host}:${sshAddress.port}`, fingerprint: hostKey.fingerprint, crypto: crypto.native ? 'native' : 'javascript' }, 'ssh gateway listening');
  if (!crypto.native) logger.warn(`SLOW SSH CRYPTO: ${crypto.detail}`);
  const watch = new SessionWatch({
    sessions: services.sessions,
    identity: services.identity,
    requests: services.requests,
    clock: services.clock,
    scheduler: services.scheduler,
    logger,
    warningsMs: config.ssh.expiryWarnings,
  });
  services.requests.start();
  services.notifier.start(services.requests);
  watch.start();
  await services.analyses.start();

  const app = createApp(services, {
    version: VERSION,
    readiness: {
      recordings: async () => services.recordings.readiness(),
      // Works either way; the details tell an admin which.
      sshCrypto: async () => ({ ok: true, message: crypto.detail }),
    },
    status: () => ({
      sshCrypto: crypto.native ? 'native' : 'javascript (slow: npm rebuild ssh2 cpu-features)',
      ssh: `${sshAddress.host}:${sshAddress.port}`,
      sshHostKey: hostKey.fingerprint,
      sshHostKeyLine: hostKey.publicKeyLine,
      liveSessions: services.sessions.count(),
    }),
  });
  let web: WebServer;
  try {
    web = await startWebServer(app, config.web.listen);
  } catch (err) {
    pruneTimer.cancel();
    watch.stop();
    services.notifier.stop();
    await services.analyses.stop();
    await ssh.close();
    throw err;
  }
  logger.info({ url: web.url }, 'web API listening');
  await audit.record({
    action: 'system.started',
    outcome: 'info',
    actor: 'system',
    details: { version: VERSION, web: web.url, ssh: `${sshAddress.host}:${sshAddress.port}`, sshHostKey: hostKey.fingerprint, database: services.db.engine },
  });
  return {
    web,
    ssh,
    sshAddress,
    async close() {
      pruneTimer.cancel();
      watch.stop();
      services.notifier.stop();
      await ssh.close();
      await web.close();
      await services.analyses.stop();
      await audit.record({ action: 'system.stopped', outcome: 'info', actor: 'system' }).catch(() => {});
    },
  };
}
