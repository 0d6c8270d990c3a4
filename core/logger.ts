import { pino } from 'pino';
import type { Logger as PinoLogger, Level } from 'pino';

/** The logger is passed down, never imported as a global. */
export type Logger = PinoLogger;

export interface LoggerOptions {
  level?: Level | 'silent';
  /** Where lines go; defaults to stderr so stdout stays for command output. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { svc: 'airlock' },
      redact: { paths: ['password', '*.password', 'totp', '*.totp', 'token', '*.token', 'secret', '*.secret'], censor: '[redacted]' },
    },
    (options.destination ?? process.stderr) as pino.DestinationStream,
  );
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
