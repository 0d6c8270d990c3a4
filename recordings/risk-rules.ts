/**
 * Commands a security reviewer of a vendor's session wants to see first: each rule
 * is one regular expression over the command line as the terminal showed it, with
 * a reason in plain words. The rules flag, they do not judge: `rm -rf ./build`
 * is flagged (medium) as well as `rm -rf /etc` (high), and a command that merely
 * mentions a pattern (`echo rm -rf /`) is flagged too.
 *
 * Cost: every unbounded run in a pattern starts at a command word (found by a
 * one-character look-behind) and stops at the end of the simple command (`;`,
 * `&`, `|`, newline) or line, so a pattern costs about the line's length per
 * command word it anchors on; long pastes are checked in part (see risksOf()).
 */
export interface Risk {
  rule: string;
  reason: string;
  severity: 'high' | 'medium';
}

export interface RiskRule {
  id: string;
  pattern: RegExp;
  reason: string;
  severity: 'high' | 'medium';
}

/**
 * `name` as a command word: at the start of a command (or an argument, as after
 * sudo), possibly as /usr/bin/name, and not part of a longer word, a file name
 * (/etc/passwd is no `passwd`) or an option.
 */
function cmd(name: string): string {
  return `(?<![^\\s;&|(\`])(?:[\\w.~-]*/s?bin/)?(?:${name})(?=$|[\\s;&|)\`])`;
}

/** The rest of the same simple command. */
const SEG = '[^;&|\\n]*';
/** Up to the end of the line: pipelines included. */
const LINE = '[^\\n]*';
/** A word boundary on the right that also ends at options and paths. */
const END = '(?=$|[\\s;&|)\'"`])';

/** `rm` given -r/-R/--recursive. */
const RM_RECURSIVE = `${cmd('rm')}(?=${SEG}\\s-(?:-recursive\\b|[a-zA-Z]*[rR]))`;
const RM_FORCE = `(?=${SEG}\\s-(?:-force\\b|[a-zA-Z]*f))`;
/** The root, a top-level system directory (or everything in it), /var/log, or the home directory. */
const SYSTEM_PATH =
  `["']?(?:/(?:(?:bin|boot|dev|etc|home|lib|lib32|lib64|opt|root|sbin|srv|usr|var|var/log)/?)?\\*?|~/?\\*?|\\$\\{?HOME\\}?/?\\*?)["']?${END}`;
/** A shell or script interpreter as a command word (possibly run by sudo, or by path). */
const SHELL = `(?<![^\\s;&|(\`])(?:sudo\\s+(?:-\\S+\\s+)*)?(?:[\\w.~-]*/)?(?:(?:ba|z|k|da|fi)?sh|python[0-9.]*|perl|ruby|php|node)${END}`;
const SECURITY_SERVICES =
  'auditd|rsyslog|syslog|syslog-ng|systemd-journald|journald|firewalld|ufw|iptables|nftables|apparmor|selinux|fail2ban|sshguard|falcon-sensor|wazuh-agent|ossec|osqueryd|clamav-daemon|aide';

function rule(id: string, severity: 'high' | 'medium', reason: string, pattern: string): RiskRule {
  return { id, severity, reason, pattern: new RegExp(pattern) };
}

export const RISK_RULES: readonly RiskRule[] = Object.freeze([
  // Destruction
  rule('recursive-delete-system', 'high', 'recursively deletes the root, a system directory or a home directory',
    `${RM_RECURSIVE}(?=${SEG}\\s(?:--no-preserve-root\\b|${SYSTEM_PATH}))`),
  rule('recursive-delete', 'medium', 'recursively force-deletes files',
    `${RM_RECURSIVE}${RM_FORCE}(?!${SEG}\\s(?:--no-preserve-root\\b|${SYSTEM_PATH}))`),
  rule('disk-wipe', 'high', 'overwrites or reformats a disk device',
    `${cmd('dd')}(?=${SEG}\\sof=/dev/(?!null\\b|zero\\b|stdout\\b|stderr\\b|tty\\b))` +
      `|${cmd('mkfs(?:\\.\\w+)?|mke2fs|mkswap|wipefs')}` +
      `|${cmd('shred')}(?=${SEG}\\s/dev/)` +
      `|>\\s*/dev/(?:sd[a-z]|nvme\\d|xvd[a-z]|vd[a-z]|hd[a-z]|mmcblk\\d|dm-\\d|md\\d)`),
  rule('file-shred', 'medium', 'securely erases files so that they cannot be recovered',
    `${cmd('shred|srm')}(?!${SEG}\\s/dev/)`),
  // Covering tracks
  rule('history-tampering', 'high', 'clears or disables the shell history',
    `${cmd('history')}\\s+-[a-zA-Z]*[cd]\\b` +
      `|${cmd('unset')}${SEG}\\bHIST(?:FILE|SIZE|FILESIZE)\\b` +
      `|\\bHIST(?:FILE)?SIZE=["']?0\\b|\\bHISTFILE=(?:["']?/dev/null|["']{2}|$|\\s)` +
      `|${cmd('set')}\\s+\\+o\\s+history\\b` +
      `|(?:${cmd('rm|shred|truncate|unlink|ln')}${SEG}[\\s/'"=]|>\\s*(?:[^\\s;&|]*/)?)\\.(?:bash_|zsh_|sh_)?history\\b`),
  rule('log-wipe', 'high', 'deletes or empties system logs',
    `(?:${cmd('rm|shred|truncate|unlink')}${SEG}\\s|>\\s*)["']?/var/log/` + `|${cmd('journalctl')}${SEG}\\s--vacuum-`),
  rule('security-disabled', 'high', 'turns off a security control, auditing or logging',
    `${cmd('setenforce')}\\s+(?:0|[Pp]ermissive)\\b` +
      `|${cmd('systemctl')}${SEG}\\s(?:stop|disable|mask|kill)\\s${SEG}\\b(?:${SECURITY_SERVICES})(?:\\.service)?${END}` +
      `|${cmd('service')}\\s+(?:${SECURITY_SERVICES})\\s+stop\\b` +
      `|${cmd('auditctl')}\\s+(?:-e\\s*0|-D)\\b` +
      `|${cmd('ufw')}\\s+disable\\b`),
  rule('firewall-flushed', 'high', 'removes all firewall rules',
    `${cmd('ip6?tables(?:-legacy|-nft)?')}${SEG}\\s(?:-[a-zA-Z]*F|--flush)\\b|${cmd('nft')}\\s+flush\\s+ruleset\\b`),
  // Privilege
  rule('root-shell', 'medium', 'opens a root shell',
    // Not `curl … | sudo bash`: that runs a script (remote-code), it opens no shell.
    `(?<!\\|\\s{0,4})${cmd('sudo')}\\s+(?:-u\\s+\\S+\\s+)?(?:-[a-zA-Z]*[is][a-zA-Z]*|su|bash|sh|zsh)${END}` + `|${cmd('su')}(?=$|\\s*[;&|]|\\s+-|\\s+root\\b)`),
  rule('world-writable', 'medium', 'makes files writable by every user',
    `${cmd('chmod')}${SEG}\\s(?:[0-7]?[0-7]{2}[2367]|[ugoa]*[oa][ugoa]*\\+[rwxXst]*w[rwxXst]*)${END}`),
  rule('setuid', 'high', 'sets the set-user-ID or set-group-ID bit, letting a program run with its owner\'s rights',
    `${cmd('chmod')}${SEG}\\s(?:[ugoa]*\\+[rwxt]*s|0?[2-7][0-7]{3})${END}`),
  rule('admin-group', 'high', 'adds a user to an administrators group',
    `${cmd('usermod')}${SEG}\\s-[a-zA-Z]*G\\s*\\S*\\b(?:sudo|wheel|admin|root|adm)\\b` +
      `|${cmd('gpasswd')}${SEG}\\s-a\\s+\\S+\\s+(?:sudo|wheel|admin|root)${END}` +
      `|${cmd('adduser')}\\s+\\S+\\s+(?:sudo|wheel|admin|root)${END}`),
  rule('password-change', 'medium', 'changes or removes a password', `(?<!\\b(?:getent|man|which|type)\\s{1,4})${cmd('passwd|chpasswd')}`),
  rule('sudoers-edit', 'high', 'edits who may use sudo',
    `${cmd('visudo')}|(?:${cmd('vi|vim|nvim|nano|emacs|ed|tee|cp|mv|sed\\s+-i\\S*')}${SEG}|>>?\\s*)\\s*/etc/sudoers`),
  rule('password-file', 'high', 'reads or edits password hashes or the account database',
    `/etc/(?:shadow|gshadow)\\b|(?:${cmd('vi|vim|nvim|nano|emacs|ed|tee|cp|mv|vipw|sed\\s+-i\\S*')}${SEG}|>>?\\s*)\\s*/etc/(?:passwd|group)\\b|${cmd('vipw|vigr')}`),
  rule('user-management', 'medium', 'creates or deletes a user account or group',
    `${cmd('useradd|adduser|userdel|deluser|groupadd|groupdel|newusers')}`),
  // Code and data moving in or out
  rule('remote-code', 'high', 'downloads code and runs it straight away',
    `${cmd('curl|wget|fetch')}${LINE}\\|\\s*(?:${SHELL})` +
      `|(?:${SHELL})\\s+<\\(\\s*(?:curl|wget)\\b` +
      `|(?:${cmd('eval')}|-c)\\s+["']?\\$\\(\\s*(?:curl|wget)\\b` +
      `|${cmd('base64')}${SEG}\\s(?:-d|--decode|-D)\\b${LINE}\\|\\s*(?:${SHELL})`),
  rule('data-copy-out', 'medium', 'copies files to or from another host',
    `${cmd('scp|sftp')}${SEG}\\s(?:[\\w.-]+@)?[\\w.-]+:` + `|${cmd('rsync')}${SEG}\\s(?:(?:[\\w.-]+@)?[\\w.-]+::?|rsync://)`),
  rule('data-upload', 'high', 'uploads data to another host',
    `${cmd('curl')}${SEG}\\s(?:-T|--upload-file|-F\\s*\\S*=@|--form\\s+\\S*=@|--data(?:-binary|-raw)?\\s+@|-d\\s*@)` +
      `|${cmd('wget')}${SEG}\\s--post-file\\b` +
      `|\\|\\s*(?:sudo\\s+)?(?:ssh|nc|ncat|netcat|socat)${END}` +
      `|${cmd('nc|ncat|netcat')}${SEG}<\\s*\\S`),
  rule('reverse-shell', 'high', 'opens a shell for a remote host (reverse shell)',
    `${cmd('nc|ncat|netcat')}${SEG}\\s-[a-zA-Z]*[ec]\\s` +
      `|/dev/(?:tcp|udp)/` +
      `|${cmd('socat')}${SEG}\\b(?:exec|system):` +
      `|\\bpty\\.spawn\\(` +
      `|${cmd('mkfifo')}${LINE}\\b(?:nc|ncat|netcat)\\b`),
  rule('cron-removed', 'high', 'removes every scheduled job of a user', `${cmd('crontab')}${SEG}\\s-[a-zA-Z]*r\\b`),
  rule('cron-edit', 'medium', 'changes scheduled jobs (a way to stay on the machine)',
    `${cmd('crontab')}${SEG}\\s(?:-[a-zA-Z]*e\\b|-\\s*$|(?!-)\\S+\\s*$)` +
      `|(?:${cmd('vi|vim|nvim|nano|emacs|tee|cp|mv')}${SEG}|>>?\\s*)\\s*/(?:etc/cron|var/spool/cron)`),
  rule('ssh-key-planted', 'high', 'adds a key that lets someone log in over SSH',
    `(?:>>?\\s*|${cmd('tee|cp|mv|vi|vim|nvim|nano|emacs|ed|sed\\s+-i\\S*')}${SEG}\\s)["']?\\S*authorized_keys2?\\b`),
  rule('kernel-module', 'high', 'loads or removes a kernel module',
    `${cmd('insmod|rmmod')}|${cmd('modprobe')}${SEG}\\s(?:-r|--remove)\\b`),
  rule('shutdown', 'high', 'shuts down or restarts the machine',
    `${cmd('shutdown|reboot|halt|poweroff')}|${cmd('init|telinit')}\\s+[06]${END}|${cmd('systemctl')}\\s+(?:reboot|poweroff|halt|kexec)\\b`),
]);

/**
 * A longer line (a paste) is checked in its first and its last 8 KiB: the rules
 * look ahead to the end of a command, so checking costs grow faster than the
 * length, and a command line a person reads is far shorter.
 */
const MAX_CHECKED = 16 * 1024;

/** The rules a command line matches, in the order of RISK_RULES. */
export function risksOf(command: string): Risk[] {
  const parts = command.length > MAX_CHECKED ? [command.slice(0, MAX_CHECKED / 2), command.slice(-MAX_CHECKED / 2)] : [command];
  const risks: Risk[] = [];
  for (const r of RISK_RULES) {
    if (parts.some((p) => r.pattern.test(p))) risks.push({ rule: r.id, reason: r.reason, severity: r.severity });
  }
  return risks;
}
