import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger as PinoLogger, Level } from 'pino';

/** The logger is passed down, never imported as a global. */
export type Logger = PinoLogger;

export interface LoggerOptions {
  level?: Level | 'silent';
  /** Where lines go; defaults to stderr so stdout stays for command output. */
  destination?: NodeJS.WritableStream;
  /** Human-readable lines instead of JSON; default: when stderr is a terminal. */
  pretty?: boolean;
}

const REDACT = ['password', '*.password', 'totp', '*.totp', 'token', '*.token', 'secret', '*.secret', 'key', '*.key'];

export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? process.stderr;
  const pretty = options.pretty ?? (destination === process.stderr && process.stderr.isTTY === true);
  return pino(
    { level: options.level ?? 'info', base: { svc: 'airlock' }, redact: { paths: REDACT, censor: '[redacted]' } },
    (pretty ? prettyStream(destination) : destination) as pino.DestinationStream,
  );
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };

/** "12:00:01 WARN  message key=value": for people watching a terminal. */
function prettyStream(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        try {
          const { level, time, msg, svc: _svc, pid: _pid, hostname: _h, ...rest } = JSON.parse(line) as Record<string, unknown>;
          const fields = Object.entries(rest)
            .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
            .join(' ');
          const at = new Date(time as number).toISOString().slice(11, 19);
          out.write(`${at} ${LEVELS[level as number] ?? level} ${String(msg ?? '')}${fields ? '  ' + fields : ''}\n`);
        } catch {
          out.write(line + '\n');
        }
      }
      done();
    },
  });
}
