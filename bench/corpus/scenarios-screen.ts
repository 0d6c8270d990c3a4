import type { Scenario } from './scenario.js';
import { bye } from './scenario.js';

/**
 * bash, where the screen is not one line per command: lines that wrap (80 and
 * 200 columns), a resize mid-line, pastes with and without bracketed paste,
 * typing ahead while a command runs, clear, a coloured prompt, long output,
 * and risky commands in a wrapping line.
 */
const LONG_ECHO =
  'echo "a long command line that wraps on an eighty column terminal: the analysis must read the whole logical line, not the first row" | tr a-z A-Z';
const LONG_200 =
  'printf "%s\\n" "a very long line for a wide terminal of two hundred columns: ' +
  'it still wraps, because it is longer than two hundred characters, and the command is one logical line that the screen shows as two rows" | wc -c';

export const SCREEN: Scenario[] = [
  {
    id: 'bash-wrap-80',
    covers: 'command lines longer than an 80-column terminal, typed in bursts',
    shell: 'bash',
    width: 80,
    height: 24,
    async run(t) {
      await t.line(LONG_ECHO);
      await t.line('grep -E "^(root|daemon|bin|sys|sync|games|man|lp|mail|news|uucp|proxy|www-data|backup):" /etc/passwd | cut -d: -f1,7 | sort');
      await bye(t);
    },
  },
  {
    id: 'bash-wrap-80-human',
    covers: 'a wrapping line typed at human pace, edited across the wrap with Home and arrows',
    shell: 'bash',
    width: 80,
    height: 24,
    async run(t) {
      await t.type('echo the first part of a line that an engineer types slowly, ', 'burst');
      await t.type('and then goes on past the edge', 'human');
      await t.key('Home', 'Right', 'Right', 'Right', 'Right', 'Right');
      await t.type('--- ');
      await t.enter();
      await bye(t);
    },
  },
  {
    id: 'bash-wrap-200',
    covers: 'a command line longer than a 200-column terminal',
    shell: 'bash',
    width: 200,
    height: 40,
    async run(t) {
      await t.line(LONG_200);
      await t.line('echo short one');
      await bye(t);
    },
  },
  {
    id: 'bash-resize-midline',
    covers: 'the terminal shrinks while a line is half typed (bash redraws it), then grows back',
    shell: 'bash',
    width: 100,
    height: 30,
    async run(t) {
      await t.type('echo this line was begun on a wide terminal of one hundred columns', 'burst');
      await t.resize(60, 30);
      await t.type(' and finished after it was made narrow', 'human');
      await t.enter();
      await t.resize(100, 30);
      await t.line('echo resized back');
      await bye(t);
    },
  },
  {
    id: 'bash-paste-bracketed',
    covers: 'a multi-line paste with bracketed paste (tmux paste-buffer -p), run with Enter',
    shell: 'bash',
    async run(t) {
      // bash 5.2 holds a bracketed multi-line paste in the editor until Enter, then runs each line.
      await t.paste('echo pasted-one\necho pasted-two\necho pasted-three\n', { bracketed: true, after: 'none' });
      await t.see(/^echo pasted-three$/m);
      await t.enter(/^pasted-three$/m);
      await t.atPrompt();
      await t.line('echo after the paste');
      await bye(t);
    },
  },
  {
    id: 'bash-paste-plain',
    covers: 'a multi-line paste without bracketed paste: the lines arrive as if typed in one burst',
    shell: 'bash',
    async run(t) {
      await t.paste('echo plain-one\necho plain-two\n', { bracketed: false, after: /^plain-two$/m });
      await t.atPrompt();
      await t.paste('ls -1 /etc/hostname', { bracketed: true });
      await t.see(/ls -1 \/etc\/hostname$/m);
      await t.enter();
      await bye(t);
    },
  },
  {
    id: 'bash-type-ahead',
    covers: 'typing the next command while one runs (during sleep 1), in a burst and at human pace',
    shell: 'bash',
    async run(t) {
      await t.line('sleep 1', { after: 'none' });
      await t.type('echo typed-ahead');
      await t.enter('none');
      await t.see(/^typed-ahead$/m);
      await t.atPrompt();
      await t.line('sleep 2', { after: 'none' });
      await t.type('uname -r', 'human');
      await t.enter('none');
      await t.type('echo ahead-two', 'human');
      await t.enter('none');
      await t.see(/^ahead-two$/m);
      await t.atPrompt();
      await bye(t);
    },
  },
  {
    id: 'bash-clear',
    covers: 'clear and Ctrl-L redraw the prompt at the top',
    shell: 'bash',
    async run(t) {
      await t.line('echo before clear');
      await t.line('clear');
      await t.line('echo after clear');
      await t.key('C-l');
      await t.atPrompt();
      await t.line('pwd');
      await bye(t);
    },
  },
  {
    id: 'bash-colour-prompt',
    covers: 'a coloured prompt (Debian\'s, with escape sequences) and a changing directory in it',
    shell: 'bash',
    ps1: '\\[\\e[01;32m\\]\\u@\\h\\[\\e[00m\\]:\\[\\e[01;34m\\]\\w\\[\\e[00m\\]\\$ ',
    async run(t) {
      await t.line('cd /usr/share');
      await t.line('ls -d doc', { pace: 'human' });
      await t.line('cd -');
      await bye(t);
    },
  },
  {
    id: 'bash-long-output',
    covers: 'commands between screens of output (the prompt scrolls away)',
    shell: 'bash',
    async run(t) {
      await t.line('seq 1 400');
      await t.line('echo after the output');
      await t.line('seq 1 50 | tail -n 3');
      await bye(t);
    },
  },
  {
    id: 'bash-risky',
    covers: 'risky commands: history -c, a key appended to authorized_keys in a line that wraps at 80 columns',
    shell: 'bash',
    width: 80,
    height: 24,
    files: { '.ssh/authorized_keys': '' },
    async run(t) {
      await t.line('history -c');
      await t.line(
        'echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK8yYw0nV1k9m2Qe7dS4cJ0b3xT6pL5rH2uF9aZ1vQwE vendor@laptop" >> ~/.ssh/authorized_keys',
        { pace: 'burst' },
      );
      await t.line('chmod 600 ~/.ssh/authorized_keys');
      await bye(t);
    },
  },
];
