import { pino } from 'pino';
import type { Logger as PinoLogger, Level } from 'pino';
import PinoPretty from 'pino-pretty';

/** The logger is passed down, never imported as a global. */
export type Logger = PinoLogger;

/**
 * json: one JSON object per line (for log shippers and `jq`); pretty: "12:00:01
 * WARN message key=value" for a person at a terminal, by pino's own pino-pretty
 * (synchronous, so lines never interleave with what the CLI prints); auto:
 * pretty when stdout is a terminal (someone is watching), JSON otherwise.
 */
export type LogFormat = 'auto' | 'json' | 'pretty';

export interface LoggerOptions {
  level?: Level | 'silent';
  /** Where lines go; defaults to stderr so stdout stays for command output. */
  destination?: NodeJS.WritableStream;
  format?: LogFormat;
}

const REDACT = ['password', '*.password', 'totp', '*.totp', 'token', '*.token', 'secret', '*.secret', 'key', '*.key', 'identity', '*.identity', 'cause.body', '*.cause.body'];

export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? process.stderr;
  const format = options.format ?? 'auto';
  const pretty = format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true);
  const base = { level: options.level ?? 'info', base: { svc: 'airlock' }, redact: { paths: REDACT, censor: '[redacted]' } };
  if (!pretty) return pino(base, destination as pino.DestinationStream);
  const stream = PinoPretty({
    destination,
    sync: true,
    colorize: (destination as { isTTY?: boolean }).isTTY === true,
    translateTime: 'SYS:HH:MM:ss',
    ignore: 'pid,hostname,svc',
    singleLine: true,
  });
  return pino(base, stream);
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
