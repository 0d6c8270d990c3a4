/**
 * The commands that really ran, as the shell (or the kernel) saw them: never
 * what a scenario meant to type. Each parser reads what one shell leaves
 * behind (target.ts arranges for each session to leave it in its own home):
 *
 * - bash: its history file. The rc sets HISTFILE, HISTSIZE/HISTFILESIZE large,
 *   HISTCONTROL and HISTIGNORE empty, histappend, and `trap 'history -a' DEBUG`,
 *   so every line is appended before it runs: `history -c` then clears only the
 *   shell's memory, not the file (with the usual PROMPT_COMMAND='history -a',
 *   `history -c` itself would be lost: it clears the list before the prompt).
 * - zsh: its history file (INC_APPEND_HISTORY), metafied bytes undone, a
 *   backslash at a line's end continuing the entry (zsh's own format).
 * - dash has no history: it runs under `strace -e trace=read -e read=0 -xx`,
 *   so the trace holds every byte dash itself read from its terminal. The tty
 *   is in canonical mode (dash has no line editor), so the kernel's line
 *   discipline has already applied Backspace, Ctrl-W and Ctrl-U and dropped a
 *   line ended by Ctrl-C: each line read is exactly what dash parsed. Only
 *   dash's own process is traced (no -f): what its children read (cat, a
 *   password prompt) is not a command.
 * - a shell without a terminal fed on stdin: bash, with BASH_ENV turning its
 *   history on (`set -o history` works in a non-interactive shell and is saved
 *   at exit); an exec request's own command (`ssh host 'bash -s'`) first, as
 *   sshd handed it to the forced command (SSH_ORIGINAL_COMMAND, truth-files.ts).
 * - python3 and sqlite3: their readline history files (~/.python_history, and
 *   SQLITE_HISTORY), for lines typed at a program's own prompt.
 *
 * Normalisation, the same for every shell: a history entry of several lines
 * (zsh keeps a bracketed paste as one entry; bash records the same paste as one
 * entry per line) counts one command per line; text is compared without
 * leading or trailing blanks (tab completion leaves a space that the shell
 * keeps); blank lines and lines that are only a comment ran nothing.
 */
export interface TrueCommand {
  text: string;
  /** Typed while the terminal did not echo (after `stty -echo`): its text was never on screen. */
  sealed: boolean;
}

/** bash's history file: one entry a line; `#<epoch>` lines are timestamps (HISTTIMEFORMAT). */
export function parseBashHistory(text: string): string[] {
  return text.split('\n').filter((line, i, all) => !(i === all.length - 1 && line === '') && !/^#\d+$/.test(line));
}

/** zsh's history file: metafied, `: start:elapsed;` prefixes with EXTENDED_HISTORY, `\` + newline inside an entry. */
export function parseZshHistory(raw: Buffer): string[] {
  const text = unmetafy(raw).toString('utf8');
  const entries: string[] = [];
  let current: string | undefined;
  for (const line of text.split('\n')) {
    const piece = current === undefined ? line.replace(/^: \d+:\d+;/, '') : line;
    if (piece.endsWith('\\')) {
      current = (current === undefined ? '' : current + '\n') + piece.slice(0, -1);
      continue;
    }
    entries.push(current === undefined ? piece : current + '\n' + piece);
    current = undefined;
  }
  if (current !== undefined) entries.push(current);
  if (entries.at(-1) === '') entries.pop();
  return entries;
}

/** zsh stores bytes 0x83-0xa2 (and NUL) as 0x83 followed by the byte XOR 32 ("metafied"). */
function unmetafy(raw: Buffer): Buffer {
  const out = Buffer.alloc(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i] as number;
    if (b === 0x83 && i + 1 < raw.length) out[n++] = (raw[++i] as number) ^ 32;
    else out[n++] = b;
  }
  return out.subarray(0, n);
}

const STRACE_READ = /^(?:\d+\s+)?read\(0, "((?:\\x[0-9a-f]{2})*)"(?:\.\.\.)?, \d+\)\s*= (\d+)/;

/**
 * The lines a process read from fd 0, from `strace -e trace=read -e read=0 -xx
 * -s 65535`: -xx writes every byte as \xNN, so the string decodes exactly.
 * Interrupted reads (Ctrl-C: ERESTARTSYS) returned nothing. A last line
 * without its newline was never handed to the shell as a line.
 */
export function parseStraceReads(trace: string): string[] {
  const bytes: Buffer[] = [];
  for (const line of trace.split('\n')) {
    const m = STRACE_READ.exec(line);
    if (!m || m[2] === '0') continue;
    bytes.push(Buffer.from((m[1] ?? '').replace(/\\x/g, ''), 'hex'));
  }
  const lines = Buffer.concat(bytes).toString('utf8').split('\n');
  lines.pop(); // after the last newline: a line never finished
  return lines;
}

/** A readline history file (GNU: one line each); libedit's `_HiStOrY_V2_` form with \040 escapes too. */
export function parseReadlineHistory(text: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  if (lines[0] === '_HiStOrY_V2_') return lines.slice(1).map((l) => l.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  return lines.filter((l) => !/^#\d+$/.test(l));
}

/** Shell history entries as commands (see the normalisation above). */
export function shellCommands(entries: string[]): string[] {
  return entries
    .flatMap((e) => e.split('\n'))
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** Lines typed at a program's prompt (python3, sqlite3): blank lines dropped, nothing else. */
export function programLines(entries: string[]): string[] {
  return entries.flatMap((e) => e.split('\n')).map((l) => l.trim()).filter((l) => l !== '');
}

/**
 * A shell started from another (sudo -i, su -): its commands ran between the
 * command that started it and the parent's next one, since the parent waits.
 * `opener` is that command as the parent's history holds it (its text, or a pattern).
 */
export function nest(parent: string[], child: string[], opener: string | RegExp): string[] {
  const at = parent.findIndex((c) => (typeof opener === 'string' ? c === opener : opener.test(c)));
  if (at === -1) throw new Error(`ground truth: the command that started a nested shell (${String(opener)}) is not in the parent shell's history: ${JSON.stringify(parent)}`);
  return [...parent.slice(0, at + 1), ...child, ...parent.slice(at + 1)];
}

const ECHO_OFF = /^stty(?:\s+\S+)*\s+-echo(?:\s|$)/;
const ECHO_ON = /^stty(?:\s+\S+)*\s+(?:echo|sane)(?:\s|$)/;

/**
 * Which commands were typed without echo: those after a `stty -echo` that ran,
 * up to and including the `stty echo` (or `stty sane`) that ended it. Derived
 * from what ran, so it holds whatever the scenario meant.
 */
export function markSealed(commands: string[]): TrueCommand[] {
  let off = false;
  return commands.map((text) => {
    const sealed = off;
    if (ECHO_OFF.test(text)) off = true;
    else if (off && ECHO_ON.test(text)) off = false;
    return { text, sealed };
  });
}
