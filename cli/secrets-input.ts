import { createInterface } from 'node:readline';
import { AirlockError } from '../core/index.js';

/**
 * Secrets come from stdin (--password-stdin) or from a prompt on the terminal;
 * never only from a prompt, so every verb can be scripted.
 */
export async function readStdin(limit = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new AirlockError('ERR_USAGE', 'stdin is too large for a secret');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** Asks on the terminal without echoing. Fails clearly when there is no terminal. */
export async function promptHidden(question: string, flagHint: string): Promise<string> {
  if (!process.stdin.isTTY) throw new AirlockError('ERR_USAGE', `no terminal to ask on: pass ${flagHint}`);
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const out = rl as unknown as { _writeToOutput: (s: string) => void };
  let asked = false;
  out._writeToOutput = (s: string) => {
    if (!asked) {
      process.stderr.write(s);
      asked = true;
    }
  };
  try {
    return await new Promise<string>((resolve) => rl.question(question, resolve));
  } finally {
    rl.close();
    process.stderr.write('\n');
  }
}

export async function promptLine(question: string, flagHint: string): Promise<string> {
  if (!process.stdin.isTTY) throw new AirlockError('ERR_USAGE', `no terminal to ask on: pass ${flagHint}`);
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    return (await new Promise<string>((resolve) => rl.question(question, resolve))).trim();
  } finally {
    rl.close();
  }
}
