import { createReadStream } from 'node:fs';
import { Decrypter, Encrypter, generateIdentity, identityToRecipient } from 'age-encryption';
import { AirlockError } from '../core/pure.js';
import { Frame, FrameParser } from './frame-format.js';

/**
 * Sealed input: what an engineer typed on a terminal that the target did not
 * echo (recordings/redactor.ts) is stored encrypted to the customer's reveal
 * key, not destroyed. The format is age (age-encryption.org/v1, X25519
 * recipients), through the `age-encryption` package by age's author, so an
 * auditor can decrypt a sealed frame offline with Debian's `age -d -i key.txt`
 * and needs nothing of airlock to do it. The server holds only the public half
 * (`recordings.revealRecipients`, `age1…`); the private half (`AGE-SECRET-KEY-1…`)
 * is printed once by `airlock keys create-reveal-key` for the customer's custody.
 *
 * In the recording (recordings/FORMAT.md): each hidden run of keys is a `hidden`
 * frame in the clear (its time and UTF-8 byte count), and a later `sealed`
 * frame holds `runs:u32` and the age ciphertext of the next `runs` hidden runs
 * not sealed before, concatenated in order. Revealing splits the plaintext back
 * by those counts.
 */
export const RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;
export const IDENTITY = /^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/;

/** A new reveal key pair: the identity (private, for the customer) and its recipient (public, for the server). */
export async function createRevealKey(): Promise<{ identity: string; recipient: string }> {
  const identity = await generateIdentity();
  return { identity, recipient: await identityToRecipient(identity) };
}

/** Whether an age recipient decodes (bech32 checksum included): config refuses one that does not. */
export function validRecipient(recipient: string): boolean {
  try {
    new Encrypter().addRecipient(recipient);
    return true;
  } catch {
    return false;
  }
}

/** The recipient (public half) of an identity. */
export function recipientOf(identity: string): Promise<string> {
  return identityToRecipient(checkIdentity(identity));
}

/** The age ciphertext (binary) of `data` for every recipient. */
export async function seal(recipients: readonly string[], data: Uint8Array): Promise<Uint8Array> {
  const e = new Encrypter();
  for (const r of recipients) e.addRecipient(r);
  return e.encrypt(data);
}

export interface RevealedInput {
  /** Seconds into the recording when the keys were typed. */
  t: number;
  /** Byte offset of their `hidden` frame in the file (the replay can start there). */
  offset: number;
  /** The keys as typed (UTF-8), and the same bytes in base64 (byte-exact). */
  text: string;
  base64: string;
}

export interface RevealReport {
  inputs: RevealedInput[];
  /** Hidden runs with no sealed frame after them (no reveal key was configured, or the recording ends early). */
  unsealed: number;
}

/** Checks an identity's shape before it is used; the error never repeats the key. */
export function checkIdentity(identity: string): string {
  const id = identity.trim();
  if (!IDENTITY.test(id)) throw new AirlockError('ERR_INVALID_INPUT', 'expected an age identity (a line starting AGE-SECRET-KEY-1)');
  return id;
}

/**
 * The sealed input of one recording, decrypted with `identity`. The key is used
 * here and dropped; a wrong one is ERR_REVEAL_KEY_WRONG ("not the key this recording
 * was sealed to"), and nothing is revealed.
 */
export async function revealFrames(chunks: AsyncIterable<Buffer>, identity: string): Promise<RevealReport> {
  const id = checkIdentity(identity);
  const d = new Decrypter();
  try {
    d.addIdentity(id);
  } catch {
    // Not kept as cause: the decoder's message repeats the key.
    throw new AirlockError('ERR_INVALID_INPUT', 'the age identity is not valid (its checksum does not match)');
  }
  const parser = new FrameParser();
  const inputs: RevealedInput[] = [];
  const runs: Array<{ t: number; offset: number; bytes: number }> = [];
  const open = async (payload: Buffer): Promise<void> => {
    const count = payload.length >= 4 ? payload.readUInt32BE(0) : 0;
    if (count === 0 || count > runs.length) throw new AirlockError('ERR_RECORDING_FORMAT', `a sealed frame covers ${count} hidden runs where ${runs.length} wait to be sealed`);
    const ciphertext = payload.subarray(4);
    let plain: Uint8Array;
    try {
      plain = await d.decrypt(ciphertext);
    } catch (err) {
      throw new AirlockError('ERR_REVEAL_KEY_WRONG', 'the identity given is not the key this recording was sealed to', { cause: err });
    }
    const bytes = Buffer.from(plain.buffer, plain.byteOffset, plain.length);
    let at = 0;
    for (const run of runs.splice(0, count)) {
      const part = bytes.subarray(at, at + run.bytes);
      at += run.bytes;
      inputs.push({ t: run.t / 1000, offset: run.offset, text: part.toString('utf8'), base64: part.toString('base64') });
    }
    if (at !== bytes.length) throw new AirlockError('ERR_RECORDING_FORMAT', `a sealed frame holds ${bytes.length} bytes where its hidden frames count ${at}`);
  };
  for await (const chunk of chunks) {
    // In file order: hidden runs, and each sealed frame with the runs before it.
    const found: Array<{ hidden: { t: number; offset: number; bytes: number } } | { sealed: Buffer }> = [];
    parser.push(chunk, (f) => {
      if (f.flags !== 0) return;
      if (f.type === Frame.Hidden && f.payload.length >= 4) found.push({ hidden: { t: f.time, offset: f.offset, bytes: f.payload.readUInt32BE(0) } });
      else if (f.type === Frame.Sealed) found.push({ sealed: Buffer.from(f.payload) });
    });
    for (const x of found) {
      if ('hidden' in x) runs.push(x.hidden);
      else await open(x.sealed);
    }
  }
  return { inputs, unsealed: runs.length };
}

/** revealFrames() of a recording file. */
export async function revealRecording(path: string, identity: string): Promise<RevealReport> {
  const id = checkIdentity(identity); // before the file is opened: a bad key opens nothing
  const stream = createReadStream(path);
  try {
    return await revealFrames(stream as AsyncIterable<Buffer>, id);
  } finally {
    stream.destroy();
  }
}
