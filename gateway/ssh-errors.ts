import { inertText, isAirlockError, publicMessage } from '../core/index.js';
import type { Logger } from '../core/index.js';

/**
 * What an SSH user reads when something is refused or fails: the SSH side of
 * the one error model (HTTP has web/errors.ts, the CLI cli/output.ts). The
 * message is the error's own if it is exposed (core/errors.ts), a generic line
 * otherwise; either way it is made inert for the terminal, since messages may
 * quote what someone typed. Errors that are not exposed are logged here with
 * their cause, so no caller decides that for itself.
 */
export const GENERIC_SSH_MESSAGE = 'airlock could not do that; the error was logged';

export function sshMessage(err: unknown, logger?: Logger, context: Record<string, unknown> = {}): string {
  if (!isAirlockError(err) || !err.expose) logger?.error({ err, ...context }, 'ssh request failed');
  return inertText(publicMessage(err, GENERIC_SSH_MESSAGE), { max: 1000 });
}

/** One line for a terminal (\r\n) or a plain stream (\n). */
export function sshLine(err: unknown, nl: '\r\n' | '\n', logger?: Logger, context?: Record<string, unknown>): string {
  return `airlock: ${sshMessage(err, logger, context)}${nl}`;
}
