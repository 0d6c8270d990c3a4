import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPostgres } from '../../../core/db.js';
import type { Db } from '../../../core/db.js';
import { isAirlockError } from '../../../core/errors.js';
import { loadMigrations, migrate } from '../../../core/migrate.js';
import type { Migration } from '../../../core/migrate.js';
import { createPostgresSchema, engines, openTestDb, postgresUrl } from '../../helpers/db.js';
import type { TestDb } from '../../helpers/db.js';

const TABLES = ['audit_events', 'audit_head', 'auth_throttle', 'logins', 'meta', 'schema_migrations', 'signing_keys', 'users'];

async function recorded(db: Db): Promise<Array<{ version: number; name: string }>> {
  return (await db.query<{ version: number; name: string }>('SELECT version, name FROM schema_migrations ORDER BY version')).rows;
}

async function tableExists(db: Db, name: string): Promise<boolean> {
  const row = (await db.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [name])).rows[0];
  return row?.t !== null && row?.t !== undefined;
}

/** A migrations directory of our own, for order, failure and concurrency cases. */
function migrationsDir(files: Record<string, string>): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-migrations-')) + '/';
  for (const [name, sql] of Object.entries(files)) writeFileSync(dir + name, sql);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

describe('loadMigrations', () => {
  it('reads the shipped migrations in order, numbered from 1', () => {
    const ms = loadMigrations();
    expect(ms.length).toBeGreaterThanOrEqual(1);
    expect(ms[0]).toMatchObject({ version: 1, name: 'foundation' });
    expect(ms.map((m) => m.version)).toEqual([...ms.map((m) => m.version)].sort((a, b) => a - b));
    expect(new Set(ms.map((m) => m.version)).size).toBe(ms.length);
    for (const m of ms) expect(m.sql.trim().length).toBeGreaterThan(0);
  });

  it('takes only NNN-name.sql files, sorted by number', () => {
    const d = migrationsDir({
      '010-later.sql': 'SELECT 10;',
      '002-second.sql': 'SELECT 2;',
      '001-first.sql': 'SELECT 1;',
      'README.md': 'not a migration',
      '003-Not Valid.sql': 'SELECT 3;',
      '004-draft.sql.bak': 'SELECT 4;',
    });
    try {
      expect(loadMigrations(d.dir).map((m) => [m.version, m.name])).toEqual([
        [1, 'first'],
        [2, 'second'],
        [10, 'later'],
      ]);
    } finally {
      d.remove();
    }
  });
});

describe.each(engines)('migrate on %s', (engine) => {
  let t: TestDb;
  beforeEach(async () => {
    t = await openTestDb(engine, { migrated: false });
  });
  afterEach(() => t.close());

  it('applies every migration on a blank database and records each version', async () => {
    const all = loadMigrations();
    expect(await tableExists(t.db, 'users')).toBe(false);
    const applied = await migrate(t.db);
    expect(applied).toEqual(all.map((m) => m.version));
    expect(await recorded(t.db)).toEqual(all.map((m) => ({ version: m.version, name: m.name })));
    for (const table of TABLES) expect(await tableExists(t.db, table), table).toBe(true);
    // The migration's data and trigger are there too.
    expect((await t.db.query('SELECT seq, hash FROM audit_head')).rows).toEqual([{ seq: 0, hash: '0'.repeat(64) }]);
    const triggers = await t.db.query<{ tgname: string }>("SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass('audit_events')");
    expect(triggers.rows.map((r) => r.tgname)).toContain('audit_events_no_change');
  });

  it('applies nothing the second time', async () => {
    await migrate(t.db);
    const before = await recorded(t.db);
    expect(await migrate(t.db)).toEqual([]);
    expect(await recorded(t.db)).toEqual(before);
  });

  it('applies only what is new, in order', async () => {
    const d = migrationsDir({
      '001-one.sql': 'CREATE TABLE m_one (id int PRIMARY KEY);',
      '002-two.sql': 'CREATE TABLE m_two (id int PRIMARY KEY REFERENCES m_one (id));',
    });
    try {
      expect(await migrate(t.db, loadMigrations(d.dir))).toEqual([1, 2]);
      writeFileSync(d.dir + '003-three.sql', "INSERT INTO m_one VALUES (3); INSERT INTO m_two VALUES (3);");
      expect(await migrate(t.db, loadMigrations(d.dir))).toEqual([3]);
      expect((await recorded(t.db)).map((r) => r.name)).toEqual(['one', 'two', 'three']);
      expect((await t.db.query('SELECT id FROM m_two')).rows).toEqual([{ id: 3 }]);
    } finally {
      d.remove();
    }
  });

  it('a failing migration names itself and leaves nothing behind', async () => {
    const migrations: Migration[] = [
      { version: 1, name: 'good', sql: 'CREATE TABLE m_good (id int);' },
      { version: 2, name: 'broken', sql: 'CREATE TABLE m_bad (id int); SELECT * FROM no_such_table;' },
    ];
    const err = await migrate(t.db, migrations).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAirlockError(err, 'ERR_MIGRATION')).toBe(true);
    expect((err as Error).message).toMatch(/^migration 2-broken failed: .*no_such_table/);
    // One transaction: migration 1 and the bookkeeping table are rolled back with it.
    expect(await tableExists(t.db, 'm_good')).toBe(false);
    expect(await tableExists(t.db, 'm_bad')).toBe(false);
    expect(await tableExists(t.db, 'schema_migrations')).toBe(false);
  });

  it('two concurrent calls on one database apply each migration once', async () => {
    const all = loadMigrations().map((m) => m.version);
    const [a, b] = await Promise.all([migrate(t.db), migrate(t.db)]);
    expect([...a, ...b].sort((x, y) => x - y)).toEqual(all);
    expect((await recorded(t.db)).map((r) => r.version)).toEqual(all);
  });
});

describe.runIf(postgresUrl)('migrate on PostgreSQL from two nodes at once', () => {
  let schema: { schema: string; drop(): Promise<void> };
  let pools: Db[] = [];
  beforeEach(async () => {
    schema = await createPostgresSchema();
    // Two pools, as two airlock nodes starting against the same fresh database.
    pools = [await openPostgres({ url: postgresUrl!, schema: schema.schema, max: 2 }), await openPostgres({ url: postgresUrl!, schema: schema.schema, max: 2 })];
  });
  afterEach(async () => {
    await Promise.all(pools.map((p) => p.close()));
    pools = [];
    await schema.drop();
  });

  it('both succeed and each migration is applied once (shipped migrations)', async () => {
    const all = loadMigrations().map((m) => m.version);
    const [a, b] = await Promise.all(pools.map((p) => migrate(p)));
    expect([a, b].filter((r) => r!.length === 0)).toHaveLength(1); // the second found the work done
    expect([...a!, ...b!].sort((x, y) => x - y)).toEqual(all);
    expect((await recorded(pools[0]!)).map((r) => r.version)).toEqual(all);
    expect((await pools[1]!.query('SELECT count(*)::int AS n FROM audit_head')).rows).toEqual([{ n: 1 }]);
  });

  it('both succeed while a slow migration holds the lock, and each migration runs once', async () => {
    const migrations: Migration[] = [
      { version: 1, name: 'slow', sql: 'CREATE TABLE m_runs (n int); SELECT pg_sleep(0.5); INSERT INTO m_runs VALUES (1);' },
      { version: 2, name: 'counted', sql: 'INSERT INTO m_runs VALUES (2);' },
    ];
    const started = Date.now();
    const results = await Promise.all(pools.map((p) => migrate(p, migrations)));
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    expect(results.flat().sort()).toEqual([1, 2]);
    expect((await pools[1]!.query('SELECT n FROM m_runs ORDER BY n')).rows).toEqual([{ n: 1 }, { n: 2 }]);
    expect((await recorded(pools[0]!)).map((r) => r.version)).toEqual([1, 2]);
  });
});
