import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startLoopbackSshd } from '../../server/index.js';
import { ensureBenchUser, keygen } from '../sshd.js';
import type { Scenario } from './scenario.js';

/**
 * The corpus's target: a real OpenSSH sshd on loopback whose sessions run as
 * the unprivileged target user (airlocktgt when root), each in a home of its
 * own that leaves the shell's record behind (truth.ts).
 *
 * How a session gets its own home and history without touching the target
 * user's real files (other tests use that user at the same time): the client
 * sends LC_CORPUS=<scenario> (airlock passes LC_* on, sshd accepts it), and
 * sshd's ForceCommand (force.sh here) sets HOME to that scenario's directory,
 * sets the terminal title to "corpus <id>" (how a recording is told apart:
 * frames.ts scenarioOf) and starts the scenario's shell there: `bash -i` on
 * its .bashrc, `zsh -i` on its .zshrc, dash under strace, or for a session
 * without a terminal, bash on stdin with BASH_ENV turning its history on. The
 * engineer's side is an ordinary shell request (or exec) through airlock.
 *
 * Privileged scenarios (root only): the target user gets a password for the run
 * (chpasswd) and a sudoers rule in /etc/sudoers.d (checked with visudo -c)
 * that keeps the HIST* variables, so root's shell from `sudo -i` writes its
 * history into the session's home too; both are undone by stop().
 */
export interface CorpusTarget {
  port: number;
  /** "ssh-ed25519 AAAA…" */
  hostKey: string;
  /** The private key airlock logs in with. */
  clientKey: string;
  login: string;
  root: string;
  /** The session's home: what the shell left there is read from here. */
  home(id: string): string;
  prepare(s: Scenario): void;
  /** Set when privileged scenarios can run: the target user's password for this run. */
  password: string | undefined;
  /** Why privileged scenarios cannot run here, when they cannot. */
  unprivileged: string | undefined;
  stop(): Promise<void>;
}

const FORCE = (root: string) => `#!/bin/sh
# sshd's ForceCommand for the airlock command corpus (bench/corpus/target.ts).
case "\${LC_CORPUS:-}" in ''|*[!a-z0-9-]*) echo "corpus: LC_CORPUS names no scenario" >&2; exit 97 ;; esac
d='${root}/homes/'"$LC_CORPUS"
[ -f "$d/.start" ] || { echo "corpus: no scenario $LC_CORPUS" >&2; exit 97; }
HOME="$d"; export HOME
unset LC_CORPUS
cd "$d" || exit 97
printf '\\033]0;corpus %s\\007' "\${d##*/}"
exec /bin/sh "$d/.start"
`;

const HIST = 'HISTSIZE=100000 HISTFILESIZE=100000 HISTCONTROL= HISTIGNORE=';

/** The scenario's rc files and the start script the forced command runs. */
function homeFiles(s: Scenario): Record<string, string> {
  const common = { ...(s.files ?? {}) };
  switch (s.shell) {
    case 'bash':
      return {
        ...common,
        '.start': 'exec bash -i\n',
        '.bashrc': [
          '# The airlock command corpus: the shell\'s history is the ground truth (bench/corpus/truth.ts).',
          `HISTFILE="$HOME/bash.hist" ${HIST}`,
          'shopt -s histappend',
          // Appended before each command runs, so `history -c` cannot take back what ran.
          "trap 'history -a' DEBUG",
          `PS1=${shQuote(s.ps1 ?? '\\u@\\h:\\w\\$ ')}`,
          'export SQLITE_HISTORY="$HOME/sqlite.hist"',
          // Nested shells write their history here too (the sudoers rule keeps these variables).
          `sudo() { HISTFILE="$HOME/root.hist" ${HIST} command sudo "$@"; }`,
          `su() { HISTFILE="$HOME/su.hist" ${HIST} command su -w HISTFILE,HISTSIZE,HISTFILESIZE,HISTCONTROL,HISTIGNORE "$@"; }`,
          '',
        ].join('\n'),
      };
    case 'zsh':
      return {
        ...common,
        '.start': 'exec zsh -i\n',
        '.zshrc': [
          '# The airlock command corpus: the shell\'s history is the ground truth (bench/corpus/truth.ts).',
          'HISTFILE="$HOME/zsh.hist"; HISTSIZE=100000; SAVEHIST=100000',
          'setopt INC_APPEND_HISTORY',
          "PS1='%n@%m %~ %# '",
          'export SQLITE_HISTORY="$HOME/sqlite.hist"',
          '',
        ].join('\n'),
      };
    case 'dash':
      return {
        ...common,
        '.start': 'export ENV="$HOME/.dashrc"\nexec strace -o "$HOME/dash.strace" -e trace=read -e read=0 -xx -s 65535 dash -i\n',
        '.dashrc': "PS1='$ '\n",
      };
    case 'stdin':
      return {
        ...common,
        '.start': [
          'export BASH_ENV="$HOME/.bash_env"',
          // The command the client asked for, as sshd hands it over: the target's own record of it.
          'if [ -n "${SSH_ORIGINAL_COMMAND:-}" ]; then printf \'%s\\n\' "$SSH_ORIGINAL_COMMAND" > "$HOME/exec.command"; exec bash -c "$SSH_ORIGINAL_COMMAND"; fi',
          'exec bash',
          '',
        ].join('\n'),
        // Read by every non-interactive bash: history on in the one that reads the script (not in `bash -c`).
        '.bash_env': ['unset BASH_ENV', `case $- in *c*) ;; *) HISTFILE="$HOME/stdin.hist" ${HIST}; set -o history ;; esac`, ''].join('\n'),
      };
  }
}

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export async function startCorpusTarget(o: { log?: (line: string) => void } = {}): Promise<CorpusTarget> {
  const root = mkdtempSync(join(tmpdir(), 'airlock-corpus-'));
  chmodSync(root, 0o755); // sshd reads authorized_keys, the session user reads force.sh
  const login = ensureBenchUser();
  const asRoot = process.getuid?.() === 0;
  mkdirSync(join(root, 'homes'), { mode: 0o755 });
  writeFileSync(join(root, 'force.sh'), FORCE(root), { mode: 0o755 });
  const sshdDir = join(root, 'sshd');
  mkdirSync(sshdDir, { mode: 0o755 });
  keygen(join(sshdDir, 'host_key'), 'corpus-host');
  const client = keygen(join(sshdDir, 'client_key'), 'airlock-to-corpus');
  writeFileSync(join(sshdDir, 'authorized_keys'), client.publicKey + '\n', { mode: 0o644 });
  const sshd = await startLoopbackSshd({
    dir: sshdDir,
    extraConfig: ['AcceptEnv LANG LC_*', `ForceCommand ${join(root, 'force.sh')}`, 'UseDNS no', 'LogLevel ERROR', 'MaxStartups 200', 'MaxSessions 100'],
  });
  const hostKey = readFileSync(join(sshdDir, 'host_key.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');

  let password: string | undefined;
  let sudoers: string | undefined;
  const unprivileged = asRoot ? undefined : 'not root: the case sets the target user\'s password (chpasswd) and a sudoers rule';
  if (asRoot) {
    password = `Corpus-${randomBytes(6).toString('hex')}`;
    execFileSync('chpasswd', [], { input: `${login}:${password}\n` });
    sudoers = `/etc/sudoers.d/airlock-corpus-${randomBytes(4).toString('hex')}`;
    const rule = [
      '# The airlock command corpus (bench/corpus/target.ts); removed when the run ends.',
      `Defaults:${login} env_keep += "HISTFILE HISTSIZE HISTFILESIZE HISTCONTROL HISTIGNORE"`,
      `Defaults:${login} timestamp_timeout=0`,
      `${login} ALL=(ALL:ALL) ALL`,
      '',
    ].join('\n');
    const draft = join(root, 'sudoers.draft');
    writeFileSync(draft, rule, { mode: 0o440 });
    execFileSync('visudo', ['-c', '-q', '-f', draft]); // throws on a rule sudo would refuse
    writeFileSync(sudoers, rule, { mode: 0o440 });
    o.log?.(`target user ${login} has a password for this run; sudoers rule ${sudoers}`);
  }

  const home = (id: string) => join(root, 'homes', id);
  return {
    port: sshd.port,
    hostKey,
    clientKey: client.privateKey,
    login,
    root,
    home,
    password,
    unprivileged,
    prepare(s: Scenario) {
      if (!/^[a-z0-9-]+$/.test(s.id)) throw new Error(`scenario id ${s.id}: lower-case letters, digits and dashes only`);
      const dir = home(s.id);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { mode: 0o755 });
      for (const [rel, text] of Object.entries(homeFiles(s))) {
        mkdirSync(dirname(join(dir, rel)), { recursive: true });
        writeFileSync(join(dir, rel), text);
      }
      if (asRoot) execFileSync('chown', ['-R', `${login}:`, dir]);
    },
    async stop() {
      await sshd.stop();
      if (sudoers) rmSync(sudoers, { force: true });
      if (asRoot) execFileSync('usermod', ['-p', '*', login]); // back to "no password, not locked" (test/helpers/sshd.ts)
      rmSync(root, { recursive: true, force: true });
    },
  };
}
