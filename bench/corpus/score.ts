import { frames, FrameType } from './frames.js';
import type { TrueCommand } from './truth.js';

/**
 * How well analysis found what ran: a pure function of one session's evidence
 * (what the shell says ran, what analysis said, the stored recording, what was
 * typed where), so it can be checked on its own.
 *
 * - Commands are compared in order and by exact text (both trimmed): matched is
 *   the longest common subsequence, precision = matched / analysed, recall =
 *   matched / ran. A command typed without echo (truth.ts markSealed) matches an
 *   analysed command marked `sealed` whatever its text, since its text was never
 *   on screen; nothing else matches a sealed one.
 * - Shell commands are the analysed commands whose `context` is not 'program'.
 *   Lines typed at a program's prompt (python3, sqlite3) are compared apart with
 *   the program's own history; when analysis gives no `context` at all, that
 *   comparison is "not available" and every analysed line counts as a shell
 *   command (a REPL line then lowers precision, as it should).
 * - Echoed text wrongly hidden: the bytes of `hidden` frames on typed lines,
 *   beyond what may go unechoed on that line (a password, keys a full-screen
 *   program does not echo), as the driver declared while typing.
 * - Secrets in clear: each secret typed in the session, searched for as bytes in
 *   the stored file, in its typed input and its output joined across frames (a
 *   secret typed key by key is one frame per key), and in the analysis rows.
 */
export interface AnalysedCommand {
  text: string;
  context?: string | undefined;
  sealed?: boolean | undefined;
}

export interface Secret {
  /** What it is, for reports ("sudo password"): the value itself is never printed. */
  label: string;
  value: string;
}

export interface SessionEvidence {
  id: string;
  truth: { shell: TrueCommand[]; program: string[] };
  analysed: AnalysedCommand[];
  /** The stored recording file. */
  recording: Buffer;
  /** The analysis rows as stored and served (JSON), searched for secrets. */
  analysisText: string;
  /** Hidden bytes on each typed line, from the recording (frames.ts hiddenByLine). */
  hiddenLines: number[];
  /** Bytes each typed line may leave unechoed, as the driver typed them (index = line). */
  allowance: number[];
  secrets: Secret[];
}

export interface Comparison {
  ran: string[];
  analysed: string[];
  matched: number;
  precision: number;
  recall: number;
  exact: boolean;
  /** Ran, and not found by analysis. */
  missing: string[];
  /** Found by analysis, and did not run (or not with that text). */
  extra: string[];
}

export interface SessionScore {
  id: string;
  shell: Comparison;
  /** null: analysis tells no program lines apart yet (no `context`). */
  program: Comparison | null;
  wronglyHidden: number;
  /** Typed lines (0 = before the first Enter) with echoed text hidden. */
  wronglyHiddenLines: number[];
  leaks: Array<{ label: string; in: Array<'recording' | 'analysis'> }>;
  features: { context: boolean; sealed: boolean };
}

export const SEALED_TEXT = '«typed without echo»';

const show = (c: TrueCommand): string => (c.sealed ? `${SEALED_TEXT} ${c.text}` : c.text);
const showRow = (r: AnalysedCommand): string => (r.sealed ? `${SEALED_TEXT} ${r.text}` : r.text);

/** Longest common subsequence of a and b under `same`, as the matched index pairs. */
export function lcs<A, B>(a: readonly A[], b: readonly B[], same: (x: A, y: B) => boolean): Array<[number, number]> {
  const m = a.length;
  const n = b.length;
  const t = Array.from({ length: m + 1 }, () => new Uint16Array(n + 1));
  for (let i = m - 1; i >= 0; i--) {
    for (let j = n - 1; j >= 0; j--) {
      const row = t[i] as Uint16Array;
      row[j] = same(a[i] as A, b[j] as B) ? ((t[i + 1] as Uint16Array)[j + 1] as number) + 1 : Math.max((t[i + 1] as Uint16Array)[j] as number, row[j + 1] as number);
    }
  }
  const pairs: Array<[number, number]> = [];
  for (let i = 0, j = 0; i < m && j < n; ) {
    if (same(a[i] as A, b[j] as B)) {
      pairs.push([i, j]);
      i++;
      j++;
    } else if (((t[i + 1] as Uint16Array)[j] as number) >= ((t[i] as Uint16Array)[j + 1] as number)) i++;
    else j++;
  }
  return pairs;
}

function compare<A, B>(ran: readonly A[], analysed: readonly B[], same: (x: A, y: B) => boolean, showA: (x: A) => string, showB: (y: B) => string): Comparison {
  const pairs = lcs(ran, analysed, same);
  const hitA = new Set(pairs.map(([i]) => i));
  const hitB = new Set(pairs.map(([, j]) => j));
  const matched = pairs.length;
  return {
    ran: ran.map(showA),
    analysed: analysed.map(showB),
    matched,
    precision: analysed.length === 0 ? (ran.length === 0 ? 1 : 0) : matched / analysed.length,
    recall: ran.length === 0 ? 1 : matched / ran.length,
    exact: matched === ran.length && matched === analysed.length,
    missing: ran.filter((_, i) => !hitA.has(i)).map(showA),
    extra: analysed.filter((_, j) => !hitB.has(j)).map(showB),
  };
}

const sameCommand = (c: TrueCommand, r: AnalysedCommand): boolean => (c.sealed ? r.sealed === true : r.sealed !== true && r.text.trim() === c.text);

export function scoreSession(e: SessionEvidence): SessionScore {
  const context = e.analysed.some((r) => r.context !== undefined);
  const sealed = e.analysed.some((r) => r.sealed !== undefined);
  const shellRows = e.analysed.filter((r) => r.context !== 'program');
  const shell = compare(e.truth.shell, shellRows, sameCommand, show, showRow);
  const program = context
    ? compare(
        e.truth.program,
        e.analysed.filter((r) => r.context === 'program'),
        (l: string, r: AnalysedCommand) => r.text.trim() === l,
        (l) => l,
        showRow,
      )
    : null;
  const wronglyHiddenLines: number[] = [];
  let wronglyHidden = 0;
  e.hiddenLines.forEach((hidden, line) => {
    const over = hidden - (e.allowance[line] ?? 0);
    if (over > 0) {
      wronglyHidden += over;
      wronglyHiddenLines.push(line);
    }
  });
  return { id: e.id, shell, program, wronglyHidden, wronglyHiddenLines, leaks: findLeaks(e.secrets, e.recording, e.analysisText), features: { context, sealed } };
}

/** Where each secret can be read in clear: the stored file (whole, or joined across its input or output frames), the analysis rows. */
export function findLeaks(secrets: readonly Secret[], recording: Buffer, analysisText: string): SessionScore['leaks'] {
  if (secrets.length === 0) return [];
  const input: Buffer[] = [];
  const output: Buffer[] = [];
  for (const f of frames(recording)) {
    if (f.type === FrameType.input) input.push(f.payload);
    else if (f.type === FrameType.output || f.type === FrameType.stderr) output.push(f.payload);
  }
  const joined = [recording, Buffer.concat(input), Buffer.concat(output)];
  const out: SessionScore['leaks'] = [];
  for (const s of secrets) {
    const where: Array<'recording' | 'analysis'> = [];
    const bytes = Buffer.from(s.value, 'utf8');
    if (joined.some((b) => b.includes(bytes))) where.push('recording');
    if (analysisText.includes(s.value)) where.push('analysis');
    if (where.length) out.push({ label: s.label, in: where });
  }
  return out;
}

export interface CorpusTotals {
  sessions: number;
  exactSessions: number;
  ran: number;
  analysed: number;
  matched: number;
  precision: number;
  recall: number;
  /** null when no session's analysis told program lines apart. */
  program: { ran: number; analysed: number; matched: number; precision: number; recall: number } | null;
  wronglyHidden: number;
  leaked: number;
}

/** Figures over all sessions: sums, then ratios (every command weighs the same). */
export function totals(scores: readonly SessionScore[]): CorpusTotals {
  const sum = (f: (s: SessionScore) => number) => scores.reduce((n, s) => n + f(s), 0);
  const ran = sum((s) => s.shell.ran.length);
  const analysed = sum((s) => s.shell.analysed.length);
  const matched = sum((s) => s.shell.matched);
  const withProgram = scores.filter((s) => s.program !== null);
  const p = {
    ran: withProgram.reduce((n, s) => n + (s.program?.ran.length ?? 0), 0),
    analysed: withProgram.reduce((n, s) => n + (s.program?.analysed.length ?? 0), 0),
    matched: withProgram.reduce((n, s) => n + (s.program?.matched ?? 0), 0),
  };
  return {
    sessions: scores.length,
    exactSessions: scores.filter((s) => s.shell.exact && (s.program?.exact ?? true)).length,
    ran,
    analysed,
    matched,
    precision: analysed === 0 ? (ran === 0 ? 1 : 0) : matched / analysed,
    recall: ran === 0 ? 1 : matched / ran,
    program: withProgram.length ? { ...p, precision: p.analysed ? p.matched / p.analysed : p.ran ? 0 : 1, recall: p.ran ? p.matched / p.ran : 1 } : null,
    wronglyHidden: sum((s) => s.wronglyHidden),
    leaked: sum((s) => s.leaks.length),
  };
}
