import type { Rng } from './rng.js';
import type { Typist } from './typist.js';

/**
 * One scripted session of the corpus. A scenario says what to type and how;
 * it never says which commands it expects: those are read from the shell
 * afterwards (truth.ts). What it may say is how to read the shell's records:
 * which nested shell's history belongs after which command, which programs'
 * histories hold the lines typed at their prompts.
 */
export type ShellKind = 'bash' | 'zsh' | 'dash' | 'stdin';

export interface ScenarioContext {
  /** The target user's password (sudo, su), set for the run; privileged scenarios only. */
  password: string;
  /** The target user's name (what `su -` is given). */
  login: string;
  /** The scenario's own random stream (its typing jitter comes from the same seed). */
  rng: Rng;
  /** A random token for secrets and file names, from the scenario's stream. */
  token(prefix: string): string;
}

export interface Scenario {
  /** Lower-case letters, digits and dashes: names the session's home and its recording. */
  id: string;
  /** What this session exercises, in a line. */
  covers: string;
  shell: ShellKind;
  width?: number;
  height?: number;
  /** Needs root on this machine: sets the target user's password and a sudoers rule. */
  privileged?: boolean;
  /** Runs apart from other exclusive sessions (root's login shell runs pyenv here, which stalls when many start at once: NOTES.md). */
  exclusive?: boolean;
  /** Files placed in the session's home before it starts (relative path → contents). */
  files?: Record<string, string>;
  /** bash's PS1 instead of the plain default. */
  ps1?: string;
  /** Shells started from this one: the command that started it, as history holds it, and the history file it wrote. */
  nested?: Array<{ opener: string | RegExp; history: 'root.hist' | 'su.hist' }>;
  /** Programs whose own history holds the lines typed at their prompts, in the order they ran. */
  programs?: Array<'python' | 'sqlite'>;
  /** Why this case can be read more than one way, when it can: the scoring stays strict regardless. */
  ambiguity?: string;
  /** A shell without a terminal, fed `script` on stdin: `ssh -T` (no remote) or `ssh … remote`. */
  stdin?: { script: string; remote?: string };
  /** The keyboard, from the first prompt to `exit`. */
  run?(t: Typist, ctx: ScenarioContext): Promise<void>;
}

/** Prompts as the corpus homes set them (target.ts) and as the programs print them. */
export const PROMPT = {
  bash: /\$ $/,
  root: /# $/,
  zsh: /% $/,
  dash: /\$ $/,
  python: />>> $/,
  sqlite: /sqlite> $/,
} as const;

/** Backspace, Ctrl-U and Ctrl-W, each on its own line: what every shell (or the kernel, for dash) edits. */
export async function lineEditing(t: Typist): Promise<void> {
  await t.type('echo helo', 'human');
  await t.key('BSpace');
  await t.type('lo');
  await t.enter();
  await t.type('echo wrong');
  await t.key('C-u');
  await t.type('echo right');
  await t.enter();
  await t.type('echo one two three');
  await t.key('C-w');
  await t.type('four');
  await t.enter();
}

/** `exit` at the last prompt, then the client's exit (the wrapper prints SSH-EXIT). */
export async function bye(t: Typist, o: { pace?: 'human' | 'burst' } = {}): Promise<void> {
  await t.line('exit', { ...o, after: /SSH-EXIT=\d+/ });
}
