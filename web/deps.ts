import type { AuditLog, Clock, Config, Db, Logger, Scheduler, Vault } from '../core/index.js';
import type { Identity } from '../identity/index.js';
import type { AccessPolicy, AccessRequests, Grants, Targets } from '../approvals/index.js';
import type { SessionRegistry } from '../gateway/index.js';
import type { Analyses, RecordingKeys, Recordings } from '../recordings/index.js';

/**
 * What the HTTP API needs from the rest of airlock. The composition root
 * (server/services.ts) builds these and passes them in; nothing under web/
 * constructs a part of its own or knows how they are wired.
 */
export interface WebDeps {
  config: Config;
  logger: Logger;
  clock: Clock;
  /** Every timer (sweeps, probes, retries, pings) runs on this; tests drive it with a ManualClock. */
  scheduler: Scheduler;
  /** Session history (all nodes) and the database readiness check. */
  db: Db;
  vault: Pick<Vault, 'fingerprint'>;
  audit: AuditLog;
  identity: Identity;
  targets: Targets;
  grants: Grants;
  policy: AccessPolicy;
  requests: AccessRequests;
  sessions: SessionRegistry;
  recordings: Recordings;
  recordingKeys: RecordingKeys;
  analyses: Analyses;
}
