import type { Scenario } from './scenario.js';
import { bye } from './scenario.js';

/**
 * bash at a prompt: typing at human pace and in bursts, line editing, history,
 * completion. Each scenario is a handful of commands, so that a failure points
 * at one thing.
 */
export const EDITING: Scenario[] = [
  {
    id: 'bash-human-pace',
    covers: 'typing key by key at 80–400 ms, no mistakes',
    shell: 'bash',
    async run(t) {
      await t.line('echo hello from the vendor', { pace: 'human' });
      await t.line('uname -s', { pace: 'human' });
      await t.line('ls -la', { pace: 'human' });
      await bye(t, { pace: 'human' });
    },
  },
  {
    id: 'bash-backspace',
    covers: 'typos fixed with Backspace at human pace, then ordinary typing',
    shell: 'bash',
    async run(t) {
      await t.type('echo helo', 'human');
      await t.key('BSpace');
      await t.type('lo world', 'human');
      await t.enter();
      await t.type('cat /etc/hostnmae', 'human');
      await t.key('BSpace', 'BSpace', 'BSpace', 'BSpace');
      await t.type('name', 'human');
      await t.enter();
      await t.line('echo after backspace', { pace: 'human' });
      await bye(t);
    },
  },
  {
    id: 'bash-ctrl-c',
    covers: 'Ctrl-C abandons a typed line and interrupts a running command; typing after it',
    shell: 'bash',
    async run(t) {
      await t.type('rm -rf ./build', 'human');
      await t.key('C-c');
      await t.atPrompt();
      await t.line('echo after interrupt', { pace: 'human' });
      await t.line('sleep 30', { after: 'none' });
      await t.waitFor((s) => s.x === 0, 'sleep to start (the cursor on the next row)');
      await t.key('C-c');
      await t.atPrompt();
      await t.line('echo status $?', { pace: 'human' });
      await bye(t);
    },
  },
  {
    id: 'bash-ctrl-c-backspace',
    covers: 'the mix the redactor got wrong: Ctrl-C, then Backspace edits, all at human pace',
    shell: 'bash',
    async run(t) {
      await t.type('echo abc', 'human');
      await t.key('C-c');
      await t.atPrompt();
      await t.type('echo def', 'human');
      await t.enter();
      await t.type('ls nope', 'human');
      await t.key('BSpace', 'BSpace', 'BSpace', 'BSpace');
      await t.type('.', 'human');
      await t.enter();
      await t.line('echo ok', { pace: 'human' });
      await bye(t, { pace: 'human' });
    },
  },
  {
    id: 'bash-ctrl-u-ctrl-w',
    covers: 'Ctrl-U kills the line, Ctrl-W a word',
    shell: 'bash',
    async run(t) {
      await t.type('echo wrong words');
      await t.key('C-u');
      await t.type('echo right words');
      await t.enter();
      await t.type('echo one two three');
      await t.key('C-w', 'C-w');
      await t.type('four');
      await t.enter();
      await bye(t);
    },
  },
  {
    id: 'bash-arrows-insert',
    covers: 'Left/Right and insertion in the middle of a line',
    shell: 'bash',
    async run(t) {
      await t.type('echo wrld');
      await t.key('Left', 'Left', 'Left');
      await t.type('o');
      await t.enter();
      await t.type('grep root /etc/passwd');
      await t.key('Home', 'Right', 'Right', 'Right', 'Right');
      await t.type(' -c');
      await t.enter();
      await bye(t);
    },
  },
  {
    id: 'bash-home-end',
    covers: 'Home and End keys, Ctrl-A and Ctrl-E',
    shell: 'bash',
    async run(t) {
      await t.type('cho start', 'human');
      await t.key('Home');
      await t.type('e');
      await t.key('End');
      await t.type(' end', 'human');
      await t.enter();
      await t.type('ho middle');
      await t.key('C-a');
      await t.type('ec');
      await t.key('C-e');
      await t.type(' done');
      await t.enter();
      await bye(t);
    },
  },
  {
    id: 'bash-history-up-down',
    covers: 'recalling with Up and Down, running and editing a recalled line',
    shell: 'bash',
    async run(t) {
      await t.line('echo first');
      await t.line('echo second');
      await t.line('echo third');
      await t.key('Up', 'Up');
      await t.enter();
      await t.key('Up', 'Up', 'Up', 'Down');
      await t.enter();
      await t.key('Up');
      await t.key('BSpace', 'BSpace', 'BSpace', 'BSpace', 'BSpace');
      await t.type('fourth', 'human');
      await t.enter();
      await bye(t);
    },
  },
  {
    id: 'bash-bang',
    covers: 'history expansion: !! and !$',
    shell: 'bash',
    ambiguity: 'the screen shows "!!" and "cat !$" as typed; bash prints the expansion on the next line and runs (and records) the expansion, which is the command',
    async run(t) {
      await t.line('echo bang');
      await t.line('!!');
      await t.line('ls /etc/hostname');
      await t.line('cat !$');
      await bye(t);
    },
  },
  {
    id: 'bash-ctrl-r',
    covers: 'reverse history search with Ctrl-R: run a found line, and edit one',
    shell: 'bash',
    async run(t) {
      await t.line('echo needle-in-history');
      await t.line('uptime');
      await t.key('C-r');
      await t.type('needle', 'human');
      await t.see(/reverse-i-search.*needle-in-history/);
      await t.enter();
      await t.key('C-r');
      await t.type('upt');
      await t.see(/reverse-i-search.*uptime/);
      await t.key('End');
      await t.type(' -p');
      await t.enter();
      await bye(t);
    },
  },
  {
    id: 'bash-tab-unique',
    covers: 'Tab completion with one candidate (a file, a command)',
    shell: 'bash',
    files: { 'report-2026-q3.txt': 'quarter three\n' },
    async run(t) {
      await t.type('cat rep', 'human');
      await t.key('Tab');
      await t.see(/cat report-2026-q3\.txt/);
      await t.enter();
      await t.type('whoa');
      await t.key('Tab');
      await t.see(/\$ whoami$/m);
      await t.enter();
      await bye(t);
    },
  },
  {
    id: 'bash-tab-ambiguous',
    covers: 'Tab completion with two candidates: the common prefix, Tab again until the listing shows, then a unique one',
    shell: 'bash',
    files: { 'alpha-one.log': '1\n', 'alpha-two.log': '1\n2\n' },
    async run(t) {
      await t.type('wc -l alp');
      await t.key('Tab');
      await t.see(/wc -l alpha-$/m);
      await t.tabUntil(/alpha-one\.log\s+alpha-two\.log/);
      await t.type('t');
      await t.key('Tab');
      await t.see(/wc -l alpha-two\.log/);
      await t.enter();
      await bye(t);
    },
  },
];
