/**
 * Keeps what an engineer types while the target is not echoing (passwords at
 * sudo, `read -s`, key passphrases) out of the recording. SSH carries no terminal
 * flags back from the target, so echo is judged from the terminal itself: typed
 * text that shows up in the target's output shortly after is input like any
 * other; text that does not show up within `echoWindowMs` is replaced by a
 * marker. Control keys (Enter, Ctrl-C, arrows) are kept as they are.
 *
 * This errs towards hiding: keys a full-screen program does not echo (vim's
 * "j") are hidden too. The output stream, which is what replay shows, is never
 * touched.
 */
export const REDACTED = '\u2022[redacted: typed while the terminal was not echoing]\u2022';

interface Pending {
  t: number;
  /** The keys as typed. */
  raw: string;
  /** The printable part that must show up in the output to count as echoed. */
  text: string;
  deadline: number;
}

export interface InputEvent {
  t: number;
  /** The keys, with each hidden run of printable keys replaced by REDACTED. */
  data: string;
  /** The UTF-8 length of each hidden run, in order (the recording stores these counts, never the keys). */
  hidden?: number[];
}

const MAX_WINDOW = 8192;

export class InputRedactor {
  #pending: Pending[] = [];
  #window = '';
  /**
   * Enters whose newline has not come back in the output yet (deadlines, ms): that
   * newline belongs to them, and is no boundary for keys typed after them (a fast
   * typist's next command, a paste of several lines).
   */
  #owed: number[] = [];

  constructor(private readonly echoWindowMs = 400) {}

  /** True while typed keys wait for their echo, or Enters for their newline: only then does output matter. */
  get waiting(): boolean {
    return this.#pending.length > 0 || this.#owed.length > 0;
  }

  /** A chunk the engineer typed, at time t (seconds) observed at wall time now (ms). */
  input(t: number, data: string, now: number): InputEvent[] {
    const text = printable(data);
    if (!text) {
      // Only control keys: nothing secret, but keep order behind pending keys.
      if (this.#pending.length === 0) {
        for (let n = enters(data); n > 0; n--) this.#owed.push(now + this.echoWindowMs);
        return [{ t, data }];
      }
      this.#pending.push({ t, raw: data, text: '', deadline: now });
      return [];
    }
    if (this.#pending.length === 0) this.#window = '';
    this.#pending.push({ t, raw: data, text, deadline: now + this.echoWindowMs });
    return [];
  }

  /** Output from the target: confirms echoed keys. */
  output(data: string, now: number): InputEvent[] {
    // An Enter's own newline is no boundary for what was typed after it.
    this.#owed = this.#owed.filter((deadline) => deadline >= now);
    for (let nl = data.indexOf('\n'); this.#owed.length > 0 && nl !== -1; nl = data.indexOf('\n')) {
      data = data.slice(nl + 1);
      this.#owed.shift();
    }
    if (this.#pending.length === 0) return [];
    // Keys whose window passed before this output arrived (the recorder ticks only
    // once a second) are decided first: late output is not their echo.
    const overdue = this.#decide(now);
    this.#window = (this.#window + data).slice(-MAX_WINDOW);
    return [...overdue, ...this.#decide(now)];
  }

  /** Decides keys whose echo window has passed. */
  tick(now: number): InputEvent[] {
    return this.#decide(now);
  }

  /** At the end: anything undecided is hidden. */
  flush(): InputEvent[] {
    return this.#decide(Number.POSITIVE_INFINITY);
  }

  #decide(now: number): InputEvent[] {
    const out: InputEvent[] = [];
    while (this.#pending.length) {
      const p = this.#pending[0] as Pending;
      if (!p.text) {
        out.push({ t: p.t, data: p.raw });
        this.#pending.shift();
        this.#enterDone(p.raw, now);
        continue;
      }
      // Keys typed before an Enter are echoed before that Enter's newline: output after
      // it (the command's, the next prompt) is no echo of a password typed at sudo.
      const nl = this.#pending.some((q) => /[\r\n]/.test(q.raw)) ? this.#window.indexOf('\n') : -1;
      const at = this.#window.indexOf(p.text);
      if (at !== -1 && (nl === -1 || at + p.text.length <= nl)) {
        this.#window = this.#window.slice(at + p.text.length);
        out.push({ t: p.t, data: p.raw });
        this.#pending.shift();
        this.#enterDone(p.raw, now);
        continue;
      }
      if (now < p.deadline) break;
      out.push({ t: p.t, ...hide(p.raw) });
      this.#pending.shift();
      this.#enterDone(p.raw, now);
    }
    return out;
  }

  /** Keys with Enter in them are decided: their newline, seen or still to come, is used up. */
  #enterDone(raw: string, now: number): void {
    for (let n = enters(raw); n > 0; n--) {
      const nl = this.#window.indexOf('\n');
      if (nl !== -1) this.#window = this.#window.slice(nl + 1);
      else this.#owed.push((Number.isFinite(now) ? now : 0) + this.echoWindowMs);
    }
  }
}

/** How many times Enter is in typed keys (CR, LF, or CR LF from a paste). */
function enters(data: string): number {
  return data.match(/\r\n|\r|\n/g)?.length ?? 0;
}

/** The printable characters of a chunk, without escape sequences. */
function printable(data: string): string {
  return data.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[O\]P^_][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b./g, '').replace(/[\x00-\x1f\x7f]/g, '');
}

/** Printable runs become the marker; control keys (Enter, Backspace) stay. */
function hide(raw: string): { data: string; hidden: number[] } {
  const hidden: number[] = [];
  const data = raw.replace(/[^\x00-\x1f\x7f]+/g, (run) => {
    hidden.push(Buffer.byteLength(run, 'utf8'));
    return REDACTED;
  });
  return { data, hidden };
}
