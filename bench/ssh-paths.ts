import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * How the real OpenSSH client reaches the target on each path. No config file
 * (-F /dev/null), no agent, only the key (and certificate) named, host keys
 * pinned in one known_hosts file, never a prompt. The cipher is pinned to
 * AES-128-GCM on every leg the client controls, so the paths differ only in
 * what sits between client and target (airlock's front door offers AES-GCM and
 * AES-CTR; OpenSSH would otherwise pick chacha20-poly1305 where it can).
 *
 * ProxyJump: `-J user@bastion` makes ssh run `ssh -W '[%h]:%p' user@bastion`
 * as its ProxyCommand, passing on nothing of the command line but -F (ssh.c).
 * With -F /dev/null that jump would use ~/.ssh, so the bench writes that same
 * ProxyCommand out with the same explicit options and the bastion key.
 */
export type PathName = 'direct' | 'proxyjump' | 'airlock' | 'airlock_norec';

export const CIPHER = 'aes128-gcm@openssh.com';

export interface SshPath {
  name: PathName;
  /** Everything before the remote command: options and destination. */
  args: string[];
}

export interface PathSetup {
  dir: string;
  target: { port: number; login: string; hostKey: string };
  bastion: { port: number; login: string; hostKey: string };
  /** airlock's SSH port and host key, and the certificate its CA issued. */
  airlock: { port: number; hostKey: string; cert: string };
  airlockNorec?: { port: number; hostKey: string; cert: string } | undefined;
  /** The user's own key, authorized on the target and on the bastion. */
  userKey: string;
  /** The engineer's key (each airlock certified it). */
  engineerKey: string;
  engineer: string;
  targetName: string;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function buildPaths(s: PathSetup): Record<PathName, SshPath> {
  const knownHosts = join(s.dir, 'known_hosts');
  const entries = [
    `[127.0.0.1]:${s.target.port} ${s.target.hostKey}`,
    `[127.0.0.1]:${s.bastion.port} ${s.bastion.hostKey}`,
    `[127.0.0.1]:${s.airlock.port} ${s.airlock.hostKey}`,
    ...(s.airlockNorec ? [`[127.0.0.1]:${s.airlockNorec.port} ${s.airlockNorec.hostKey}`] : []),
  ];
  writeFileSync(knownHosts, entries.join('\n') + '\n');
  const common = [
    '-F', '/dev/null',
    '-o', `UserKnownHostsFile=${knownHosts}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'UpdateHostKeys=no',
    '-o', 'IdentitiesOnly=yes',
    '-o', 'IdentityAgent=none',
    '-o', 'BatchMode=yes',
    '-o', 'PreferredAuthentications=publickey',
    '-o', `Ciphers=${CIPHER}`,
    '-o', 'ControlMaster=no',
    '-o', 'ControlPath=none',
    '-o', 'ConnectTimeout=30',
    '-o', 'LogLevel=ERROR',
  ];
  const jump = ['ssh', ...common, '-i', s.userKey, '-p', String(s.bastion.port), '-W', '[%h]:%p', `${s.bastion.login}@127.0.0.1`].map(q).join(' ');
  // ssh expands %h and %p inside the quotes; the shell then removes the quotes.
  const viaAirlock = (a: { port: number; cert: string }): string[] => [
    ...common,
    '-i', s.engineerKey,
    '-o', `CertificateFile=${a.cert}`,
    '-p', String(a.port),
    `${s.engineer}@${s.targetName}@127.0.0.1`,
  ];
  const paths: Record<PathName, SshPath> = {
    direct: { name: 'direct', args: [...common, '-i', s.userKey, '-p', String(s.target.port), `${s.target.login}@127.0.0.1`] },
    proxyjump: {
      name: 'proxyjump',
      args: [...common, '-i', s.userKey, '-o', `ProxyCommand=${jump}`, '-p', String(s.target.port), `${s.target.login}@127.0.0.1`],
    },
    airlock: { name: 'airlock', args: viaAirlock(s.airlock) },
    airlock_norec: { name: 'airlock_norec', args: s.airlockNorec ? viaAirlock(s.airlockNorec) : [] },
  };
  return paths;
}

/** A clean environment for ssh: no agent, no askpass, nothing from the caller's SSH settings. */
export function sshEnv(home: string): NodeJS.ProcessEnv {
  return { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, LANG: 'C' };
}
