import { AirlockError, toAirlockError } from '../core/index.js';
import type { ErrorCode } from '../core/index.js';

/**
 * What the CLI prints and how it exits. Exit codes mean the same in every verb,
 * so scripts can branch on them (README lists them):
 */
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  auth: 3,
  forbidden: 4,
  notFound: 5,
  conflict: 6,
  verifyFailed: 7,
  unavailable: 8,
} as const;

const exitFor: Partial<Record<ErrorCode, number>> = {
  ERR_INVALID_INPUT: EXIT.usage,
  ERR_CONFIG_INVALID: EXIT.usage,
  ERR_UNAUTHENTICATED: EXIT.auth,
  ERR_LOGIN_FAILED: EXIT.auth,
  ERR_OTP_INVALID: EXIT.auth,
  ERR_OTP_REPLAYED: EXIT.auth,
  ERR_OTP_NOT_ENROLLED: EXIT.auth,
  ERR_RATE_LIMITED: EXIT.auth,
  ERR_ACCOUNT_LOCKED: EXIT.auth,
  ERR_ACCOUNT_DISABLED: EXIT.auth,
  ERR_TOKEN_INVALID: EXIT.auth,
  ERR_TOKEN_EXPIRED: EXIT.auth,
  ERR_TOKEN_REVOKED: EXIT.auth,
  ERR_FORBIDDEN: EXIT.forbidden,
  ERR_NOT_FOUND: EXIT.notFound,
  ERR_CONFLICT: EXIT.conflict,
  ERR_AUDIT_CHAIN: EXIT.verifyFailed,
  ERR_UNAVAILABLE: EXIT.unavailable,
};

export function exitCodeFor(err: AirlockError): number {
  return exitFor[err.code] ?? EXIT.error;
}

export interface Output {
  json: boolean;
  /** Prints a result: the object as one JSON document with --json, else the text. */
  result(data: unknown, text: string | (() => string)): void;
  info(text: string): void;
}

export function createOutput(json: boolean): Output {
  return {
    json,
    result(data, text) {
      if (json) process.stdout.write(JSON.stringify(data, null, 2) + '\n');
      else process.stdout.write((typeof text === 'function' ? text() : text) + '\n');
    },
    info(text) {
      process.stderr.write(text + '\n');
    },
  };
}

/** Prints an error the way the verb was asked to speak, and returns the exit code. */
export function reportError(err: unknown, json: boolean): number {
  const error = toAirlockError(err);
  const message = error.expose || error.code === 'ERR_CONFIG_INVALID' || error.code === 'ERR_DB' || error.code === 'ERR_MASTER_KEY' || error.code === 'ERR_MIGRATION'
    ? error.message
    : `${error.message}${error.cause instanceof Error ? `: ${error.cause.message}` : ''}`;
  if (json) process.stdout.write(JSON.stringify({ error: { code: error.code, message } }) + '\n');
  process.stderr.write(`airlock: ${message}\n`);
  return exitCodeFor(error);
}

export function table(rows: Array<Record<string, unknown>>, columns: string[]): string {
  if (rows.length === 0) return '(none)';
  const cell = (v: unknown) => (v === null || v === undefined ? '-' : v instanceof Date ? v.toISOString() : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i] as number)).join('  ').trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n');
}

export { AirlockError };
