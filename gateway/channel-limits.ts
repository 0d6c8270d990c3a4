import type { PseudoTtyInfo } from 'ssh2';

/**
 * The bounds on what an engineer's client may ask of a channel (RFC 4254 §6):
 * terminal names and sizes, environment variables, exec command lines. Checked
 * at the door; what passes is forwarded to the target as it is. How many
 * channels may be open at once is gateway/channel-budget.ts.
 */

/** Variables passed on to the target; everything else is refused (like sshd's AcceptEnv). */
export const ENV_ALLOWED = /^(LANG|LC_[A-Z]+|TERM)$/;
export const MAX_ENV_VALUE = 256;
export const MAX_ENV_VARS = 32;
/** An exec command line; OpenSSH's own limit for a packet is 256 KiB. */
export const MAX_COMMAND = 64 * 1024;
const MAX_TERM = 64;
const MAX_COLS_ROWS = 10_000;
const MAX_PIXELS = 100_000;

export function validTerm(info: PseudoTtyInfo): boolean {
  return typeof info.term === 'string' && info.term.length <= MAX_TERM && /^[A-Za-z0-9._+-]*$/.test(info.term) && validSize(info);
}

export function validSize(info: { cols: number; rows: number; width: number; height: number }): boolean {
  const within = (n: number, max: number) => Number.isInteger(n) && n >= 0 && n <= max;
  return within(info.cols, MAX_COLS_ROWS) && within(info.rows, MAX_COLS_ROWS) && within(info.width, MAX_PIXELS) && within(info.height, MAX_PIXELS);
}

export function acceptsEnv(env: Record<string, string>, key: string, value: string): boolean {
  return ENV_ALLOWED.test(key) && value.length <= MAX_ENV_VALUE && Object.keys(env).length < MAX_ENV_VARS;
}

/** Signal names as RFC 4254 §6.10 sends them ("INT", "TERM"), without "SIG". */
export function validSignal(name: string): boolean {
  return /^[A-Z0-9]{1,16}$/.test(name);
}
