import { AirlockError, inertText, publicMessage, toAirlockError } from '../core/index.js';
import type { ErrorCode, Logger } from '../core/index.js';

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

/** Codes whose exit differs from what their HTTP status says. */
const exitFor: Partial<Record<ErrorCode, number>> = {
  ERR_CONFIG_INVALID: EXIT.usage,
  ERR_RATE_LIMITED: EXIT.auth,
  ERR_ACCOUNT_LOCKED: EXIT.auth,
  ERR_ACCOUNT_DISABLED: EXIT.auth,
  ERR_AUDIT_CHAIN: EXIT.verifyFailed,
};

/** By HTTP status: 4xx input → 2, 401 → 3, 403/429 → 4, 404 → 5, 409 → 6, 502/503/504 → 8, else 1. */
export function exitCodeFor(err: AirlockError): number {
  const byCode = exitFor[err.code];
  if (byCode !== undefined) return byCode;
  const s = err.status;
  if (s === 401) return EXIT.auth;
  if (s === 403 || s === 429) return EXIT.forbidden;
  if (s === 404) return EXIT.notFound;
  if (s === 409) return EXIT.conflict;
  if (s >= 400 && s < 500) return EXIT.usage;
  if (s === 502 || s === 503 || s === 504) return EXIT.unavailable;
  return EXIT.error;
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

/**
 * Prints an error the way the verb was asked to speak, and returns the exit code.
 * What is shown follows the error's `expose` alone (core/errors.ts); anything
 * else goes to the log, if the verb has one, with its cause.
 */
export function reportError(err: unknown, json: boolean, logger?: Logger): number {
  const error = toAirlockError(err);
  const message = publicMessage(error);
  if (!error.expose) logger?.error({ err: error.cause ?? error, code: error.code, details: error.details }, error.message);
  if (json) process.stdout.write(JSON.stringify({ error: { code: error.code, message } }) + '\n');
  process.stderr.write(`airlock: ${message}\n`);
  return exitCodeFor(error);
}

/** A table for a terminal. Cells are made inert: they may hold what someone typed (a reason, a comment). */
export function table(rows: Array<Record<string, unknown>>, columns: string[]): string {
  if (rows.length === 0) return '(none)';
  const cell = (v: unknown) => (v === null || v === undefined ? '-' : v instanceof Date ? v.toISOString() : inertText(String(v), { max: 200 }));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i] as number)).join('  ').trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n');
}

export { AirlockError };
