import type { ServerChannel } from 'ssh2';

/**
 * The target menu for a plain "ssh alice@airlock": lists the targets the engineer
 * may use and reads a choice (a number or a name). The engineer's terminal is in
 * raw mode (they asked for a pty), so this echoes and handles backspace itself.
 * Only targets the user holds a grant for are ever shown.
 */
export interface MenuEntry {
  name: string;
  sensitivity: string;
  description: string | null;
}

const MAX_LINE = 128;

export function chooseTarget(ch: ServerChannel, user: string, entries: MenuEntry[], timeoutMs = 120_000): Promise<string | undefined> {
  if (entries.length === 0) {
    ch.write(`\r\nairlock: ${user}, no targets are available to you. Ask an administrator for a grant.\r\n`);
    return Promise.resolve(undefined);
  }
  const width = Math.max(...entries.map((e) => e.name.length));
  const lines = entries.map(
    (e, i) => `  ${String(i + 1).padStart(2)}) ${e.name.padEnd(width)}  ${e.sensitivity}${e.description ? `  ${e.description}` : ''}`,
  );
  ch.write(`\r\nairlock: hello ${user}. Your targets:\r\n${lines.join('\r\n')}\r\n\r\nTarget (number or name, empty to quit): `);

  return new Promise((resolve) => {
    let line = '';
    const done = (choice: string | undefined) => {
      clearTimeout(timer);
      ch.off('data', onData);
      ch.write('\r\n');
      resolve(choice);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    const onData = (data: Buffer) => {
      for (const byte of data) {
        if (byte === 0x03 || byte === 0x04) return done(undefined); // Ctrl-C, Ctrl-D
        if (byte === 0x0d || byte === 0x0a) {
          const text = line.trim();
          if (!text) return done(undefined);
          const n = Number(text);
          const entry = Number.isInteger(n) && n >= 1 && n <= entries.length ? entries[n - 1] : entries.find((e) => e.name === text);
          if (entry) return done(entry.name);
          line = '';
          ch.write(`\r\nairlock: no target "${text.slice(0, 40)}" in the list.\r\nTarget: `);
          continue;
        }
        if (byte === 0x7f || byte === 0x08) {
          if (line.length) {
            line = line.slice(0, -1);
            ch.write('\b \b');
          }
          continue;
        }
        if (byte >= 0x20 && byte < 0x7f && line.length < MAX_LINE) {
          line += String.fromCharCode(byte);
          ch.write(Buffer.from([byte]));
        }
      }
    };
    ch.on('data', onData);
  });
}
