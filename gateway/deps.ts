import type { AuditLog, Clock, Config, Logger, Scheduler } from '../core/index.js';
import type { Identity } from '../identity/index.js';
import type { AccessPolicy, AccessRequests, Targets } from '../approvals/index.js';
import type { UserChannels } from './channel-budget.js';
import type { SessionRegistry } from './sessions.js';
import type { Recordings } from '../recordings/index.js';

/** What the gateway needs from the rest of airlock. */
export interface GatewayDeps {
  config: Config;
  logger: Logger;
  clock: Clock;
  scheduler: Scheduler;
  audit: AuditLog;
  identity: Identity;
  policy: AccessPolicy;
  requests: AccessRequests;
  targets: Targets;
  sessions: SessionRegistry;
  /** The channels each user has open on this node (ssh.maxChannelsPerUser). */
  channels: UserChannels;
  recordings: Recordings;
}
