import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ManualClock } from '../../core/clock.js';
import type { Clock, Scheduler } from '../../core/clock.js';
import type { Logger } from '../../core/logger.js';
import { loadConfig } from '../../core/config.js';
import { silentLogger } from '../../core/logger.js';
import { openServices } from '../../server/services.js';
import type { Services } from '../../server/services.js';
import { openTestDb } from './db.js';
import type { Engine } from './db.js';

export interface TestServices extends Services {
  dataDir: string;
  engine: Engine;
}

/**
 * Services on a fresh database, with a temporary data dir and a random master key.
 * Timers run on the system scheduler unless `scheduler` is given: pass the same
 * ManualClock as clock and scheduler to drive them from the test.
 */
export async function openTestServices(
  engine: Engine,
  options: { clock?: Clock; scheduler?: Scheduler; overrides?: Record<string, unknown>; logger?: Logger } = {},
): Promise<TestServices> {
  const dataDir = mkdtempSync(join(tmpdir(), 'airlock-test-'));
  const config = loadConfig({
    env: {},
    overrides: { dataDir, masterKey: randomBytes(32).toString('base64'), 'web.listen': '127.0.0.1:0', 'log.level': 'silent', ...options.overrides },
  });
  const tdb = await openTestDb(engine);
  const services = await openServices({ config, logger: options.logger ?? silentLogger(), clock: options.clock ?? new ManualClock(), scheduler: options.scheduler, db: tdb.db });
  return {
    ...services,
    dataDir,
    engine,
    async close() {
      await tdb.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
