import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { openPglite, openPostgres } from '../../core/db.js';
import type { Db } from '../../core/db.js';
import { migrate } from '../../core/migrate.js';

/**
 * Storage tests run on embedded PGlite always, and on real PostgreSQL when
 * AIRLOCK_TEST_DATABASE_URL is set (CI sets it). Each opened database is fresh:
 * PGlite starts from a dumped template (initdb once per test file, ~350 ms per
 * copy after that); PostgreSQL gets a new schema, dropped on close.
 */
export type Engine = 'pglite' | 'postgres';

export const postgresUrl = process.env['AIRLOCK_TEST_DATABASE_URL'];
export const engines: Engine[] = postgresUrl ? ['pglite', 'postgres'] : ['pglite'];

const templates = new Map<'blank' | 'migrated', Promise<Blob>>();

/** initdb (and migrating) once per test file; each test then loads a copy (~0.3 s). */
function pgliteTemplate(kind: 'blank' | 'migrated'): Promise<Blob> {
  let t = templates.get(kind);
  if (!t) {
    t = (async () => {
      const raw = await PGlite.create();
      const blank = (await raw.dumpDataDir('none')) as Blob;
      await raw.close();
      if (kind === 'blank') return blank;
      const db = await openPglite({ loadDataDir: blank });
      await migrate(db);
      const migrated = await db.dump();
      await db.close();
      return migrated;
    })();
    templates.set(kind, t);
  }
  return t;
}

export interface TestDb {
  db: Db;
  engine: Engine;
  /** The schema on PostgreSQL (for a second connection to the same data). */
  schema?: string;
  close(): Promise<void>;
}

export async function openTestDb(engine: Engine, options: { migrated?: boolean } = {}): Promise<TestDb> {
  let t: TestDb;
  if (engine === 'pglite') {
    const db = await openPglite({ loadDataDir: await pgliteTemplate(options.migrated ?? true ? 'migrated' : 'blank') });
    t = { db, engine, close: () => db.close() };
  } else {
    if (!postgresUrl) throw new Error('AIRLOCK_TEST_DATABASE_URL is not set');
    const schema = `airlock_t_${randomBytes(6).toString('hex')}`;
    await adminQuery(`CREATE SCHEMA ${schema}`);
    const db = await openPostgres({ url: postgresUrl, schema, max: 4 });
    t = {
      db,
      engine,
      schema,
      async close() {
        await db.close();
        await adminQuery(`DROP SCHEMA ${schema} CASCADE`);
      },
    };
  }
  if (options.migrated ?? true) await migrate(t.db);
  return t;
}

/** A new PostgreSQL schema name and its URL-independent search_path, for server processes. */
export async function createPostgresSchema(): Promise<{ schema: string; drop(): Promise<void> }> {
  const schema = `airlock_t_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE SCHEMA ${schema}`);
  return { schema, drop: () => adminQuery(`DROP SCHEMA ${schema} CASCADE`) };
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
