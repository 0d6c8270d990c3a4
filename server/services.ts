import { AuditLog, SigningKeyStore, systemClock, systemScheduler, insecureSettings, openDatabase, checkMasterKey, createVault, loadMasterKey } from '../core/index.js';
import type { Clock, Config, Db, Logger, Scheduler, Vault } from '../core/index.js';
import type { GatewayDeps } from '../gateway/index.js';
import type { WebDeps } from '../web/index.js';
import { Identity } from '../identity/index.js';
import { AccessPolicy, AccessRequests, Grants, Notifier, Targets } from '../approvals/index.js';
import { SessionRegistry, UserChannels } from '../gateway/index.js';
import { Analyses, FileRecordingStore, RecordingKeys, Recordings } from '../recordings/index.js';
import { join } from 'node:path';

/**
 * Everything a running airlock holds, built once from the configuration and passed
 * down. The CLI's offline verbs (init, audit verify --direct) and `serve` use it;
 * tests build it on their own database. It is what the HTTP API needs (WebDeps)
 * and what the gateway needs (GatewayDeps), and a little more: the whole vault,
 * the notifier, and closing it all.
 */
export interface Services extends WebDeps, GatewayDeps {
  vault: Vault;
  /** Started by the server (startServer), not by offline verbs. */
  notifier: Notifier;
  close(): Promise<void>;
}

export interface OpenServicesOptions {
  config: Config;
  logger: Logger;
  clock?: Clock;
  scheduler?: Scheduler;
  /** An already open database (tests); otherwise the one the config names. */
  db?: Db;
  /** Create dataDir/master.key if no key is configured (init, demo). */
  generateMasterKey?: boolean;
}

export async function openServices(options: OpenServicesOptions): Promise<Services> {
  const { config, logger } = options;
  const clock = options.clock ?? systemClock;
  const scheduler = options.scheduler ?? systemScheduler;
  for (const warning of insecureSettings(config)) logger.warn(warning);
  const masterKey = loadMasterKey(config, { generate: options.generateMasterKey ?? false });
  if (masterKey.warning) logger.warn(masterKey.warning);
  const vault = createVault(masterKey.key);
  const db = options.db ?? (await openDatabase(config));
  try {
    await checkMasterKey(db, vault);
    const audit = new AuditLog(db, clock);
    const keys = new SigningKeyStore(db, vault, clock);
    const identity = new Identity({ db, audit, clock, vault, keys, config, logger });
    await identity.init();
    const targets = new Targets(db, audit, clock, vault);
    const grants = new Grants(db, audit, clock);
    const requests = new AccessRequests(db, audit, clock, scheduler, config.policy);
    const policy = new AccessPolicy(targets, grants, requests);
    const notifier = new Notifier({ config, logger, clock, scheduler, identity, audit });
    const sessions = new SessionRegistry(db, audit, clock, config.nodeName, config.ssh.maxStoredFileOps);
    const channels = new UserChannels(config.ssh.maxChannelsPerUser);
    const recordingKeys = new RecordingKeys(keys);
    await recordingKeys.init();
    const store = new FileRecordingStore(config.recordings.dir ?? join(config.dataDir, 'recordings'));
    const recordings = new Recordings({ db, audit, clock, scheduler, logger, keys: recordingKeys, store, config });
    const analyses = new Analyses({ db, audit, clock, scheduler, logger, store, nodeName: config.nodeName, live: config.recordings.liveAnalysis });
    recordings.onStarted((row, command) => analyses.follow(row, command));
    recordings.onSealed((id) => analyses.sealed(id));
    analyses.onLiveCommand(({ recording: r, command: c }) => {
      if (c.risks.length === 0) return;
      notifier.riskyCommand(
        { id: r.sessionId, recording: r.id, user: r.userName, target: r.targetName, sensitivity: r.sensitivity },
        { seq: c.seq, t: c.t, at: c.at, text: c.text, risks: c.risks },
      );
    });
    logger.debug({ engine: db.engine, masterKey: vault.fingerprint }, 'services ready');
    return {
      config,
      logger,
      clock,
      scheduler,
      db,
      vault,
      audit,
      identity,
      targets,
      grants,
      policy,
      requests,
      notifier,
      sessions,
      channels,
      recordings,
      recordingKeys,
      analyses,
      async close() {
        await analyses.stop();
        recordings.stop();
        requests.stop();
        notifier.stop();
        await db.close();
      },
    };
  } catch (err) {
    await db.close();
    throw err;
  }
}
