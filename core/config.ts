import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { hostname } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { AirlockError } from './errors.js';
import { parseDuration } from './duration.js';

/**
 * airlock's configuration: a YAML file plus AIRLOCK_* environment variables, which
 * win over the file. Parsed once at start-up, checked against one schema, filled
 * with defaults, frozen, and passed down. A bad value stops start-up with an error
 * that names the setting and where it came from.
 *
 * Where the file is: --config / AIRLOCK_CONFIG, else <dataDir>/airlock.yaml if it exists.
 */

/** "host:port" or "[v6]:port"; port 0 asks the OS for a free one (tests). */
export interface ListenAddress {
  host: string;
  port: number;
}

export function parseListen(text: string): ListenAddress | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: (m[1] ?? m[2]) as string, port };
}

const listen = z.string().transform((v, ctx) => {
  const parsed = parseListen(v);
  if (!parsed) {
    ctx.addIssue({ code: 'custom', message: `expected host:port (for example 127.0.0.1:8080), got "${v}"` });
    return z.NEVER;
  }
  return parsed;
});

const MAX_DURATION = 400 * 86_400_000;

const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = typeof v === 'number' ? v : parseDuration(v);
  if (ms === undefined || !Number.isSafeInteger(ms) || ms < 0 || ms > MAX_DURATION) {
    ctx.addIssue({ code: 'custom', message: `expected a whole duration up to 400d, like 90s, 15m or 8h, got "${v}"` });
    return z.NEVER;
  }
  return ms;
});

/** One sensitivity tier of the break-glass policy, with its defaults. */
function tier(d: { maxDuration: number; approvals: number; reasonRequired: boolean; ticketRequired: boolean }) {
  return z
    .strictObject({
      /** Longest access one request can grant. */
      maxDuration: duration.default(d.maxDuration),
      /** Distinct internal approvers needed (0: a grant is enough). */
      approvals: z.number().int().min(0).max(5).default(d.approvals),
      reasonRequired: z.boolean().default(d.reasonRequired),
      ticketRequired: z.boolean().default(d.ticketRequired),
    })
    .prefault({});
}

const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

const schema = z.strictObject({
  /** Where airlock keeps its embedded database, keys and recordings. */
  dataDir: z.string().min(1).default('./.airlock'),
  /** postgres://… to use a PostgreSQL server; unset = embedded PGlite in dataDir/db. */
  databaseUrl: z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL').optional(),
  /**
   * 32-byte key (base64 or hex) that encrypts secrets at rest (TOTP seeds, signing keys,
   * target credentials). The customer holds it. Or masterKeyFile: a file holding it.
   * Unset: dataDir/master.key if present (warns: the key sits beside what it protects).
   */
  masterKey: z.string().optional(),
  masterKeyFile: z.string().optional(),
  /** Demo mode: throw-away data, printed passwords. Warns loudly. */
  demo: z.boolean().default(false),
  log: z
    .strictObject({
      level: logLevel.default('info'),
      /** json, pretty, or auto: pretty when stdout is a terminal (core/logger.ts). */
      format: z.enum(['auto', 'json', 'pretty']).default('auto'),
    })
    .prefault({}),
  ssh: z
    .strictObject({
      /** The SSH front door. */
      listen: listen.default({ host: '0.0.0.0', port: 2222 }),
      /** A connection that has not logged in by then is dropped. */
      preAuthTimeout: duration.default(30_000),
      /** Failed authentication attempts allowed per connection. */
      maxAuthAttempts: z.number().int().min(1).max(20).default(6),
      /** Connections still logging in, in all and per source address; more are dropped at once. */
      maxUnauthenticated: z.number().int().min(1).max(100_000).default(500),
      maxUnauthenticatedPerSource: z.number().int().min(1).max(10_000).default(20),
      /** New connections per source address per minute. */
      connectionsPerMinutePerSource: z.number().int().min(1).max(100_000).default(120),
      /** Live sessions on this node, and per user. */
      maxSessions: z.number().int().min(1).max(100_000).default(2000),
      maxSessionsPerUser: z.number().int().min(1).max(10_000).default(20),
      /**
       * Channels (sessions and forwards) one connection may have open at once;
       * OpenSSH's sshd allows 10 sessions. One more is refused with an SSH
       * channel-open failure (resource shortage), logged, and audited once per
       * connection plus a sum at its end (gateway/channel-budget.ts).
       */
      maxChannelsPerConnection: z.number().int().min(1).max(1000).default(32),
      /** The same over all of one user's connections on this node: twice one connection's by default. */
      maxChannelsPerUser: z.number().int().min(1).max(10_000).default(64),
      /**
       * SFTP file operations kept on one session row (and shown by the API and
       * `airlock session show`); the ones after them are counted as omitted and
       * stay in the recording and the log. Paths are kept to 1 KiB each
       * (gateway/stored-path.ts), so a row stays near 2.5 MB at most.
       */
      maxStoredFileOps: z.number().int().min(1).max(100_000).default(1000),
      /** Roles that may open SSH sessions at all. */
      allowedRoles: z.array(z.enum(['engineer', 'approver', 'auditor', 'admin'])).default(['engineer', 'admin']),
      /** Probes a silent peer this often; drops it after keepaliveCountMax unanswered. */
      keepaliveInterval: duration.default(15_000),
      keepaliveCountMax: z.number().int().min(1).max(100).default(4),
      /** How long airlock waits for a target's SSH handshake. */
      targetConnectTimeout: duration.default(15_000),
      /** Critical targets ask for a fresh TOTP code on every connection, even with a certificate. */
      freshTotpForCritical: z.boolean().default(true),
      /** Warnings written into the terminal before access expires. */
      expiryWarnings: z.array(duration).max(5).default([5 * 60_000, 60_000]),
      /** Shown to every client before login. */
      banner: z.string().max(2000).default('airlock: authorized access only. Sessions are recorded and audited.\n'),
    })
    .prefault({}),
  /** Break-glass policy per target sensitivity (approvals/policy.ts). */
  policy: z
    .strictObject({
      standard: tier({ maxDuration: 8 * 3_600_000, approvals: 0, reasonRequired: false, ticketRequired: false }),
      sensitive: tier({ maxDuration: 2 * 3_600_000, approvals: 1, reasonRequired: true, ticketRequired: false }),
      critical: tier({ maxDuration: 3_600_000, approvals: 2, reasonRequired: true, ticketRequired: true }),
      /** What a ticket reference must look like. */
      ticketPattern: z
        .string()
        .max(200)
        .refine((p) => {
          try {
            new RegExp(p);
            return true;
          } catch {
            return false;
          }
        }, 'not a valid regular expression')
        .default('^(INC|CHG|REQ)-\\d+$'),
      /** Link shown for a ticket; {ticket} is replaced. */
      ticketLink: z.string().max(500).optional(),
      /** A request nobody decides in this time expires. */
      requestTimeout: duration.default(15 * 60_000),
    })
    .prefault({}),
  recordings: z
    .strictObject({
      /** Where recordings are written; default <dataDir>/recordings. */
      dir: z.string().min(1).optional(),
      /** Signed checkpoint (and fdatasync) interval. */
      checkpointInterval: duration.default(30_000),
      /** Buffered events reach the file at least this often … */
      flushInterval: duration.default(1000),
      /** … or once this many bytes wait. */
      flushBytes: z.number().int().min(4096).max(16 * 1024 * 1024).default(1024 * 1024),
      /**
       * SFTP file contents in the recording, by the target's sensitivity. Off by
       * default: operations, paths, sizes and SHA-256 are always recorded, but a
       * copy of the files themselves (a patient database, say) inside a recording
       * is itself something to protect and to account for.
       */
      captureFileContent: z
        .strictObject({
          standard: z.boolean().default(false),
          sensitive: z.boolean().default(false),
          critical: z.boolean().default(false),
        })
        .prefault({}),
      /**
       * Analyse terminal and exec recordings while they run: commands and their
       * risk flags appear within a second or two of Enter, and a risky one is
       * announced (notifications.riskyCommands). Off: analysed once sealed.
       */
      liveAnalysis: z.boolean().default(true),
      /**
       * The customer's reveal keys (age recipients, `age1…`, from `airlock keys
       * create-reveal-key`): what an engineer types without echo (passwords,
       * input after `stty -echo`) is sealed to them in the recording, readable
       * only with the private half the customer keeps. None: it is counted, not kept.
       */
      revealRecipients: z
        .array(z.string().trim().regex(/^age1[02-9ac-hj-np-z]{58}$/, 'expected an age recipient (age1… from `airlock keys create-reveal-key` or age-keygen)'))
        .max(16)
        .default([]),
      /**
       * Whole-recording reads (verify, export, evidence) running at once on one
       * server; one more is answered 503 with Retry-After.
       */
      maxConcurrentReads: z.number().int().min(1).max(64).default(4),
      /** Days a recording is kept, by the target's sensitivity. */
      retentionDays: z
        .strictObject({
          standard: z.number().int().min(1).max(36_500).default(365),
          sensitive: z.number().int().min(1).max(36_500).default(365),
          critical: z.number().int().min(1).max(36_500).default(365),
        })
        .prefault({}),
    })
    .prefault({}),
  /** Who hears about access requests (approvals/notifications.ts). Delivery never blocks a request. */
  notifications: z
    .strictObject({
      /** Receivers told when a request is created, decided or expires, a grant is revoked, or a live session runs a risky command. */
      webhooks: z
        .array(
          z.strictObject({
            /** Where the POST goes; http or https only. */
            url: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).max(2000),
            /** Signs the raw body: X-Airlock-Signature: sha256=<hex HMAC-SHA256>. Unset: unsigned (warns). */
            secret: z.string().min(16, 'use at least 16 characters').max(500).optional(),
            /** json: airlock's own body; slack: {"text": …} for a Slack-compatible incoming webhook. */
            format: z.enum(['json', 'slack']).default('json'),
            /** Only these events; unset: all of them. */
            events: z.array(z.enum(['request.created', 'request.decided', 'request.expired', 'grant.revoked', 'command.risky'])).min(1).optional(),
          }),
        )
        .max(20)
        .default([]),
      /** E-mail to the approvers on a new request and to the requester on its outcome; unset: no e-mail. */
      smtp: z
        .strictObject({
          host: z.string().min(1).max(255),
          port: z.number().int().min(1).max(65535).default(587),
          /** TLS from the first byte (port 465); otherwise STARTTLS when the server offers it. */
          secure: z.boolean().default(false),
          auth: z.strictObject({ user: z.string().min(1), pass: z.string().min(1) }).optional(),
          /** The From: address, e.g. "airlock <airlock@example.com>". */
          from: z.string().min(3).max(320),
        })
        .optional(),
      /**
       * A risky command in a live session (recordings/live-analyses.ts) is told to
       * the webhooks (event command.risky) and mailed to the approvers at once;
       * more in the same session within this interval are gathered into one
       * notification at its end, so a script cannot flood anyone.
       */
      riskyCommandInterval: duration.refine((ms) => ms >= 1000, 'must be at least 1s').default(60_000),
      /** Tries per delivery, the first included; then the give-up is audited (notification.failed). */
      maxAttempts: z.number().int().min(1).max(20).default(6),
      /** Wait before the first retry; doubles on each further one (1s, 2s, 4s …). */
      baseDelay: duration.default(1000),
      /** One delivery attempt (HTTP request, SMTP conversation) gives up after this long. */
      timeout: duration.refine((ms) => ms >= 100, 'must be at least 100ms').default(10_000),
    })
    .prefault({}),
  /** This node's name in session rows (several nodes can share one database). */
  nodeName: z.string().min(1).max(128).optional(),
  web: z
    .strictObject({
      /** HTTP API and (later) the web console. Plain HTTP off loopback warns. */
      listen: listen.default({ host: '127.0.0.1', port: 8080 }),
      /** Largest JSON body accepted, in bytes. */
      maxBodyBytes: z.number().int().min(1024).max(10 * 1024 * 1024).default(64 * 1024),
      /** Trust X-Forwarded-For from these proxies (express "trust proxy"); off by default. */
      trustProxy: z.union([z.boolean(), z.string()]).default(false),
    })
    .prefault({}),
  auth: z
    .strictObject({
      /** How long a login (its API token, later its SSH certificate) lasts by default. */
      loginTtl: duration.default(60 * 60 * 1000),
      /** The longest login anyone may ask for. */
      maxLoginTtl: duration.default(8 * 60 * 60 * 1000),
      /** TOTP steps of clock skew allowed either side (RFC 6238 §5.2 recommends 1). */
      totpWindow: z.number().int().min(0).max(2).default(1),
      /** Failed attempts per user or source allowed before back-off starts. */
      freeAttempts: z.number().int().min(1).max(100).default(3),
      /** First back-off delay; doubles per further failure up to maxBackoff. */
      baseBackoff: duration.default(1000),
      maxBackoff: duration.default(15 * 60 * 1000),
      /** Consecutive failures after which a user is locked until an admin unlocks. */
      lockoutAfter: z.number().int().min(3).max(1000).default(10),
    })
    .prefault({}),
  tokens: z
    .strictObject({
      issuer: z.string().min(1).default('airlock'),
      audience: z.string().min(1).default('airlock-api'),
    })
    .prefault({}),
});

export type Config = Readonly<z.output<typeof schema>> & { readonly configFile: string | undefined; readonly nodeName: string };

/** Environment variables and the setting each overrides. */
const envMap: Array<[string, string[], (v: string) => unknown]> = [
  ['AIRLOCK_DATA_DIR', ['dataDir'], String],
  ['AIRLOCK_DATABASE_URL', ['databaseUrl'], String],
  ['AIRLOCK_MASTER_KEY', ['masterKey'], String],
  ['AIRLOCK_MASTER_KEY_FILE', ['masterKeyFile'], String],
  ['AIRLOCK_DEMO', ['demo'], parseBool],
  ['AIRLOCK_LOG_LEVEL', ['log', 'level'], String],
  ['AIRLOCK_LOG_FORMAT', ['log', 'format'], String],
  ['AIRLOCK_SSH_LISTEN', ['ssh', 'listen'], String],
  ['AIRLOCK_WEB_LISTEN', ['web', 'listen'], String],
  ['AIRLOCK_LOGIN_TTL', ['auth', 'loginTtl'], String],
];

function parseBool(v: string): unknown {
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  return v; // left as a string so the schema names the setting in its error
}

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  /** An explicit config file (the --config flag). */
  file?: string;
  /** Values that win over everything (flags of the command being run). */
  overrides?: Record<string, unknown>;
}

export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const raw: Record<string, unknown> = {};
  const origin = new Map<string, string>();

  const explicitFile = options.file ?? env['AIRLOCK_CONFIG'];
  const dataDirHint = (options.overrides?.['dataDir'] as string | undefined) ?? env['AIRLOCK_DATA_DIR'] ?? './.airlock';
  const implicitFile = resolve(dataDirHint, 'airlock.yaml');
  const file = explicitFile ?? (existsSync(implicitFile) ? implicitFile : undefined);
  if (file) {
    let parsed: unknown;
    try {
      parsed = parseYaml(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new AirlockError('ERR_CONFIG_INVALID', `config file ${file}: ${(err as Error).message}`, { cause: err });
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new AirlockError('ERR_CONFIG_INVALID', `config file ${file}: expected a mapping of settings at the top level`);
      }
      Object.assign(raw, parsed);
    }
  }

  for (const [name, path, convert] of envMap) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    setPath(raw, path, convert(value));
    origin.set(path.join('.'), name);
  }
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    if (value === undefined) continue;
    setPath(raw, key.split('.'), value);
    origin.set(key, 'command line');
  }

  const result = schema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const path = issue.path.join('.') || '(top level)';
      const from = origin.get(path) ?? (file ? `in ${file}` : 'default');
      const unknownKeys = issue.code === 'unrecognized_keys' ? ` (${issue.keys.join(', ')})` : '';
      return `  ${path}: ${issue.message}${unknownKeys} [${from}]`;
    });
    throw new AirlockError('ERR_CONFIG_INVALID', `invalid configuration:\n${lines.join('\n')}`);
  }
  const config = result.data;
  const cross = (path: string, message: string) => {
    const from = origin.get(path) ?? (file ? `in ${file}` : 'default');
    return new AirlockError('ERR_CONFIG_INVALID', `invalid configuration:\n  ${path}: ${message} [${from}]`);
  };
  if (config.auth.loginTtl > config.auth.maxLoginTtl) throw cross('auth.loginTtl', 'longer than auth.maxLoginTtl');
  if (config.auth.loginTtl < 60_000) throw cross('auth.loginTtl', 'must be at least 1m');
  if (config.auth.baseBackoff > config.auth.maxBackoff) throw cross('auth.baseBackoff', 'longer than auth.maxBackoff');
  return deepFreeze({ ...config, dataDir: resolve(config.dataDir), nodeName: config.nodeName ?? hostname(), configFile: file });
}

/** Settings that work but weaken airlock; start-up logs each loudly. */
export function insecureSettings(config: Config): string[] {
  const warnings: string[] = [];
  if (config.demo) warnings.push('DEMO MODE: throw-away data directory, printed passwords, generated master key. Never use for real access.');
  if (!isLoopback(config.web.listen.host)) {
    warnings.push(`web.listen ${config.web.listen.host}:${config.web.listen.port} serves plain HTTP off loopback: put a TLS-terminating proxy in front.`);
  }
  if (config.masterKey) warnings.push('masterKey is set inline (config or environment): prefer masterKeyFile on storage the customer controls.');
  return warnings;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
