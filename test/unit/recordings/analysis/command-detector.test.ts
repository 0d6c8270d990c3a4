import { describe, it, expect } from 'vitest';
import { REDACTED } from '../../../../recordings/redactor.js';
import { analyse, COLOUR_PROMPT, eventAt, expectLineStart, PROMPT, Session, texts, VIM_CLOSE, VIM_OPEN } from './helpers.js';
import type { Order } from './helpers.js';

describe.each<Order>(['echo-first', 'key-first'])('commands typed at a prompt (%s)', (order) => {
  const session = (options: { cols?: number; rows?: number } = {}): Session => new Session({ ...options, order }).out('Last login: Mon Jan  1 10:00:00 2024\r\n' + PROMPT);

  it('reads each command line as the terminal shows it, without the prompt', async () => {
    const s = session()
      .run('whoami', 'user\r\n')
      .run('uname -a', 'Linux db01 6.1.0-18-amd64 #1 SMP x86_64 GNU/Linux\r\n')
      .run('  cat /etc/os-release  ', 'PRETTY_NAME="Debian GNU/Linux 12"\r\n');
    const r = await analyse(s);
    expect(r.kind).toBe('terminal');
    expect(texts(r)).toEqual(['whoami', 'uname -a', 'cat /etc/os-release']);
    expect(r.commands.map((c) => c.seq)).toEqual([0, 1, 2]);
  });

  it('points each command at the event line of its Enter key, with its time', async () => {
    const s = session().run('ls', 'a  b\r\n').run('df -h', 'Filesystem Size\r\n');
    const bytes = s.bytes();
    const r = await analyse(bytes);
    expect(r.commands).toHaveLength(2);
    for (const c of r.commands) {
      expectLineStart(bytes, c.castOffset);
      const [t, code, data] = eventAt(bytes, c.castOffset);
      expect(code).toBe('i');
      expect(data).toBe('\r');
      expect(c.t).toBe(t);
    }
  });

  it('follows backspace', async () => {
    const s = session().type('ls -la /tmq').press('\x7f', '\b \b').type('p').enter('total 0\r\n');
    expect(texts(await analyse(s))).toEqual(['ls -la /tmp']);
  });

  it('follows Ctrl-U, which discards what was typed', async () => {
    const s = session().type('rm -rf /').press('\x15', '\b'.repeat(8) + '\x1b[K').type('ls').enter('a  b\r\n');
    const r = await analyse(s);
    expect(texts(r)).toEqual(['ls']);
    expect(r.commands[0]?.risks).toEqual([]);
  });

  it('follows the arrow keys and a character inserted in the middle', async () => {
    // readline echoes an inserted character with the rest of the line, then moves back.
    const s = session().type('echo helo').press('\x1b[D', '\b').press('l', 'lo\b').enter('hello\r\n');
    expect(texts(await analyse(s))).toEqual(['echo hello']);
  });

  it('follows tab completion', async () => {
    const s = session().type('cat /etc/hos').press('\t', 'ts ').enter('127.0.0.1 localhost\r\n');
    expect(texts(await analyse(s))).toEqual(['cat /etc/hosts']);
  });

  it('reads a command recalled from history, which only the echo shows', async () => {
    const s = session()
      .run('systemctl status nginx', 'active (running)\r\n')
      .press('\x1b[A', 'systemctl status nginx')
      .enter('active (running)\r\n')
      // Recalled over something typed: readline moves back, redraws and erases the rest.
      .type('xy')
      .press('\x1b[A', '\b\bsystemctl status nginx\x1b[K')
      .press('\x1b[A', '\b'.repeat(22) + 'uptime\x1b[K')
      .enter(' 10:00:00 up 3 days\r\n');
    expect(texts(await analyse(s))).toEqual(['systemctl status nginx', 'systemctl status nginx', 'uptime']);
  });

  it('reads a command accepted from reverse history search', async () => {
    const s = session()
      .run('ssh db02', 'db02$ exit\r\n')
      .press('\x12', "\r\x1b[K(reverse-i-search)`': ")
      .press('s', "\r(reverse-i-search)`s': ssh db02\x1b[K")
      .press('s', "\r(reverse-i-search)`ss': ssh db02\x1b[K")
      .key('\r')
      .out(`\r\x1b[K${PROMPT}ssh db02\r\ndb02$ `);
    expect(texts(await analyse(s))).toEqual(['ssh db02', 'ssh db02']);
  });

  it('reads a command wrapped over two rows', async () => {
    const long = 'find /var/www/html -type f -name "*.php" -newer /var/www/html/index.php -exec ls -la {} +';
    expect(PROMPT.length + long.length).toBeGreaterThan(80);
    const s = session().run(long, './wp-config.php\r\n');
    expect(texts(await analyse(s))).toEqual([long]);
  });

  it('reads a wrapped command typed on the last row, while the screen scrolls', async () => {
    const long = 'tar czf /tmp/backup-$(date +%F).tar.gz /etc /var/lib/postgresql/15/main --exclude="*.tmp"';
    const listing = Array.from({ length: 40 }, (_, i) => `line ${i}\r\n`).join('');
    const s = session({ rows: 10 }).run('seq 40', listing).run(long, 'tar: Removing leading `/\'\r\n').run('echo done', 'done\r\n');
    expect(texts(await analyse(s))).toEqual(['seq 40', long, 'echo done']);
  });

  it('reads commands after `clear` and after Ctrl-L pressed while typing', async () => {
    const s = session()
      .run('clear', '\x1b[H\x1b[2J\x1b[3J')
      .type('ls -l')
      .press('\x0c', `\x1b[H\x1b[2J${PROMPT}ls -l`)
      .type('a')
      .enter('total 0\r\n');
    expect(texts(await analyse(s))).toEqual(['clear', 'ls -la']);
  });

  it('skips empty lines and lines abandoned with Ctrl-C', async () => {
    const s = session()
      .enter()
      .enter()
      .type('rm -rf /opt/app')
      .press('\x03', `^C\r\n${PROMPT}`)
      .run('ls /opt', 'app\r\n');
    expect(texts(await analyse(s))).toEqual(['ls /opt']);
  });

  it('leaves out a password typed without echo, and reads the command that asked for it', async () => {
    const s = session()
      .run('sudo systemctl restart nginx', '[sudo] password for user: ', '')
      .key(REDACTED)
      .key(REDACTED)
      .key('\r')
      .out('\r\n' + PROMPT)
      .run('id', 'uid=1000(user)\r\n');
    const r = await analyse(s);
    expect(texts(r)).toEqual(['sudo systemctl restart nginx', 'id']);
    expect(r.commands.some((c) => c.text.includes('redacted'))).toBe(false);
  });

  it('leaves out a password typed at sudo, whose keys come before the output that follows them', async () => {
    const s = session()
      .run('sudo -k apt-get update', '[sudo] password for user: ', '')
      .key(REDACTED)
      .key('\r')
      .out('\r\nHit:1 http://deb.debian.org/debian bookworm InRelease\r\n' + PROMPT)
      .run('apt list --upgradable', 'Listing... Done\r\n');
    const r = await analyse(s);
    expect(texts(r)).toEqual(['sudo -k apt-get update', 'apt list --upgradable']);
    expect(r.commands.every((c) => c.context === 'shell' && !c.sealed)).toBe(true);
  });

  it('records a line typed without echo at a shell prompt (after stty -echo) as sealed and flagged', async () => {
    const s = session()
      .run('stty -echo', '')
      .key(REDACTED)
      .key('\r')
      .out('uid=1000(user)\r\n' + PROMPT)
      .run('ls', 'a  b\r\n');
    const r = await analyse(s);
    expect(r.commands.map((c) => [c.text, c.sealed, c.risks.map((x) => x.rule)])).toEqual([
      ['stty -echo', false, []],
      ['', true, ['hidden-input']],
      ['ls', false, []],
    ]);
  });

  it('labels lines typed into a program (python3, sqlite3) as input to it, not shell commands', async () => {
    const s = session()
      .run('python3 -q', '', '>>> ')
      .run('import os', '', '>>> ')
      .run('exit()', '', PROMPT)
      .run('sqlite3 /tmp/x.db', 'SQLite version 3.40.1\r\n', 'sqlite> ')
      .run('select 1;', '1\r\n', 'sqlite> ')
      .run('.quit', '', PROMPT)
      .run('ls', 'x.db\r\n');
    const r = await analyse(s);
    expect(r.commands.map((c) => [c.text, c.context])).toEqual([
      ['python3 -q', 'shell'],
      ['import os', 'program'],
      ['exit()', 'program'],
      ['sqlite3 /tmp/x.db', 'shell'],
      ['select 1;', 'program'],
      ['.quit', 'program'],
      ['ls', 'shell'],
    ]);
  });

  it('reads the command that starts a full-screen program, and nothing typed inside it', async () => {
    const s = session()
      .run('vim /etc/hosts', VIM_OPEN, '')
      .key(REDACTED) // `i`: vim does not echo it, so the recorder hides it
      .press('1', '\x1b[4;1H1')
      .press('0', '0')
      .press('\x1b', '\x1b[24;1H\x1b[K')
      .press(':', '\x1b[24;1H:')
      .type('wq')
      .key('\r')
      .out('\x1b[24;1H"/etc/hosts" 4L, 61B written' + VIM_CLOSE + PROMPT)
      .run('ls', 'hosts\r\n');
    expect(texts(await analyse(s))).toEqual(['vim /etc/hosts', 'ls']);
  });

  it('starts a new line when a full-screen program left without an Enter (less, q)', async () => {
    const s = session()
      .run('less /var/log/syslog', '\x1b[?1049h\x1b[22;0;0t\x1b[?1h\x1b=\rJan  1 10:00:00 db01 systemd[1]: Started.\r\n:', '')
      .key('q')
      .out('\r\x1b[K\x1b[?1l\x1b>\x1b[?1049l\x1b[23;0;0t' + PROMPT)
      .run('pwd', '/home/user\r\n');
    expect(texts(await analyse(s))).toEqual(['less /var/log/syslog', 'pwd']);
  });

  it('reads a line with a coloured prompt, and wide characters', async () => {
    const s = new Session({ order }).out(COLOUR_PROMPT).run('echo 日本語 ok', '日本語 ok\r\n', COLOUR_PROMPT).run('ls', '\x1b[0m\x1b[01;34mbin\x1b[0m\r\n', COLOUR_PROMPT);
    expect(texts(await analyse(s))).toEqual(['echo 日本語 ok', 'ls']);
  });

  it('reads commands after the terminal was resized', async () => {
    const long = 'rsync -avz --delete /srv/data/ backup@10.0.0.9:/backups/db01/data/ --exclude cache --bwlimit=5000';
    const s = session().run('ls', 'a\r\n').event('r', '120x40').run(long, 'sent 1,024 bytes\r\n').event('r', '60x20').run(long, 'sent 1,024 bytes\r\n');
    const r = await analyse(s);
    expect(texts(r)).toEqual(['ls', long, long]);
    expect(r.commands[1]?.risks.map((x) => x.rule)).toEqual(['data-copy-out']);
  });
});

describe('commands: pastes', () => {
  it('reads a pasted line whose Enter came in the same chunk, echoed before it (as the recorder writes it)', async () => {
    const s = new Session().out(PROMPT).out('ls -la /var/log\r\n').key('ls -la /var/log\r').out('total 0\r\n' + PROMPT);
    expect(texts(await analyse(s))).toEqual(['ls -la /var/log']);
  });

  it('reads a pasted line followed by a separate Enter, in either order', async () => {
    for (const order of ['echo-first', 'key-first'] as const) {
      const s = new Session({ order }).out(PROMPT).press('\x1b[200~df -h /\x1b[201~', 'df -h /').enter('/dev/sda1 20G\r\n');
      expect(texts(await analyse(s))).toEqual(['df -h /']);
    }
  });

  it('reads a pasted line whose Enter came in the same chunk before its echo (key first)', async () => {
    const s = new Session({ order: 'key-first' }).out(PROMPT).key('ls -la /var/log\r').out('ls -la /var/log').out('\r\ntotal 0\r\n' + PROMPT);
    expect(texts(await analyse(s))).toEqual(['ls -la /var/log']);
  });

  it('reads a line whose last keys were echoed only after the Enter key (key first, a slow link)', async () => {
    const s = new Session({ order: 'key-first' }).out(PROMPT).key('d').out('d').key('f').key('\r').out('f\r\nFilesystem\r\n' + PROMPT);
    expect(texts(await analyse(s))).toEqual(['df']);
  });

  it('reads only the first line of a multi-line paste (the screen does not show the rest yet)', async () => {
    const s = new Session().out(PROMPT).out('echo one\r\n').key('echo one\recho two\r').out(`one\r\n${PROMPT}echo two\r\ntwo\r\n${PROMPT}`);
    expect(texts(await analyse(s))).toEqual(['echo one']);
  });
});

describe('lines typed ahead of their echo (the recorder writes keys first)', () => {
  const session = (): Session => new Session({ order: 'key-first' }).out(PROMPT);

  it('reads every line of a paste of several, each at the prompt that shows it', async () => {
    // What the airlock recorder writes for a plain paste of three lines: one input
    // frame per line, all before the output; bash then runs them one by one.
    const s = session()
      .key('echo one\r')
      .key('echo two\r', 0)
      .key('echo three\r', 0)
      .out('echo one\r\none\r\n' + PROMPT + 'echo two\r\ntwo\r\n' + PROMPT + 'echo three\r\nthree\r\n' + PROMPT)
      .run('ls', 'a  b\r\n');
    expect(texts(await analyse(s))).toEqual(['echo one', 'echo two', 'echo three', 'ls']);
  });

  it('drops a line typed ahead whose prompt never shows it, rather than guess', async () => {
    const s = session().key('sleep 1\r').key('whoami\r', 0).out('sleep 1\r\n');
    expect(texts(await analyse(s))).toEqual(['sleep 1']);
  });
});
