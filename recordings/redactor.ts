/**
 * Decides which keys an engineer typed on a terminal the target echoed, so that
 * what it did not echo (passwords at sudo, `read -s`, key passphrases, anything
 * typed after `stty -echo`) is sealed instead of stored in clear
 * (recordings/sealing.ts), and everything else is kept as typed.
 *
 * SSH carries no terminal flags back from the target, so echo is judged from
 * what the terminal shows. A key's effect on the screen is what its glyphs do
 * there: the characters typed appear in the output that follows, in order,
 * close together, whatever the shell draws around them (a prompt, a redraw of
 * the rest of the line after a mid-line insertion, the `\r` or space at a wrap,
 * colours, a reverse-search prompt, a paste in brackets). A key counts as
 * echoed when its glyphs show up that way within `echoWindowMs`, and as not
 * echoed when they do not. Keys without glyphs (Enter, Backspace, Ctrl-C,
 * arrows, Tab: editing that the screen shows by moving things, not by printing
 * the key) are always stored: they are no secret, and replay and analysis need
 * them. Each key is judged on its own against the output after it: nothing a
 * line did before (a Ctrl-C, a correction) changes how the next key is judged.
 *
 * Known secret prompts are never trusted to the echo test: keys typed at a
 * prompt that asks for a password, passphrase, PIN, token or code (sudo, su,
 * passwd, ssh and ssh-keygen, mysql, psql, `read -s -p 'Token: '`) are sealed up
 * to their Enter, even if unrelated output happens to contain their characters.
 *
 * Order: keys are judged after they are typed, but written first. The caller
 * gives every output chunk to output(); while keys wait for their judgement it
 * holds those chunks in the queue (as `item`s) and drain() gives back keys and
 * chunks in the order they happened, each key at its own time.
 *
 * This errs towards sealing: keys a full-screen program does not draw (vim's
 * "j", less's "q") are sealed too, and remain readable to whoever holds the
 * customer's reveal key. The output stream, which is what replay shows, is
 * never touched.
 */
export const REDACTED = '\u2022[sealed: typed while the terminal was not echoing]\u2022';

export interface InputEvent {
  t: number;
  /** The keys, with each hidden run of printable keys replaced by REDACTED. */
  data: string;
  /** The UTF-8 length of each hidden run, in order (the recording stores these counts in the clear). */
  hidden?: number[];
  /** The hidden runs themselves, in order: sealed by the writer, never stored in the clear. */
  sealed?: string[];
}

export type Decision<T> = { key: InputEvent } | { item: T };

interface Keys {
  t: number;
  raw: string;
  /** The glyphs the keys put on a screen that echoes them. */
  glyphs: string;
  deadline: number;
  /** Typed at a secret prompt: hidden without asking the output. */
  secret: boolean;
  /** Index in the output glyphs where the echo may begin (what was output when the keys were typed). */
  from: number;
  /** Newlines output when the keys were typed (an Enter's echo is the first newline after it). */
  newlines: number;
  /** The keys end with Enter. */
  enter: boolean;
  decided?: 'echoed' | 'hidden';
  /** Where the echo ended in the output glyphs (echoed keys). */
  end?: number;
}

type Entry<T> = { keys: Keys } | { item: T };

/** The first glyph of a key's echo must come within this many glyphs of output (a prompt, a search prompt, a redraw). */
const FIRST_GAP = 2048;
/** … and each next one within this many of the one before (wrap marks, colours, a redrawn tail). */
const GAP = 256;
/** In the echo of a whole line after its Enter, glyphs at most this far apart (a space and a return at a wrap). */
const LINE_GAP = 2;
/** Output glyphs kept for undecided keys; beyond this the oldest keys are decided with what was seen. */
const MAX_GLYPHS = 1 << 20;
/** The text of the line the cursor is on, as far as it is kept. */
const MAX_TAIL = 512;

/**
 * Prompts that ask for a secret: a word for one, then a colon (or `?`) at the
 * end of the line. `[sudo] password for alice:`, `Password:`, `alice@db's
 * password:`, `Enter passphrase for key '/root/.ssh/id_ed25519':`, `Enter PIN
 * for …:`, `Enter password:` (mysql), `Password for user postgres:` (psql),
 * `Verification code:`, `New password:`, `Retype new password:`.
 */
export const SECRET_PROMPT = /(?:pass(?:word|phrase|code|wd)|pass phrase|\bPIN\b|\btoken\b|\bsecret\b|verification code|\bOTP\b|one-time|\bkey\b[^\n]{0,40}hidden)[^\n]{0,80}[:?]\s*$/i;
/** A shell's prompt at the end of the line: a secret prompt's line is gone. */
const SHELL_PROMPT_END = /[$#%>] ?$/;
/** Newline positions kept for undecided keys; beyond this the oldest keys are decided with what was seen. */
const MAX_NEWLINES = 65_536;

export class InputRedactor {
  readonly #queue: Array<Entry<unknown>> = [];
  /** Output glyphs since the first undecided keys were typed; #base is the index of the first kept. */
  #glyphs = '';
  #base = 0;
  /** Where newlines came in the output glyphs (index of the glyph after each), since the queue was last empty. */
  #newlines: number[] = [];
  /** The line the cursor is on (plain text, for the secret-prompt test). */
  #tail = '';
  /** A secret prompt was output and no Enter was typed since. */
  #armed = false;
  #undecided = 0;
  /** A key of the line being typed was hidden (and has left the queue). */
  #lineHidden = false;

  constructor(private readonly echoWindowMs = 1000) {}

  /** Keys wait for their judgement: output goes through output() into the queue. */
  get waiting(): boolean {
    return this.#undecided > 0;
  }

  /** Keys the engineer typed, at recording time t (seconds), observed at wall time now (ms). */
  input(t: number, data: string, now: number): void {
    // Each Enter ends a line: a paste of several lines is judged line by line.
    for (const part of data.match(/[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+/g) ?? []) {
      const glyphs = glyphsOf(part);
      const secret = glyphs !== '' && this.#armed; // the line asks for a secret: sealed without asking the output
      const enter = /[\r\n]/.test(part);
      if (enter || /[\x03\x04]/.test(part)) this.#armed = false; // Enter, Ctrl-C, Ctrl-D leave the prompt
      const from = this.#base + this.#glyphs.length;
      const keys: Keys = { t, raw: part, glyphs, deadline: now + this.echoWindowMs, secret, from, newlines: this.#newlines.length, enter };
      if (!glyphs) keys.decided = 'echoed'; // nothing to see: kept as typed, in its place
      else if (secret) keys.decided = 'hidden';
      else this.#undecided++;
      this.#queue.push({ keys });
    }
  }

  /**
   * Output from the target. Returns true when it was queued behind undecided
   * keys (then drain() gives it back in order); false when nothing waits and the
   * caller writes it at once.
   */
  output(text: string, _now: number, item: unknown): boolean {
    const armed = this.#armed;
    this.#follow(text);
    // The prompt asks for a secret now: keys typed since the last Enter, before it
    // showed (sudo turned echo off first), are part of the secret too.
    if (this.#armed && !armed) this.#hideSinceEnter();
    if (this.#undecided === 0 && this.#queue.length === 0) return false;
    text.split('\n').forEach((piece, i) => {
      if (i > 0) this.#newlines.push(this.#base + this.#glyphs.length);
      this.#glyphs += glyphsOf(piece);
    });
    this.#queue.push({ item });
    if (this.#glyphs.length > MAX_GLYPHS || this.#newlines.length > MAX_NEWLINES) this.#judge(Number.POSITIVE_INFINITY);
    return true;
  }

  /**
   * Keys and queued output in the order they happened, as far as they are
   * decided: keys whose echo showed, keys whose window passed (at `now`), and
   * the output between them. `now` = +Infinity decides everything (the end).
   */
  drain<T>(now: number): Array<Decision<T>> {
    this.#judge(now);
    const out: Array<Decision<T>> = [];
    while (this.#queue.length > 0) {
      const head = this.#queue[0] as Entry<T>;
      if ('item' in head) {
        out.push({ item: head.item });
      } else {
        if (!head.keys.decided) break;
        if (head.keys.enter) this.#lineHidden = false;
        else if (head.keys.decided === 'hidden') this.#lineHidden = true;
        out.push({ key: eventOf(head.keys) });
      }
      this.#queue.shift();
    }
    this.#trim();
    return out;
  }

  /**
   * Judges undecided keys in order, each against the output after it.
   *
   * Output that came before the line's Enter was typed may show a key anywhere
   * (its glyphs in order, close together). Output after the Enter is the
   * shell's or the command's, and shows typed text only as an echo of the
   * whole line: the keys still undecided, up to the Enter, and right after them
   * the Enter's newline. So `id` typed after `stty -echo` is not taken as echoed
   * because the command then prints `uid=1000(alice)`.
   */
  #judge(now: number): void {
    const keys = this.#queue.flatMap((e) => ('keys' in e ? [e.keys] : []));
    let after = 0; // where the echo of the keys before ended
    let newline = -1; // the newline the last Enter before took (each Enter's echo has one)
    let lineHidden = this.#lineHidden; // a key of this line was hidden: the rest is never taken for its echo
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as Keys;
      if (k.decided) {
        if (k.end !== undefined) after = Math.max(after, k.end);
        if (k.decided === 'hidden') lineHidden = true;
        if (k.enter) {
          lineHidden = false;
          if (this.#newlines.length > k.newlines) newline = Math.max(newline, k.newlines);
        }
        continue;
      }
      const start = Math.max(k.from, after);
      const e = keys.findIndex((q, j) => j >= i && q.enter);
      const enter = e === -1 ? undefined : (keys[e] as Keys);
      const found = this.#find(k.glyphs, start, enter ? enter.from : Number.POSITIVE_INFINITY);
      if (typeof found === 'number') {
        this.#decide(k, 'echoed', found);
        after = found;
        if (k.enter) lineHidden = false;
        continue;
      }
      if (enter && !lineHidden && (found === 'never' || enter.from - this.#base <= this.#glyphs.length)) {
        // Typed ahead (before the line before was answered, as in a paste of several
        // lines): its echo comes after that line's output, at a later newline.
        // Otherwise it is the first newline after its Enter, or none.
        const ahead = enter.newlines < newline + 1;
        const n = this.#lineEcho(keys.slice(i, e + 1), start, Math.max(enter.newlines, newline + 1), ahead);
        if (n !== undefined) {
          const end = this.#newlines[n] as number;
          for (const q of keys.slice(i, e + 1)) if (!q.decided) this.#decide(q, 'echoed', end);
          after = end;
          newline = n;
          lineHidden = false;
          i = e;
          continue;
        }
      } else if (found === 'never') {
        this.#decide(k, 'hidden');
        lineHidden = !k.enter;
        continue;
      }
      if (now < k.deadline) return; // later keys wait for this one: the file keeps their order
      this.#decide(k, 'hidden');
      lineHidden = !k.enter;
    }
  }

  /** Undecided keys after the last Enter in the queue are hidden. */
  #hideSinceEnter(): void {
    for (let i = this.#queue.length - 1; i >= 0; i--) {
      const e = this.#queue[i] as Entry<unknown>;
      if (!('keys' in e)) continue;
      if (e.keys.enter) break;
      if (!e.keys.decided) this.#decide(e.keys, 'hidden');
    }
  }

  #decide(k: Keys, how: 'echoed' | 'hidden', end?: number): void {
    k.decided = how;
    if (end !== undefined) k.end = end;
    this.#undecided--;
  }

  /**
   * Where the echo of `glyphs` ends in the output between glyph indexes `from`
   * and `to`: each glyph in order, the first within FIRST_GAP, the next within
   * GAP of the one before. 'never' when the output already went past that;
   * undefined when more output may still show it.
   */
  #find(glyphs: string, from: number, to: number): number | 'never' | undefined {
    const seen = this.#glyphs;
    const stop = Math.min(seen.length, to - this.#base);
    let at = from - this.#base;
    let limit = at + FIRST_GAP;
    for (const g of glyphs) {
      const end = Math.min(stop, limit);
      let i = at;
      while (i < end && seen[i] !== g) i++;
      if (i >= end) return end >= limit || stop < seen.length || to - this.#base <= seen.length ? 'never' : undefined;
      at = i + 1;
      limit = at + GAP;
    }
    return this.#base + at;
  }

  /**
   * The echo of a whole line in output after its Enter: the glyphs of its keys
   * not yet decided (keys echoed before the Enter are left out), in order, at
   * most LINE_GAP apart (a wrap's space), the last one right before a newline
   * output after the Enter was typed and after the newline the line before took
   * (`first`, an index into #newlines), and that very newline unless the line
   * was typed `ahead`. Returns that newline's index, or undefined while no
   * newline shows it (the deadline then decides).
   */
  #lineEcho(line: Keys[], from: number, first: number, ahead: boolean): number | undefined {
    const glyphs = line.filter((q) => !q.decided).map((q) => q.glyphs).join('');
    const seen = this.#glyphs;
    const low = from - this.#base;
    const last = ahead ? this.#newlines.length : Math.min(this.#newlines.length, first + 1);
    next: for (let n = first; n < last; n++) {
      let at = (this.#newlines[n] as number) - this.#base; // the echo ends here, and is read backwards
      let gap = 0; // the last glyph comes right before the newline
      for (let c = glyphs.length - 1; c >= 0; c--) {
        const g = glyphs[c];
        const stop = Math.max(low, at - 1 - gap);
        let i = at - 1;
        while (i >= stop && seen[i] !== g) i--;
        if (i < stop) continue next;
        at = i;
        gap = LINE_GAP;
      }
      return n;
    }
    return undefined;
  }

  /** Output glyphs no undecided keys can look at any more are dropped. */
  #trim(): void {
    if (this.#undecided === 0 && this.#queue.length === 0) {
      this.#base += this.#glyphs.length;
      this.#glyphs = '';
      this.#newlines = [];
      return;
    }
    let keep = this.#base + this.#glyphs.length;
    for (const entry of this.#queue) if ('keys' in entry) keep = Math.min(keep, entry.keys.from);
    if (keep > this.#base) {
      this.#glyphs = this.#glyphs.slice(keep - this.#base);
      this.#base = keep;
    }
  }

  /** Keeps the text of the cursor's line, and whether it asks for a secret. */
  #follow(text: string): void {
    const plain = text.length > MAX_TAIL * 4 ? text.slice(-MAX_TAIL * 4) : text;
    let tail = this.#tail + plain.replace(ESCAPES, '');
    const nl = tail.lastIndexOf('\n');
    if (nl !== -1) tail = tail.slice(nl + 1);
    const cr = tail.lastIndexOf('\r');
    if (cr !== -1 && cr < tail.length - 1) tail = tail.slice(cr + 1); // a redrawn line: what follows the return
    tail = tail.replace(/[\x00-\x1f\x7f]/g, '');
    this.#tail = tail.slice(-MAX_TAIL);
    // Armed until an Enter (or Ctrl-C) is typed, or a shell prompt shows again: other
    // output printed meanwhile (a background job) does not disarm it.
    if (SECRET_PROMPT.test(this.#tail)) this.#armed = true;
    else if (nl !== -1 && SHELL_PROMPT_END.test(this.#tail)) this.#armed = false;
  }
}

function eventOf(k: Keys): InputEvent {
  if (k.decided !== 'hidden') return { t: k.t, data: k.raw };
  const hidden: number[] = [];
  const sealed: string[] = [];
  // Printable runs are hidden; control keys (Enter, Backspace) and escape sequences (arrows) between them stay.
  const data = k.raw
    .split(new RegExp(`(${ESCAPES.source})`))
    .map((part, i) =>
      i % 2 === 1
        ? part
        : part.replace(/[^\x00-\x1f\x7f]+/g, (run) => {
            hidden.push(Buffer.byteLength(run, 'utf8'));
            sealed.push(run);
            return REDACTED;
          }),
    )
    .join('');
  return { t: k.t, data, hidden, sealed };
}

/**
 * Escape sequences: SS3 (ESC O A: cursor keys in application mode, as zsh and
 * vim ask for them), CSI (colours, cursor moves, bracketed paste marks),
 * OSC/DCS strings, and two-byte ESC x.
 */
const ESCAPES = /\x1bO[ -~]|\x1b\[[0-9;?<=>!]*[ -/]*[@-~]|\x1b[\]P^_X][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]/g;

/** What a piece of terminal text puts on the screen as characters: no escape sequences, no control characters. */
function glyphsOf(text: string): string {
  return text.replace(ESCAPES, '').replace(/[\x00-\x1f\x7f]/g, '');
}
