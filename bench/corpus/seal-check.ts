import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AirlockError, loadConfig } from '../../core/index.js';
import * as recordings from '../../recordings/index.js';
import { agePayloads } from './frames.js';
import type { Secret } from './score.js';

/**
 * Input typed without echo is to be stored sealed: age-encrypted (X25519) to
 * `recordings.revealRecipients`, readable with the private key only. For each
 * session with secrets this checks, where airlock can do it yet:
 * - revealRecording(path, identity) (recordings/index.ts) gives the sealed
 *   inputs back, and together they hold every secret typed;
 * - the age payloads stored in the recording's frames do not open with another
 *   key (`age -d` fails) and do open with the right one.
 * Where a part does not exist yet it says "not available", never "ok".
 */
export interface RevealKeys {
  /** age1… */
  recipient: string;
  /** AGE-SECRET-KEY-1… */
  identity: string;
  identityFile: string;
  /** Another key pair's identity: must not open anything. */
  wrongIdentityFile: string;
}

/** A key pair from Debian's age-keygen, and a second one that must not work. */
export function makeRevealKeys(dir: string): RevealKeys {
  const pair = (name: string) => {
    const file = join(dir, name);
    execFileSync('age-keygen', ['-o', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    const text = readFileSync(file, 'utf8');
    const identity = /^AGE-SECRET-KEY-1[0-9A-Z]+$/m.exec(text)?.[0];
    const recipient = /^# public key: (age1[0-9a-z]+)$/m.exec(text)?.[1];
    if (!identity || !recipient) throw new Error(`age-keygen wrote no key pair to ${file}`);
    return { file, identity, recipient };
  };
  const right = pair('reveal.key');
  const wrong = pair('wrong.key');
  return { recipient: right.recipient, identity: right.identity, identityFile: right.file, wrongIdentityFile: wrong.file };
}

/**
 * The config setting that seals unechoed input to `recipient`, if this build's
 * config has it (an unknown setting stops airlock at start, so it is tried on
 * its own first); otherwise why sealing cannot be measured.
 */
export function revealSetting(recipient: string): { overrides: Record<string, unknown>; missing?: undefined } | { overrides?: undefined; missing: string } {
  const overrides = { 'recordings.revealRecipients': [recipient] };
  const dir = mkdtempSync(join(tmpdir(), 'airlock-corpus-config-'));
  try {
    loadConfig({ env: {}, overrides: { dataDir: dir, masterKey: randomBytes(32).toString('base64'), ...overrides } });
    return { overrides };
  } catch (err) {
    if (err instanceof AirlockError && err.code === 'ERR_CONFIG_INVALID' && err.message.includes('revealRecipients')) {
      return { missing: 'this build has no recordings.revealRecipients setting' };
    }
    throw err;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One revealed input as airlock gives it: its bytes as `data`, or as `base64` (byte-exact) or `text`. */
interface RevealedLike {
  data?: Uint8Array | string;
  base64?: string;
  text?: string;
}
type Reveal = (path: string, identity: string) => Promise<RevealedLike[] | { inputs: RevealedLike[] }> | RevealedLike[] | { inputs: RevealedLike[] };

function bytesOf(i: RevealedLike): Buffer {
  if (i.data !== undefined) return typeof i.data === 'string' ? Buffer.from(i.data, 'utf8') : Buffer.from(i.data);
  if (i.base64 !== undefined) return Buffer.from(i.base64, 'base64');
  return Buffer.from(i.text ?? '', 'utf8');
}

/** airlock's revealRecording, if this build has it. */
export function revealFunction(): Reveal | undefined {
  const f = (recordings as unknown as Record<string, unknown>)['revealRecording'];
  return typeof f === 'function' ? (f as Reveal) : undefined;
}

function ageDecrypts(file: string, identityFile: string): Promise<boolean> {
  return new Promise((resolve) => execFile('age', ['-d', '-i', identityFile, '-o', '/dev/null', file], (err) => resolve(!err)));
}

export interface SealCheck {
  note: string;
  /** A check that could run and did not hold (a secret not revealed, a payload another key opens). */
  failed: boolean;
}

export async function checkSealed(o: { recording: Buffer; secrets: Secret[]; keys: RevealKeys | undefined; keysMissing: string; workDir: string }): Promise<SealCheck> {
  if (o.secrets.length === 0) return { note: 'no secrets typed', failed: false };
  if (!o.keys) return { note: `not available (${o.keysMissing})`, failed: false };
  const reveal = revealFunction();
  const dir = mkdtempSync(join(o.workDir, 'reveal-'));
  const notes: string[] = [];
  let failed = false;
  try {
    if (!reveal) {
      notes.push('reveal not available (recordings/index.ts exports no revealRecording)');
    } else {
      const path = join(dir, 'recording.alr');
      writeFileSync(path, o.recording);
      let revealed: Awaited<ReturnType<Reveal>> | undefined;
      try {
        revealed = await reveal(path, o.keys.identity);
      } catch (err) {
        failed = true;
        notes.push(`reveal failed: ${(err as Error).message}`);
      }
      if (revealed) {
        const all = Buffer.concat((Array.isArray(revealed) ? revealed : revealed.inputs).map(bytesOf));
        const missing = o.secrets.filter((s) => !all.includes(Buffer.from(s.value, 'utf8'))).map((s) => s.label);
        if (missing.length) failed = true;
        notes.push(missing.length ? `revealed inputs lack: ${missing.join(', ')}` : `revealed ${o.secrets.length}/${o.secrets.length} secrets`);
      }
    }
    const payloads = agePayloads(o.recording);
    if (payloads.length === 0) {
      notes.push('no age payload in the frames');
    } else {
      let opened = 0;
      let wrongOpened = 0;
      for (const [i, p] of payloads.entries()) {
        const file = join(dir, `sealed-${i}.age`);
        writeFileSync(file, p);
        if (await ageDecrypts(file, o.keys.identityFile)) opened++;
        if (await ageDecrypts(file, o.keys.wrongIdentityFile)) wrongOpened++;
      }
      if (opened < payloads.length || wrongOpened > 0) failed = true;
      notes.push(`age -d: ${opened}/${payloads.length} payloads open with the key, ${wrongOpened} with another key`);
    }
    return { note: notes.join('; '), failed };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
