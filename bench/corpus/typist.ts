import { setTimeout as sleep } from 'node:timers/promises';
import type { Rng } from './rng.js';
import type { Secret } from './score.js';
import type { Screen, TmuxTerminal } from './terminal.js';

/**
 * What a scenario does at the keyboard, and what the scoring needs to know of
 * it: which typed line each key was on (Enters counted as sent), how many bytes
 * of each line may legitimately go unechoed (a password, keys a full-screen
 * program does not show), and the secrets typed. Nothing here says which
 * commands ran: that comes from the shell afterwards (truth.ts).
 *
 * Pace: 'burst' sends a run of keys in one write (a paste-like typist);
 * 'human' sends one key at a time, 80–400 ms apart, from the scenario's seeded
 * stream (rng.ts), so a failure can be typed again the same way.
 */
export type Pace = 'human' | 'burst';

/** What to wait for after Enter: the prompt back, a pattern anywhere on screen, or nothing (typing ahead). */
export type After = 'prompt' | RegExp | 'none';

const TIMEOUT_MS = 30_000;
const POLL_MS = 100;

export class Typist {
  /** Bytes each typed line may leave unechoed; line n follows the n-th Enter. */
  readonly allowance: number[] = [0];
  readonly secrets: Secret[] = [];
  /** The prompt of whatever reads the next line (the shell's, root's, python's). */
  prompt: RegExp;
  /** Keys typed, for the report of a failed session (secrets shown by label). */
  readonly transcript: string[] = [];

  constructor(
    private readonly term: TmuxTerminal,
    private readonly rng: Rng,
    prompt: RegExp,
  ) {
    this.prompt = prompt;
  }

  get enters(): number {
    return this.allowance.length - 1;
  }

  /** Echoed text (the shell's line editor, a program's prompt). */
  async type(text: string, pace: Pace = 'burst'): Promise<void> {
    this.transcript.push(JSON.stringify(text));
    await this.#send(text, pace);
  }

  /** Keys by tmux name; Enter among them counts as a new line. */
  async key(...names: string[]): Promise<void> {
    this.transcript.push(`<${names.join(' ')}>`);
    for (const name of names) {
      await this.term.keys(name);
      if (name === 'Enter' || name === 'C-m' || name === 'C-j') this.allowance.push(0);
    }
  }

  /** Enter, then waits (see After). */
  async enter(after: After = 'prompt', timeoutMs = TIMEOUT_MS): Promise<Screen> {
    const before = await this.term.screen();
    await this.key('Enter');
    return this.#after(before, after, timeoutMs);
  }

  /** A line typed and entered. */
  async line(text: string, o: { pace?: Pace; after?: After; timeoutMs?: number } = {}): Promise<Screen> {
    await this.type(text, o.pace);
    if (o.pace === 'human') await this.pause();
    return this.enter(o.after, o.timeoutMs);
  }

  /** Typed where the target does not echo (a password prompt, `read -s`, after `stty -echo`): a secret. */
  async secret(label: string, value: string, pace: Pace = 'human'): Promise<void> {
    this.transcript.push(`«${label}»`);
    this.secrets.push({ label, value });
    this.allowance[this.allowance.length - 1] = (this.allowance.at(-1) as number) + Buffer.byteLength(value);
    await this.#send(value, pace);
  }

  /** Keys a full-screen program takes without showing them (vim's "i", less's "q"): not secret, not echoed. */
  async unechoed(keys: string, pace: Pace = 'burst'): Promise<void> {
    this.transcript.push(`(${JSON.stringify(keys)})`);
    this.allowance[this.allowance.length - 1] = (this.allowance.at(-1) as number) + Buffer.byteLength(keys);
    await this.#send(keys, pace);
  }

  /** A paste of `text` (its newlines are Enters), then waits like enter() when it ends with one. */
  async paste(text: string, o: { bracketed: boolean; after?: After }): Promise<Screen> {
    this.transcript.push(`[paste${o.bracketed ? ' bracketed' : ''} ${JSON.stringify(text)}]`);
    const before = await this.term.screen();
    await this.term.paste(text, o.bracketed);
    for (const _ of text.matchAll(/\n/g)) this.allowance.push(0);
    return this.#after(before, o.after ?? (text.endsWith('\n') ? 'prompt' : 'none'), TIMEOUT_MS);
  }

  async resize(width: number, height: number): Promise<void> {
    this.transcript.push(`[resize ${width}x${height}]`);
    await this.term.resize(width, height);
    await this.waitFor((s) => s.width === width && s.height === height, `the pane to be ${width}x${height}`);
    await sleep(300); // the client's window-change crosses airlock to the target, which redraws
  }

  /** Waits until the screen shows `pattern`. */
  async see(pattern: RegExp, timeoutMs = TIMEOUT_MS): Promise<Screen> {
    return this.waitFor((s) => pattern.test(s.rows.join('\n')), String(pattern), timeoutMs);
  }

  /**
   * Tab, and Tab again while `listing` does not show: readline lists the
   * candidates only on a Tab that could not add anything, so after a Tab that
   * inserted a common prefix it takes two more (a person presses again).
   */
  async tabUntil(listing: RegExp): Promise<Screen> {
    for (let n = 0; ; n++) {
      await this.key('Tab');
      try {
        return await this.see(listing, 1500);
      } catch (err) {
        if (n >= 2) throw err;
      }
    }
  }

  /** Waits until the prompt is at the cursor with nothing typed after it. */
  async atPrompt(timeoutMs = TIMEOUT_MS): Promise<Screen> {
    return this.waitFor((s) => this.#promptAtCursor(s), `the prompt ${String(this.prompt)}`, timeoutMs);
  }

  /** A human's pause between keys. */
  pause(): Promise<void> {
    return sleep(this.rng.int(80, 400));
  }

  async waitFor(ok: (s: Screen) => boolean, what: string, timeoutMs = TIMEOUT_MS): Promise<Screen> {
    const end = Date.now() + timeoutMs;
    let s: Screen | undefined;
    for (;;) {
      s = await this.term.screen();
      if (ok(s)) return s;
      if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; screen:\n${s.rows.join('\n')}`);
      await sleep(POLL_MS);
    }
  }

  #after(before: Screen, after: After, timeoutMs: number): Promise<Screen> | Screen {
    if (after === 'none') return before;
    const changed = (s: Screen) => s.y !== before.y || s.x !== before.x || s.rows.join('\n') !== before.rows.join('\n');
    if (after === 'prompt') return this.waitFor((s) => changed(s) && this.#promptAtCursor(s), `the prompt ${String(this.prompt)} after Enter`, timeoutMs);
    return this.waitFor((s) => changed(s) && after.test(s.rows.join('\n')), String(after), timeoutMs);
  }

  #promptAtCursor(s: Screen): boolean {
    const row = s.rows[s.y] ?? '';
    return row.length <= s.x && this.prompt.test(row.padEnd(s.x, ' '));
  }

  async #send(text: string, pace: Pace): Promise<void> {
    if (pace === 'burst') {
      await this.term.bytes(text);
      return;
    }
    let first = true;
    for (const ch of text) {
      if (!first) await this.pause();
      first = false;
      await this.term.bytes(ch);
    }
  }
}
