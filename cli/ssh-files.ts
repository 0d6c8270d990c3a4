import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { generateEd25519 } from '../identity/index.js';
import { FASTEST_CIPHERS } from '../gateway/index.js';
import { airlockHome } from './client.js';

/**
 * What `airlock login` leaves for the OpenSSH client, under $AIRLOCK_HOME:
 * a fresh Ed25519 key pair (the private key never leaves this machine), the
 * certificate airlock signed for it, airlock's host key pinned in known_hosts,
 * and an ssh_config with one Host block per target, so `ssh -F ~/.airlock/ssh_config db01`
 * just works.
 */
export interface SshFiles {
  key: string;
  certificate: string;
  knownHosts: string;
  config: string;
}

export function newKeyPair(): { privateKey: string; publicKey: string } {
  return generateEd25519('airlock login');
}

export function writeSshFiles(options: {
  privateKey: string;
  publicKey: string;
  certificate: string;
  user: string;
  sshHost: string;
  sshPort: number;
  hostKeyLine: string;
  targets: string[];
  expiresAt: string;
}): SshFiles {
  const dir = airlockHome();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files: SshFiles = {
    key: join(dir, 'id_ed25519'),
    certificate: join(dir, 'id_ed25519-cert.pub'),
    knownHosts: join(dir, 'known_hosts'),
    config: join(dir, 'ssh_config'),
  };
  rmSync(files.key, { force: true });
  writeFileSync(files.key, options.privateKey, { mode: 0o600 });
  writeFileSync(files.key + '.pub', options.publicKey + '\n', { mode: 0o644 });
  writeFileSync(files.certificate, options.certificate + '\n', { mode: 0o644 });
  const hostPattern = options.sshPort === 22 ? options.sshHost : `[${options.sshHost}]:${options.sshPort}`;
  writeFileSync(files.knownHosts, `${hostPattern} ${options.hostKeyLine.split(/\s+/).slice(0, 2).join(' ')}\n`, { mode: 0o644 });
  const block = (alias: string, user: string) =>
    [
      `Host ${alias}`,
      `  HostName ${options.sshHost}`,
      `  Port ${options.sshPort}`,
      `  User ${user}`,
      `  IdentityFile ${files.key}`,
      `  CertificateFile ${files.certificate}`,
      '  IdentitiesOnly yes',
      '  IdentityAgent none',
      `  UserKnownHostsFile ${files.knownHosts}`,
      '  StrictHostKeyChecking yes',
      '  PreferredAuthentications publickey,keyboard-interactive',
      // Stock OpenSSH would pick aes128-ctr + HMAC here; GCM is the fast path (gateway/algorithms.ts).
      `  Ciphers ${FASTEST_CIPHERS.join(',')}`,
      '  ForwardAgent no',
      '',
    ].join('\n');
  writeFileSync(
    files.config,
    [
      `# Written by "airlock login" for ${options.user}; the certificate is valid until ${options.expiresAt}.`,
      '# Use: ssh -F ' + files.config + ' TARGET   (or "airlock" for the menu)',
      '',
      ...options.targets.map((t) => block(t, `${options.user}@${t}`)),
      block('airlock', options.user),
    ].join('\n'),
    { mode: 0o644 },
  );
  return files;
}

export function removeSshFiles(): void {
  const dir = airlockHome();
  for (const f of ['id_ed25519', 'id_ed25519.pub', 'id_ed25519-cert.pub', 'ssh_config']) rmSync(join(dir, f), { force: true });
}
