import { mkdirSync, readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AirlockError } from '../core/index.js';
import { isErrorCode } from '../core/index.js';

/**
 * The CLI's side of the HTTP API. Admin verbs go through the running server
 * (the embedded database belongs to one process), authenticated with the token
 * that `airlock login` stored in $AIRLOCK_HOME (default ~/.airlock, mode 0700).
 */
export interface StoredLogin {
  url: string;
  token: string;
  user: string;
  role: string;
  loginId: string;
  expiresAt: string;
  /** The SSH certificate issued with the login, if any. */
  certificate?: { serial: string; keyId: string; ca: string; file: string; fingerprint: string };
}

export function airlockHome(env = process.env): string {
  return env['AIRLOCK_HOME'] ?? join(homedir(), '.airlock');
}

const credentialsPath = () => join(airlockHome(), 'credentials.json');

export function readStoredLogin(): StoredLogin | undefined {
  const path = credentialsPath();
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as StoredLogin;
  } catch {
    return undefined;
  }
}

export function storeLogin(login: StoredLogin): string {
  mkdirSync(airlockHome(), { recursive: true, mode: 0o700 });
  const path = credentialsPath();
  writeFileSync(path, JSON.stringify(login, null, 2) + '\n', { mode: 0o600 });
  return path;
}

export function forgetLogin(): void {
  rmSync(credentialsPath(), { force: true });
}

/** --url, else AIRLOCK_URL, else the stored login's server, else the local default. */
export function serverUrl(flag: string | undefined): string {
  const url = flag ?? process.env['AIRLOCK_URL'] ?? readStoredLogin()?.url ?? 'http://127.0.0.1:8080';
  return url.replace(/\/+$/, '');
}

export class ApiClient {
  constructor(
    readonly url: string,
    private readonly token?: string,
  ) {}

  /** A client for the stored login; fails with a clear message if there is none. */
  static fromStoredLogin(urlFlag: string | undefined): ApiClient {
    const stored = readStoredLogin();
    if (!stored) throw new AirlockError('ERR_UNAUTHENTICATED', 'not logged in: run "airlock login" first');
    return new ApiClient(serverUrl(urlFlag), stored.token);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.url + path, {
        method,
        headers: {
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (err) {
      throw new AirlockError('ERR_SERVER_UNREACHABLE', `cannot reach the airlock server at ${this.url} (is "airlock serve" running? set --url or AIRLOCK_URL)`, { cause: err });
    }
    const text = await res.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : {};
    } catch {
      throw new AirlockError('ERR_BAD_RESPONSE', `${this.url} did not answer like an airlock server (HTTP ${res.status})`);
    }
    if (!res.ok) throw fromServer(res.status, (data as { error?: { code?: string; message?: string } }).error);
    return data as T;
  }

  /** A binary body (recordings, bundles); errors still arrive as JSON. */
  /**
   * Streams a download into `to` (a file, stdout) with back-pressure, never
   * holding it whole; returns the bytes written. The time limit covers the wait
   * for an answer, not the transfer: an export of a long recording takes as long
   * as it takes.
   */
  async download(path: string, to: Writable): Promise<number> {
    const waiting = new AbortController();
    const timer = setTimeout(() => waiting.abort(new Error('no answer within 300 s')), 300_000);
    let res: Response;
    try {
      res = await fetch(this.url + path, { headers: this.token ? { authorization: `Bearer ${this.token}` } : {}, signal: waiting.signal });
    } catch (err) {
      throw new AirlockError('ERR_SERVER_UNREACHABLE', `cannot reach the airlock server at ${this.url} (is "airlock serve" running? set --url or AIRLOCK_URL)`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
    if (!res.ok) {
      const body = await res.text();
      let error: { code?: string; message?: string } | undefined;
      try {
        error = (JSON.parse(body) as { error?: { code?: string; message?: string } }).error;
      } catch {
        /* not JSON */
      }
      throw fromServer(res.status, error);
    }
    let bytes = 0;
    const counted = async function* (body: AsyncIterable<Uint8Array>) {
      for await (const chunk of body) {
        bytes += chunk.length;
        yield chunk;
      }
    };
    if (!res.body) return 0;
    try {
      await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>), counted, to, { end: to !== process.stdout });
    } catch (err) {
      throw new AirlockError('ERR_SERVER_UNREACHABLE', `the download from ${this.url} was cut short after ${bytes} bytes: ${(err as Error).message}`, { cause: err });
    }
    return bytes;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>('POST', path, body);
  }
}

/**
 * An error the server answered with. The server already decided what its message
 * may say (it sends a generic one for anything it does not expose), so the CLI
 * shows it as it came, under the server's code and status.
 */
function fromServer(status: number, error: { code?: string; message?: string } | undefined): AirlockError {
  const code = isErrorCode(error?.code) ? error.code : status >= 500 ? 'ERR_INTERNAL' : 'ERR_BAD_RESPONSE';
  return new AirlockError(code, error?.message ?? `HTTP ${status}`, { status, expose: true });
}
