import type { Scenario } from './scenario.js';
import { bye, PROMPT } from './scenario.js';

/**
 * Programs started from bash whose keys are not commands (vim, less, top: the
 * command that started them is), REPLs whose lines are a program's input
 * (python3, sqlite3: compared with their own histories, apart from the shell's),
 * secrets typed without echo (`read -s`, `stty -echo`, sudo and su passwords),
 * and shells started from the shell (sudo -i, su -).
 */
export const PROGRAMS: Scenario[] = [
  {
    id: 'bash-vim',
    covers: 'vim: keys typed inside it (normal mode, insert mode, :wq) are not commands; the command that started it is',
    shell: 'bash',
    files: { 'notes.txt': 'first line\nsecond line\n' },
    async run(t) {
      await t.line('vim notes.txt', { after: /"notes\.txt"/ });
      await t.unechoed('G');
      await t.unechoed('o');
      await t.see(/-- INSERT --/);
      await t.type('added in vim', 'human');
      await t.key('Escape');
      await t.type(':wq');
      await t.enter();
      await t.line('cat notes.txt');
      await bye(t);
    },
  },
  {
    id: 'bash-less',
    covers: 'less: paging and a search inside it are not commands',
    shell: 'bash',
    async run(t) {
      await t.line('less /etc/services', { after: /Network services/ });
      await t.unechoed(' ');
      await t.type('/http');
      await t.enter('none');
      await t.waitFor((s) => (s.rows[s.y] ?? '').trim() === ':', 'less to show its prompt after the search');
      await t.unechoed('q');
      await t.atPrompt();
      await t.line('echo after less');
      await bye(t);
    },
  },
  {
    id: 'bash-top',
    covers: 'top: its keys (toggle, quit) are not commands',
    shell: 'bash',
    async run(t) {
      await t.line('top -d 1', { after: /load average/ });
      await t.unechoed('1');
      await t.see(/load average/);
      await t.unechoed('q');
      await t.atPrompt();
      await t.line('echo after top');
      await bye(t);
    },
  },
  {
    id: 'bash-python-repl',
    covers: 'python3 REPL: its lines are input to python (compared with python\'s history), not shell commands',
    shell: 'bash',
    programs: ['python'],
    async run(t) {
      t.prompt = PROMPT.python;
      await t.line('python3 -q', { timeoutMs: 20_000 });
      await t.line('x = 6 * 7', { pace: 'human' });
      await t.type('print(y)');
      await t.key('BSpace', 'BSpace');
      await t.type('x)');
      await t.enter();
      await t.line('import os; os.getpid() > 0');
      t.prompt = PROMPT.bash;
      await t.line('exit()');
      await t.line('echo after python');
      await bye(t);
    },
  },
  {
    id: 'bash-sqlite-repl',
    covers: 'sqlite3 REPL: SQL typed at sqlite> is input to sqlite3 (compared with its history), not shell commands',
    shell: 'bash',
    programs: ['sqlite'],
    async run(t) {
      t.prompt = PROMPT.sqlite;
      await t.line('sqlite3');
      await t.line('create table t(a integer);');
      await t.line('insert into t values (21);', { pace: 'human' });
      await t.line('select a * 2 from t;');
      t.prompt = PROMPT.bash;
      await t.line('.quit');
      await t.line('echo after sqlite');
      await bye(t);
    },
  },
  {
    id: 'bash-read-s',
    covers: 'read -s: a value typed without echo is a secret, the commands around it are not',
    shell: 'bash',
    async run(t, ctx) {
      await t.line("read -s -p 'API token: ' tok", { after: /API token:$/m });
      await t.secret('the value typed at read -s', ctx.token('tok'));
      await t.enter();
      await t.line('echo ${#tok}');
      await bye(t);
    },
  },
  {
    id: 'bash-stty-echo',
    covers: 'stty -echo: commands typed blind ran (history has them), their text is not on screen and is a secret',
    shell: 'bash',
    ambiguity: 'the commands typed after stty -echo never show on screen: analysis can only report them as sealed (typed without echo), which is what is expected of it',
    async run(t, ctx) {
      await t.line('stty -echo');
      await t.secret('a command typed without echo', `touch .blind-${ctx.token('f')}`);
      await t.enter();
      await t.secret('a command typed without echo (stty echo)', 'stty echo', 'burst');
      await t.enter();
      await t.line('ls -a | wc -l');
      await bye(t);
    },
  },
  {
    id: 'bash-sudo-i',
    covers: 'sudo -i with a password, then commands in root\'s shell, then back',
    shell: 'bash',
    privileged: true,
    exclusive: true,
    nested: [{ opener: 'sudo -i', history: 'root.hist' }],
    async run(t, ctx) {
      await t.line('sudo -i', { after: /\[sudo\] password for/ });
      await t.secret('the sudo password', ctx.password);
      t.prompt = PROMPT.root;
      await t.enter('prompt', 90_000); // root's .bashrc runs pyenv init here (NOTES.md): slow
      await t.line('id -un');
      await t.line('ls /root > /dev/null && echo listed');
      t.prompt = PROMPT.bash;
      await t.line('exit');
      await t.line('echo back as the user');
      await bye(t);
    },
  },
  {
    id: 'bash-sudo-retry',
    covers: 'sudo for one command: a wrong password, then the right one (both secrets)',
    shell: 'bash',
    privileged: true,
    async run(t, ctx) {
      await t.line('sudo id -u', { after: /\[sudo\] password for/ });
      await t.secret('a wrong sudo password', `not-${ctx.token('pw')}`);
      await t.enter(/Sorry, try again\.\s*\n\[sudo\] password for/);
      await t.secret('the sudo password', ctx.password);
      await t.enter();
      await t.line('echo after sudo');
      await bye(t);
    },
  },
  {
    id: 'bash-su',
    covers: 'su - to a login shell with a password, commands there, exit back',
    shell: 'bash',
    privileged: true,
    nested: [{ opener: /^su - \S+$/, history: 'su.hist' }],
    ambiguity: 'the login shell reads the target user\'s own ~/.bashrc (Debian\'s skeleton: HISTCONTROL=ignoreboth), so its commands here have no duplicates or leading blanks, which that history would drop',
    async run(t, ctx) {
      await t.line(`su - ${ctx.login}`, { after: /Password:/ });
      await t.secret('the su password', ctx.password);
      await t.enter('prompt', 30_000);
      await t.line('echo in a login shell');
      await t.line('pwd');
      await t.line('exit');
      await t.line('echo back');
      await bye(t);
    },
  },
];
