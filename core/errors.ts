/**
 * One error base for all of airlock. Every failure has a stable string `code`
 * (what scripts and tests match on), an HTTP status, and whether its message is
 * safe to show to the client (`expose`, true for 4xx). The original error is kept
 * as `cause`. Where an error leaves the process (HTTP body, SSH banner, CLI exit)
 * one mapper decides what is shown: see web/errors.ts and cli/output.ts.
 */
export type ErrorCode =
  | 'ERR_CONFIG_INVALID'
  | 'ERR_DB'
  | 'ERR_MIGRATION'
  | 'ERR_NOT_FOUND'
  | 'ERR_CONFLICT'
  | 'ERR_INVALID_INPUT'
  | 'ERR_BODY_TOO_LARGE'
  | 'ERR_UNAUTHENTICATED'
  | 'ERR_FORBIDDEN'
  | 'ERR_LOGIN_FAILED'
  | 'ERR_OTP_INVALID'
  | 'ERR_OTP_REPLAYED'
  | 'ERR_OTP_NOT_ENROLLED'
  | 'ERR_RATE_LIMITED'
  | 'ERR_ACCOUNT_LOCKED'
  | 'ERR_ACCOUNT_DISABLED'
  | 'ERR_TOKEN_INVALID'
  | 'ERR_TOKEN_EXPIRED'
  | 'ERR_TOKEN_REVOKED'
  | 'ERR_MASTER_KEY'
  | 'ERR_DECRYPT'
  | 'ERR_AUDIT_CHAIN'
  | 'ERR_UNAVAILABLE'
  | 'ERR_INTERNAL';

const defaultStatus: Partial<Record<ErrorCode, number>> = {
  ERR_NOT_FOUND: 404,
  ERR_CONFLICT: 409,
  ERR_INVALID_INPUT: 400,
  ERR_BODY_TOO_LARGE: 413,
  ERR_UNAUTHENTICATED: 401,
  ERR_FORBIDDEN: 403,
  ERR_LOGIN_FAILED: 401,
  ERR_OTP_INVALID: 401,
  ERR_OTP_REPLAYED: 401,
  ERR_OTP_NOT_ENROLLED: 401,
  ERR_RATE_LIMITED: 429,
  ERR_ACCOUNT_LOCKED: 423,
  ERR_ACCOUNT_DISABLED: 403,
  ERR_TOKEN_INVALID: 401,
  ERR_TOKEN_EXPIRED: 401,
  ERR_TOKEN_REVOKED: 401,
  ERR_UNAVAILABLE: 503,
};

export interface AirlockErrorOptions {
  status?: number;
  cause?: unknown;
  /** Structured facts for the log; never shown to the client. */
  details?: Record<string, unknown>;
  /** Seconds a client should wait before retrying (429/503). */
  retryAfter?: number;
}

export class AirlockError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly expose: boolean;
  readonly details: Record<string, unknown> | undefined;
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, message: string, options: AirlockErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AirlockError';
    this.code = code;
    this.status = options.status ?? defaultStatus[code] ?? 500;
    this.expose = this.status < 500;
    this.details = options.details;
    this.retryAfter = options.retryAfter;
  }
}

export function isAirlockError(err: unknown, code?: ErrorCode): err is AirlockError {
  return err instanceof AirlockError && (code === undefined || err.code === code);
}

/** Wraps anything thrown into an AirlockError, keeping the original as cause. */
export function toAirlockError(err: unknown): AirlockError {
  if (err instanceof AirlockError) return err;
  return new AirlockError('ERR_INTERNAL', 'internal error', { cause: err });
}
