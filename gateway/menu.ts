import type { ServerChannel } from 'ssh2';
import { inertText } from '../core/index.js';
import type { Scheduler } from '../core/index.js';
import { readLine } from './line-input.js';

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

export async function chooseTarget(ch: ServerChannel, scheduler: Scheduler, user: string, entries: MenuEntry[], timeoutMs = 120_000): Promise<string | undefined> {
  if (entries.length === 0) {
    ch.write(`\r\nairlock: ${user}, no targets are available to you. Ask an administrator for a grant.\r\n`);
    return undefined;
  }
  const width = Math.max(...entries.map((e) => e.name.length));
  const lines = entries.map(
    (e, i) => `  ${String(i + 1).padStart(2)}) ${e.name.padEnd(width)}  ${e.sensitivity}${e.description ? `  ${inertText(e.description, { max: 200 })}` : ''}`,
  );
  ch.write(`\r\nairlock: hello ${user}. Your targets:\r\n${lines.join('\r\n')}\r\n\r\n`);
  for (let attempt = 0; attempt < 5; attempt++) {
    const text = (await readLine(ch, attempt ? 'Target: ' : 'Target (number or name, empty to quit): ', { scheduler, timeoutMs, maxLength: MAX_LINE }))?.trim();
    if (!text) return undefined;
    const n = Number(text);
    const entry = Number.isInteger(n) && n >= 1 && n <= entries.length ? entries[n - 1] : entries.find((e) => e.name === text);
    if (entry) return entry.name;
    ch.write(`airlock: no target "${inertText(text, { max: 40 })}" in the list.\r\n`);
  }
  return undefined;
}
