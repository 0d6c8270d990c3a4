import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPostgresSchema, postgresUrl } from './db.js';
import type { Engine } from './db.js';

/**
 * Drives the built `airlock` command (dist/cli/main.js, so run `npm run build`
 * first; `npm test` does) as a real child process: one-shot verbs with stdin and
 * environment, and `airlock serve --json` as a long-running server on port 0.
 *
 * A sandbox is one temporary directory per test (data dir, one AIRLOCK_HOME per
 * CLI user) and, on PostgreSQL, one fresh schema named in AIRLOCK_DATABASE_URL.
 * `cleanup()` stops servers it started, drops the schema and removes the directory.
 */
export const CLI_PATH = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to the child's stdin, which is then closed (stdin is always closed). */
  input?: string;
  /** Added to (or, with undefined, removed from) the environment. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  timeoutMs?: number;
}

/** The parent's environment without any AIRLOCK_* setting or Node options a test runner may have set. */
export function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith('AIRLOCK_') || k === 'NODE_OPTIONS') continue;
    env[k] = v;
  }
  return env;
}

function mergeEnv(base: Record<string, string>, extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env = { ...base };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

function assertBuilt(): void {
  if (!existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} is missing: run "npm run build" before the CLI tests`);
}

/** Runs `node dist/cli/main.js ...args` to completion. Never throws for a non-zero exit. */
export function runCli(args: string[], options: RunOptions = {}): Promise<CliResult> {
  assertBuilt();
  const timeoutMs = options.timeoutMs ?? 120_000;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], {
      env: mergeEnv(baseEnv(), options.env),
      cwd: options.cwd ?? tmpdir(),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`airlock ${args.join(' ')} did not finish in ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    // A child that exits before reading stdin makes the write fail with EPIPE; that is fine.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}

export interface ServerProcess {
  /** Base URL of the web API, from the ready event. */
  url: string;
  pid: number;
  /** Everything the server has printed so far. */
  stdout(): string;
  stderr(): string;
  /** SIGTERM, wait for exit (SIGKILL after graceMs); the exit code, or null if killed. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `airlock serve --json` and waits for its ready event, the first JSON
 * document on stdout: {"event":"ready","web":URL}. It is read line by line and
 * accepted whether printed on one line or pretty-printed over several.
 */
export function startServe(options: { env?: Record<string, string | undefined>; cwd?: string; timeoutMs?: number } = {}): Promise<ServerProcess> {
  assertBuilt();
  const timeoutMs = options.timeoutMs ?? 120_000;
  const child = spawn(process.execPath, [CLI_PATH, 'serve', '--json'], {
    env: mergeEnv(baseEnv(), options.env),
    cwd: options.cwd ?? tmpdir(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });

  return new Promise((resolve, reject) => {
    let ready = false;
    let pending: string[] = [];
    let partial = '';
    const fail = (why: string) => {
      if (ready) return;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`airlock serve ${why}\nstdout: ${stdout}\nstderr: ${stderr}`));
    };
    const timer = setTimeout(() => fail(`printed no ready event in ${timeoutMs} ms`), timeoutMs);
    child.on('error', (err) => fail(`could not start: ${err.message}`));
    void exited.then(({ code, signal }) => fail(`exited before it was ready (code ${code}, signal ${signal})`));
    child.stdout.on('data', (d: string) => {
      stdout += d;
      if (ready) return;
      partial += d;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        pending.push(line);
        let doc: unknown;
        try {
          doc = JSON.parse(pending.join('\n'));
        } catch {
          continue; // not a whole JSON document yet
        }
        pending = [];
        const event = doc as { event?: unknown; web?: unknown };
        if (event.event !== 'ready' || typeof event.web !== 'string') return fail(`printed something other than the ready event first: ${JSON.stringify(doc)}`);
        ready = true;
        clearTimeout(timer);
        resolve({
          url: event.web,
          pid: child.pid as number,
          stdout: () => stdout,
          stderr: () => stderr,
          stop: (graceMs = 10_000) => stopChild(child, exited, graceMs),
        });
        return;
      }
    });
  });
}

async function stopChild(
  child: ChildProcess,
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
  graceMs: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve();
      }, graceMs);
    });
    await Promise.race([exited, killed]);
    clearTimeout(timer);
  }
  return exited;
}

// ---------------------------------------------------------------- sandbox

export interface CliSandbox {
  engine: Engine;
  /** The temporary directory holding everything below. */
  root: string;
  dataDir: string;
  /** AIRLOCK_DATABASE_URL on PostgreSQL (a fresh schema in its search_path). */
  databaseUrl?: string;
  schema?: string;
  /** Environment for every child: data dir, database, port 0, quiet logs. */
  env: Record<string, string>;
  /** The server URL CLI verbs use (AIRLOCK_URL), once a server runs. */
  url?: string;
  /** A separate AIRLOCK_HOME per CLI user, so several can be logged in at once. */
  home(user?: string): string;
  /** Runs a verb as `user` (that user's AIRLOCK_HOME) against the sandbox's server. */
  run(args: string[], options?: RunOptions & { as?: string }): Promise<CliResult>;
  /** Starts `airlock serve` on the sandbox; sets `url`. */
  serve(): Promise<ServerProcess>;
  /** Stops the running server, if any. */
  stopServer(): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined>;
  cleanup(): Promise<void>;
}

export async function createCliSandbox(engine: Engine): Promise<CliSandbox> {
  const root = mkdtempSync(join(tmpdir(), 'airlock-cli-'));
  const dataDir = join(root, 'data');
  let schema: { schema: string; drop(): Promise<void> } | undefined;
  let databaseUrl: string | undefined;
  if (engine === 'postgres') {
    if (!postgresUrl) throw new Error('AIRLOCK_TEST_DATABASE_URL is not set');
    schema = await createPostgresSchema();
    // libpq's "options" parameter, which pg passes on as the startup option.
    const sep = postgresUrl.includes('?') ? '&' : '?';
    databaseUrl = `${postgresUrl}${sep}options=${encodeURIComponent(`-c search_path=${schema.schema}`)}`;
  }
  const env: Record<string, string> = {
    AIRLOCK_DATA_DIR: dataDir,
    AIRLOCK_WEB_LISTEN: '127.0.0.1:0',
    AIRLOCK_SSH_LISTEN: '127.0.0.1:0',
    AIRLOCK_LOG_LEVEL: 'warn',
    ...(databaseUrl ? { AIRLOCK_DATABASE_URL: databaseUrl } : {}),
  };
  let server: ServerProcess | undefined;
  const home = (user = 'default') => {
    const dir = join(root, `home-${user}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  };
  const sandbox: CliSandbox = {
    engine,
    root,
    dataDir,
    env,
    ...(databaseUrl ? { databaseUrl } : {}),
    ...(schema ? { schema: schema.schema } : {}),
    home,
    run(args, options = {}) {
      const { as, env: extra, ...rest } = options;
      return runCli(args, {
        cwd: root,
        ...rest,
        env: { ...env, AIRLOCK_HOME: home(as), ...(sandbox.url ? { AIRLOCK_URL: sandbox.url } : {}), ...extra },
      });
    },
    async serve() {
      if (server) throw new Error('the sandbox server is already running');
      server = await startServe({ env: { ...env, AIRLOCK_HOME: home('server') }, cwd: root });
      sandbox.url = server.url;
      return server;
    },
    async stopServer() {
      const s = server;
      server = undefined;
      return s?.stop();
    },
    async cleanup() {
      try {
        await sandbox.stopServer();
      } finally {
        try {
          await schema?.drop();
        } finally {
          rmSync(root, { recursive: true, force: true });
        }
      }
    },
  };
  return sandbox;
}

/** The first JSON document a --json verb printed on stdout. */
export function parseJson<T = Record<string, unknown>>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`expected JSON on stdout (exit ${r.code})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
}

/** The current RFC 6238 code for a base32 secret, from the real `oathtool`. */
export function oathtool(secret: string): string {
  const code = execFileSync('oathtool', ['--totp', '-b', secret], { encoding: 'utf8' }).trim();
  if (!/^\d{6}$/.test(code)) throw new Error(`oathtool printed ${JSON.stringify(code)}`);
  return code;
}
