import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Scenario } from './scenario.js';
import { markSealed, nest, parseBashHistory, parseReadlineHistory, parseStraceReads, parseZshHistory, programLines, shellCommands } from './truth.js';
import type { TrueCommand } from './truth.js';

/** What ran in one session, read from what its shells and programs left in its home (target.ts, truth.ts). */
export interface SessionTruth {
  shell: TrueCommand[];
  program: string[];
}

const SHELL_RECORD = { bash: 'bash.hist', zsh: 'zsh.hist', dash: 'dash.strace', stdin: 'stdin.hist' } as const;
const PROGRAM_RECORD = { python: '.python_history', sqlite: 'sqlite.hist' } as const;

function read(home: string, name: string, what: string): Buffer {
  const path = join(home, name);
  if (!existsSync(path)) throw new Error(`ground truth: ${what} left no ${name} in ${home}`);
  return readFileSync(path);
}

export function readTruth(s: Scenario, home: string): SessionTruth {
  const own = read(home, SHELL_RECORD[s.shell], s.shell);
  let commands: string[];
  switch (s.shell) {
    case 'zsh':
      commands = shellCommands(parseZshHistory(own));
      break;
    case 'dash':
      commands = shellCommands(parseStraceReads(own.toString('utf8')));
      break;
    case 'stdin': {
      // An exec request's command ran first (sshd ran it with the login shell, `bash -c`, which keeps no history).
      const exec = join(home, 'exec.command');
      const command = existsSync(exec) ? shellCommands([readFileSync(exec, 'utf8').replace(/\n$/, '')]) : [];
      commands = [...command, ...shellCommands(parseBashHistory(own.toString('utf8')))];
      break;
    }
    default:
      commands = shellCommands(parseBashHistory(own.toString('utf8')));
  }
  for (const n of s.nested ?? []) {
    commands = nest(commands, shellCommands(parseBashHistory(read(home, n.history, `the shell started by "${n.opener}"`).toString('utf8'))), n.opener);
  }
  const program = (s.programs ?? []).flatMap((p) => programLines(parseReadlineHistory(read(home, PROGRAM_RECORD[p], p).toString('utf8'))));
  return { shell: markSealed(commands), program };
}
