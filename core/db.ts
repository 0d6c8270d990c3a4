import { mkdirSync, openSync, closeSync, readFileSync, writeFileSync, unlinkSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { AirlockError } from './errors.js';

/**
 * One small interface over two engines: a `pg` Pool when a PostgreSQL URL is given,
 * embedded PGlite in the data directory otherwise. Both speak PostgreSQL, so the
 * migrations and queries are the same. Type parsing is aligned: int8 and numeric
 * arrive as JS numbers (our counters stay far below 2^53), timestamptz as Date,
 * json/jsonb as parsed values.
 */
export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<T>>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly engine: 'pglite' | 'postgres';
  /** Runs fn in one transaction; commits if it resolves, rolls back if it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

const INT8 = 20;
const NUMERIC = 1700;

function wrapDbError(err: unknown): never {
  if (err instanceof AirlockError) throw err;
  const pgErr = err as { code?: string; message?: string };
  if (pgErr.code === '23505') throw new AirlockError('ERR_CONFLICT', 'already exists', { cause: err });
  throw new AirlockError('ERR_DB', `database error: ${pgErr.message ?? String(err)}`, { cause: err });
}

// ---------------------------------------------------------------- PostgreSQL

export interface PostgresOptions {
  url: string;
  /** Run everything in this schema (tests: one fresh schema per run). */
  schema?: string;
  max?: number;
}

export async function openPostgres(options: PostgresOptions): Promise<Db> {
  const types = {
    getTypeParser(oid: number, format?: 'text' | 'binary') {
      if (oid === INT8 || oid === NUMERIC) return (v: string) => Number(v);
      return pg.types.getTypeParser(oid, format);
    },
  };
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 10,
    types: types as pg.CustomTypesConfig,
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
    connectionTimeoutMillis: 10_000,
  });
  // An idle client that loses its connection emits 'error' on the pool; without a
  // listener that would crash the process. The next query gets a fresh client.
  pool.on('error', () => {});
  try {
    const c = await pool.connect();
    c.release();
  } catch (err) {
    await pool.end().catch(() => {});
    throw new AirlockError('ERR_DB_UNREACHABLE', `cannot connect to PostgreSQL: ${(err as Error).message}`, { cause: err });
  }

  const run = async <T>(client: pg.Pool | pg.PoolClient, sql: string, params?: unknown[]): Promise<QueryResult<T>> => {
    try {
      const res = await client.query(sql, params as unknown[]);
      return { rows: res.rows as T[], rowCount: res.rowCount ?? 0 };
    } catch (err) {
      return wrapDbError(err);
    }
  };
  const execOn = async (client: pg.Pool | pg.PoolClient, sql: string): Promise<void> => {
    try {
      await client.query(sql);
    } catch (err) {
      wrapDbError(err);
    }
  };

  return {
    engine: 'postgres',
    query: (sql, params) => run(pool, sql, params),
    exec: (sql) => execOn(pool, sql),
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const tx: Queryable = { query: (sql, params) => run(client, sql, params), exec: (sql) => execOn(client, sql) };
        const result = await fn(tx);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

// ---------------------------------------------------------------- PGlite

export interface PgliteOptions {
  /** Data directory; undefined = in memory. */
  dir?: string;
  /** A dumped data directory to start from (tests use one template for speed). */
  loadDataDir?: Blob;
}

/**
 * PGlite is one PostgreSQL backend inside this process: one connection, and a data
 * directory that only one process may open. A lock file next to it makes a second
 * process (say, the CLI while `airlock serve` runs) fail with a clear message
 * instead of corrupting the database.
 */
/** An embedded database can also dump its data directory (tests copy a template). */
export interface PgliteDb extends Db {
  dump(): Promise<Blob>;
}

export async function openPglite(options: PgliteOptions = {}): Promise<PgliteDb> {
  let release = (): void => {};
  if (options.dir) {
    mkdirSync(options.dir, { recursive: true });
    release = takeDirLock(options.dir);
  }
  let db: PGlite;
  try {
    db = await PGlite.create(options.dir ? options.dir : 'memory://', {
      parsers: { [INT8]: (v: string) => Number(v), [NUMERIC]: (v: string) => Number(v) },
      ...(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {}),
    });
  } catch (err) {
    release();
    throw new AirlockError('ERR_DB_UNREACHABLE', `cannot open the embedded database in ${options.dir ?? 'memory'}: ${(err as Error).message}`, { cause: err });
  }
  type Conn = Pick<PGlite, 'query' | 'exec'>;
  const run = async <T>(conn: Conn, sql: string, params?: unknown[]): Promise<QueryResult<T>> => {
    try {
      const res = await conn.query<T>(sql, params);
      // rowCount is the statement's own count (rows a SELECT returned, or an UPDATE
      // changed); affectedRows is 0 for a SELECT, which made "exists?" checks lie.
      return { rows: res.rows, rowCount: res.rowCount ?? res.affectedRows ?? res.rows.length };
    } catch (err) {
      return wrapDbError(err);
    }
  };
  const execOn = async (conn: Conn, sql: string): Promise<void> => {
    try {
      await conn.exec(sql);
    } catch (err) {
      wrapDbError(err);
    }
  };
  const handle: PgliteDb = {
    engine: 'pglite',
    dump: async () => (await db.dumpDataDir('none')) as Blob,
    query: (sql, params) => run(db, sql, params),
    exec: (sql) => execOn(db, sql),
    transaction: (fn) =>
      db.transaction((tx) => fn({ query: (sql, params) => run(tx, sql, params), exec: (sql) => execOn(tx, sql) })),
    async close() {
      try {
        await db.close();
      } finally {
        release();
      }
    },
  };
  return handle;
}

function takeDirLock(dir: string): () => void {
  const lockPath = join(dir, 'airlock.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          if (existsSync(lockPath) && readFileSync(lockPath, 'utf8') === String(process.pid)) unlinkSync(lockPath);
        } catch {
          /* already gone */
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(lockPath, 'utf8'));
      if (pid && pid !== process.pid && processAlive(pid)) {
        throw new AirlockError(
          'ERR_DB_LOCKED',
          `the embedded database in ${dir} is in use by process ${pid} (is "airlock serve" running? use the API, or stop it first)`,
        );
      }
      unlinkSync(lockPath); // stale lock from a crashed process
    }
  }
  throw new AirlockError('ERR_DB_LOCKED', `cannot lock ${dir}`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
