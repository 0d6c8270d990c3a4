import { join } from 'node:path';
import type { Config } from './config.js';
import { openPglite, openPostgres } from './db.js';
import type { Db } from './db.js';
import { migrate } from './migrate.js';

/** The database the configuration names, migrated to the current schema. */
export async function openDatabase(config: Pick<Config, 'databaseUrl' | 'dataDir'>): Promise<Db> {
  const db = config.databaseUrl ? await openPostgres({ url: config.databaseUrl }) : await openPglite({ dir: join(config.dataDir, 'db') });
  try {
    await migrate(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  return db;
}
