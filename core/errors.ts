/**
 * One error base for all of airlock. Every failure has a stable string `code`
 * (what scripts, tests and the web console match on), an HTTP status, and
 * `expose`: whether its message may be shown to whoever caused it. The
 * catalogue below is the one list of codes, each with its status and, where it
 * differs from "4xx yes, 5xx no", its exposure. The original error is kept as
 * `cause`; facts for the log go in `details`, never to the client.
 *
 * `expose` alone decides what a person sees. The mappers that turn an error
 * into an HTTP body (web/errors.ts), an SSH message (gateway/ssh-errors.ts) and
 * a CLI line (cli/output.ts) all go through publicMessage().
 */
interface CodeInfo {
  status: number;
  /** Overrides "status < 500": operator-facing start-up errors, and our own 5xx reasons an engineer should read. */
  expose?: boolean;
}

const CATALOGUE = {
  // Start-up and configuration: shown to the operator who started airlock.
  ERR_CONFIG_INVALID: { status: 500, expose: true },
  ERR_MASTER_KEY: { status: 500, expose: true },
  ERR_MIGRATION: { status: 500, expose: true },
  ERR_DB_UNREACHABLE: { status: 503, expose: true },
  ERR_DB_LOCKED: { status: 503, expose: true },
  // Internal failures: the message may carry internals; the log has it.
  ERR_DB: { status: 500 },
  ERR_DECRYPT: { status: 500 },
  ERR_INTERNAL: { status: 500 },
  ERR_UNAVAILABLE: { status: 503 },
  /** Too much of something costly at once (recording reads): try again shortly. */
  ERR_BUSY: { status: 503, expose: true },

  // Malformed requests. ERR_INVALID_INPUT is for a field that is not of its
  // form (details.field names it); failures a caller can act on have their own code.
  ERR_INVALID_INPUT: { status: 400 },
  ERR_USAGE: { status: 400 },
  ERR_AMBIGUOUS_ID: { status: 400 },
  ERR_BODY_TOO_LARGE: { status: 413 },
  ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415 },
  ERR_TOO_MANY_HEADERS: { status: 431 },
  ERR_NOT_FOUND: { status: 404 },
  ERR_CONFLICT: { status: 409 },
  ERR_RECORDING_FORMAT: { status: 422 },
  /** An age identity that does not open a recording's sealed input. */
  ERR_REVEAL_KEY_WRONG: { status: 422 },

  // Authentication.
  ERR_UNAUTHENTICATED: { status: 401 },
  ERR_LOGIN_FAILED: { status: 401 },
  ERR_OTP_INVALID: { status: 401 },
  ERR_OTP_REPLAYED: { status: 401 },
  ERR_OTP_NOT_ENROLLED: { status: 401 },
  ERR_RATE_LIMITED: { status: 429 },
  ERR_ACCOUNT_LOCKED: { status: 423 },
  ERR_ACCOUNT_DISABLED: { status: 403 },
  ERR_TOKEN_INVALID: { status: 401 },
  ERR_TOKEN_EXPIRED: { status: 401 },
  ERR_TOKEN_REVOKED: { status: 401 },
  ERR_LOGIN_TTL: { status: 400 },
  ERR_PUBLIC_KEY_INVALID: { status: 400 },
  ERR_CERT_INVALID: { status: 401 },
  ERR_CERT_UNKNOWN_CA: { status: 401 },
  ERR_CERT_EXPIRED: { status: 401 },
  ERR_CERT_REVOKED: { status: 401 },
  ERR_CERT_SOURCE: { status: 401 },
  ERR_ROLE_NO_SSH: { status: 403 },

  // Users and targets (admin input).
  ERR_USER_NAME_INVALID: { status: 400 },
  ERR_PASSWORD_POLICY: { status: 400 },
  ERR_ROLE_INVALID: { status: 400 },
  ERR_TARGET_NAME_INVALID: { status: 400 },
  ERR_HOST_INVALID: { status: 400 },
  ERR_PORT_INVALID: { status: 400 },
  ERR_LOGIN_NAME_INVALID: { status: 400 },
  ERR_HOST_KEY_INVALID: { status: 400 },
  ERR_CREDENTIAL_INVALID: { status: 400 },
  ERR_CREDENTIAL_MISSING: { status: 400 },
  ERR_EXPIRY_INVALID: { status: 400 },

  // Who may do what.
  ERR_ROLE_REQUIRED: { status: 403 },
  ERR_NO_ACCESS: { status: 403 },
  ERR_LOGIN_NOT_GRANTED: { status: 403 },
  ERR_NOT_AN_APPROVER: { status: 403 },
  ERR_SELF_APPROVAL: { status: 403 },
  ERR_GRANT_NO_FILE_TRANSFER: { status: 403 },
  ERR_GRANT_NO_FORWARDING: { status: 403 },
  ERR_CHANNEL_REFUSED: { status: 403 },

  // Break-glass.
  ERR_APPROVAL_REQUIRED: { status: 403 },
  ERR_APPROVAL_NOT_NEEDED: { status: 409 },
  ERR_ALREADY_HAVE_ACCESS: { status: 409 },
  ERR_REASON_REQUIRED: { status: 400 },
  ERR_TICKET_REQUIRED: { status: 400 },
  ERR_TICKET_INVALID: { status: 400 },
  ERR_DURATION_INVALID: { status: 400 },
  ERR_COMMENT_REQUIRED: { status: 400 },
  ERR_ALREADY_APPROVED: { status: 409 },
  ERR_REQUEST_NOT_PENDING: { status: 409 },
  ERR_REQUEST_EXPIRED: { status: 409 },
  ERR_NOT_REVOCABLE: { status: 409 },
  ERR_APPROVAL_DENIED: { status: 403 },
  ERR_APPROVAL_ABANDONED: { status: 403 },
  /** The engineer chose to stop (left the target menu): nothing to report. */
  ERR_CANCELLED: { status: 400 },

  // Sessions through the gateway; our own reasons are for the engineer too.
  ERR_TARGET_REQUIRED: { status: 400 },
  ERR_SESSION_LIMIT: { status: 429 },
  /** A channel open beyond ssh.maxChannelsPerConnection or ssh.maxChannelsPerUser. */
  ERR_CHANNEL_LIMIT: { status: 429 },
  ERR_NODE_AT_CAPACITY: { status: 503, expose: true },
  ERR_RECORDING_UNAVAILABLE: { status: 503, expose: true },
  ERR_HOST_KEY_MISMATCH: { status: 502, expose: true },
  ERR_HOST_KEY_UNPINNED: { status: 502, expose: true },
  ERR_TARGET_AUTH_FAILED: { status: 502, expose: true },
  ERR_TARGET_UNREACHABLE: { status: 502, expose: true },
  ERR_TARGET_TIMEOUT: { status: 504, expose: true },
  ERR_TARGET_REFUSED: { status: 502, expose: true },
  ERR_TARGET_NO_CREDENTIAL: { status: 502, expose: true },
  ERR_ACCESS_ENDED: { status: 403 },

  // Talking to other systems.
  ERR_SERVER_UNREACHABLE: { status: 503, expose: true },
  ERR_BAD_RESPONSE: { status: 502, expose: true },
  ERR_DELIVERY_FAILED: { status: 502 },
  ERR_AUDIT_CHAIN: { status: 500, expose: true },
} as const satisfies Record<string, CodeInfo>;

export type ErrorCode = keyof typeof CATALOGUE;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(CATALOGUE, code);
}

export interface AirlockErrorOptions {
  /** Overrides the catalogue's status (the CLI repeats the server's). */
  status?: number;
  /** Overrides the catalogue's exposure. */
  expose?: boolean;
  cause?: unknown;
  /** Structured facts for the log and the audit; never shown to the client. */
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
    const info: CodeInfo = CATALOGUE[code];
    this.status = options.status ?? info.status;
    this.expose = options.expose ?? info.expose ?? this.status < 500;
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

/** What a person may read about this error: its message if exposed, else a generic line. */
export function publicMessage(err: unknown, generic = 'internal error (details are in the airlock log)'): string {
  const e = toAirlockError(err);
  return e.expose ? e.message : generic;
}
