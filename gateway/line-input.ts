import type { ServerChannel } from 'ssh2';

/**
 * Reads one line typed into a raw-mode terminal (the engineer asked for a pty),
 * echoing and handling backspace itself. Resolves undefined on Ctrl-C, Ctrl-D or
 * timeout. Leaves the channel paused afterwards, so input typed later waits for
 * whoever reads next (the relay).
 */
export function readLine(ch: ServerChannel, prompt: string, options: { timeoutMs?: number; maxLength?: number } = {}): Promise<string | undefined> {
  const max = options.maxLength ?? 200;
  ch.write(prompt);
  return new Promise((resolve) => {
    let line = '';
    const done = (value: string | undefined) => {
      clearTimeout(timer);
      ch.off('data', onData);
      ch.pause();
      ch.write('\r\n');
      resolve(value);
    };
    const timer = setTimeout(() => done(undefined), options.timeoutMs ?? 300_000);
    const onData = (data: Buffer) => {
      for (const byte of data) {
        if (byte === 0x03 || byte === 0x04) return done(undefined);
        if (byte === 0x0d || byte === 0x0a) return done(line);
        if (byte === 0x7f || byte === 0x08) {
          if (line.length) {
            line = line.slice(0, -1);
            ch.write('\b \b');
          }
          continue;
        }
        if (byte >= 0x20 && line.length < max) {
          line += String.fromCharCode(byte);
          ch.write(Buffer.from([byte]));
        }
      }
    };
    ch.on('data', onData);
    ch.resume();
  });
}
