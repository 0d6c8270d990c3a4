import type { ServerChannel } from 'ssh2';
import type { Scheduler } from '../core/index.js';

/**
 * Reads one line typed into a raw-mode terminal (the engineer asked for a pty),
 * echoing and handling backspace itself; with `echo: false` nothing is echoed
 * (a verification code). Resolves undefined on Ctrl-C, Ctrl-D or timeout.
 * Leaves the channel paused afterwards, so input typed later waits for whoever
 * reads next (the relay).
 */
export interface ReadLineOptions {
  scheduler: Scheduler;
  timeoutMs?: number;
  maxLength?: number;
  echo?: boolean;
}

export function readLine(ch: ServerChannel, prompt: string, options: ReadLineOptions): Promise<string | undefined> {
  const max = options.maxLength ?? 200;
  const echo = options.echo ?? true;
  // Closed while the caller was busy (a database lookup before the prompt): nobody to ask.
  if (!ch.readable) return Promise.resolve(undefined);
  ch.write(prompt);
  return new Promise((resolve) => {
    // Bytes, decoded as UTF-8 at the end: a reason may say "données" or "→".
    const line: number[] = [];
    // Arrow and function keys arrive as escape sequences (ESC [ A, ESC O P): swallowed, not typed.
    let escape: 'none' | 'esc' | 'seq' = 'none';
    const done = (value: string | undefined) => {
      timer.cancel();
      ch.off('data', onData);
      ch.off('close', onClose);
      ch.pause();
      if (ch.writable) ch.write('\r\n');
      resolve(value);
    };
    const timer = options.scheduler.after(options.timeoutMs ?? 300_000, () => done(undefined));
    const onClose = () => done(undefined);
    const onData = (data: Buffer) => {
      for (const byte of data) {
        if (escape === 'esc') {
          escape = byte === 0x5b || byte === 0x4f ? 'seq' : 'none';
          continue;
        }
        if (escape === 'seq') {
          if (byte >= 0x40 && byte <= 0x7e) escape = 'none';
          continue;
        }
        if (byte === 0x1b) {
          escape = 'esc';
          continue;
        }
        if (byte === 0x03 || byte === 0x04) return done(undefined);
        if (byte === 0x0d || byte === 0x0a) return done(Buffer.from(line).toString('utf8'));
        if (byte === 0x7f || byte === 0x08) {
          // One character back: its continuation bytes (10xxxxxx), then its first byte.
          while (line.length && ((line[line.length - 1] as number) & 0xc0) === 0x80) line.pop();
          if (line.length) {
            line.pop();
            if (echo) ch.write('\b \b');
          }
          continue;
        }
        if (byte >= 0x20 && byte !== 0x7f && line.length < max) {
          line.push(byte);
          if (echo) ch.write(Buffer.from([byte]));
        }
      }
    };
    ch.on('data', onData);
    ch.once('close', onClose);
    ch.resume();
  });
}
