import type { Scenario } from './scenario.js';
import { bye, lineEditing } from './scenario.js';

/**
 * zsh (its own line editor, prompt and completion listing), dash (no line
 * editor: the kernel's tty does Backspace, Ctrl-W, Ctrl-U), and shells without
 * a terminal fed a script on stdin (exec recordings: one command a line).
 */
export const SHELLS: Scenario[] = [
  {
    id: 'zsh-human-pace',
    covers: 'zsh, typing key by key at 80–400 ms',
    shell: 'zsh',
    async run(t) {
      await t.line('echo hello from zsh', { pace: 'human' });
      await t.line('print -l one two', { pace: 'human' });
      await t.line('whoami', { pace: 'human' });
      await bye(t, { pace: 'human' });
    },
  },
  {
    id: 'zsh-editing',
    covers: 'zsh line editing: Backspace, Ctrl-U, Ctrl-W, Left and insertion, Home and End',
    shell: 'zsh',
    async run(t) {
      await lineEditing(t);
      await t.type('echo wrld');
      await t.key('Left', 'Left', 'Left');
      await t.type('o');
      await t.enter();
      await t.type('cho start');
      await t.key('Home');
      await t.type('e');
      await t.key('End');
      await t.type(' end');
      await t.enter();
      await bye(t);
    },
  },
  {
    id: 'zsh-history',
    covers: 'zsh history: Up, !$, Ctrl-R',
    shell: 'zsh',
    ambiguity: 'as in bash, "cat !$" is typed and the expansion runs: the command is the expansion',
    async run(t) {
      await t.line('echo first');
      await t.key('Up');
      await t.enter();
      await t.line('ls /etc/hostname');
      await t.line('cat !$');
      await t.key('C-r');
      await t.type('firs', 'human');
      await t.see(/bck-i-search: firs/);
      await t.enter();
      await bye(t);
    },
  },
  {
    id: 'zsh-tab',
    covers: 'zsh completion: a unique file, then an ambiguous one with its listing',
    shell: 'zsh',
    files: { 'zebra-notes.txt': 'z\n', 'zeta-1.log': '1\n', 'zeta-2.log': '2\n' },
    async run(t) {
      await t.type('cat zeb');
      await t.key('Tab');
      await t.see(/cat zebra-notes\.txt/);
      await t.enter();
      await t.type('ls zet');
      await t.key('Tab');
      await t.see(/ls zeta-$/m);
      await t.tabUntil(/zeta-1\.log\s+zeta-2\.log/);
      await t.type('2');
      await t.key('Tab');
      await t.see(/ls zeta-2\.log/);
      await t.enter();
      await bye(t);
    },
  },
  {
    id: 'zsh-paste',
    covers: 'a bracketed multi-line paste in zsh: held in the editor until Enter',
    shell: 'zsh',
    ambiguity: 'zsh runs the two pasted lines on one Enter and records them as one history entry of two lines; bash, which also waits for the Enter, records each line: counted as one command per line',
    async run(t) {
      await t.paste('echo zp-one\necho zp-two\n', { bracketed: true, after: 'none' });
      await t.see(/echo zp-two/);
      await t.enter();
      await t.see(/^zp-two$/m);
      await t.atPrompt();
      await bye(t);
    },
  },
  {
    id: 'zsh-wrap-80',
    covers: 'a zsh command line that wraps at 80 columns',
    shell: 'zsh',
    width: 80,
    height: 24,
    async run(t) {
      await t.line('print -r -- "zsh wraps long lines too: this one is well over eighty characters, so it takes two rows"');
      await t.line('echo short');
      await bye(t);
    },
  },
  {
    id: 'zsh-ctrl-c',
    covers: 'zsh: Ctrl-C abandons a line; typing and Backspace after it, at human pace',
    shell: 'zsh',
    async run(t) {
      await t.type('echo abandoned', 'human');
      await t.key('C-c');
      await t.atPrompt();
      await t.line('echo after ctrl-c', { pace: 'human' });
      await t.type('ls nope', 'human');
      await t.key('BSpace', 'BSpace', 'BSpace', 'BSpace');
      await t.type('.', 'human');
      await t.enter();
      await bye(t);
    },
  },
  {
    id: 'dash-human-pace',
    covers: 'dash, typing key by key at 80–400 ms',
    shell: 'dash',
    async run(t) {
      await t.line('echo hello from dash', { pace: 'human' });
      await t.line('ls -d /etc', { pace: 'human' });
      await t.line('id -un', { pace: 'human' });
      await bye(t, { pace: 'human' });
    },
  },
  {
    id: 'dash-tty-editing',
    covers: 'dash: Backspace, Ctrl-U, Ctrl-W done by the kernel\'s line discipline; Ctrl-C',
    shell: 'dash',
    async run(t) {
      await lineEditing(t);
      await t.type('echo abandoned');
      await t.key('C-c');
      await t.atPrompt();
      await t.line('echo after ctrl-c', { pace: 'human' });
      await bye(t);
    },
  },
  {
    id: 'dash-wrap-paste',
    covers: 'dash: a line that wraps at 80 columns, and a two-line paste',
    shell: 'dash',
    width: 80,
    height: 24,
    async run(t) {
      await t.line('echo "dash has no line editor, but the terminal still wraps a line longer than eighty columns"');
      // The tty echoes both lines at once, so dash's second prompt and the second answer share a row.
      await t.paste('echo dp-one\necho dp-two\n', { bracketed: true, after: /^(\$ )?dp-two$/m });
      await t.atPrompt();
      await bye(t);
    },
  },
  {
    id: 'stdin-ssh-t',
    covers: 'ssh -T with a script on stdin: a shell without a terminal (an exec recording, one command a line)',
    shell: 'stdin',
    stdin: { script: 'echo from stdin\ncd /tmp\npwd\n# a comment line\nls -d /etc\nexit 0\n' },
  },
  {
    id: 'stdin-bash-s',
    covers: "ssh … 'bash -s' with a script on stdin",
    shell: 'stdin',
    stdin: { remote: 'bash -s', script: 'set -e\nuname -s\nfor i in 1 2; do echo "item $i"; done\ntest -d /etc && echo "etc is there"\n' },
  },
];
