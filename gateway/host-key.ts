import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { AirlockError } from '../core/index.js';
import { generateEd25519, sshFingerprint } from '../identity/index.js';

/**
 * airlock's own SSH host key: Ed25519, generated once, kept in the data directory
 * (mode 0600) so clients can pin it. Its fingerprint is printed at start and
 * shown by `airlock status`.
 */
export interface HostKey {
  /** OpenSSH private key text, as ssh2's Server takes it. */
  privateKey: string;
  publicKeyLine: string;
  fingerprint: string;
  path: string;
}

export function loadOrCreateHostKey(dataDir: string): HostKey {
  const path = join(dataDir, 'ssh_host_ed25519_key');
  if (!existsSync(path)) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const pair = generateEd25519('airlock host key');
    writeFileSync(path, pair.privateKey, { mode: 0o600, flag: 'wx' });
    writeFileSync(path + '.pub', pair.publicKey + '\n', { mode: 0o644 });
  }
  const privateKey = readFileSync(path, 'utf8');
  const parsed = ssh2.utils.parseKey(privateKey);
  if (parsed instanceof Error) throw new AirlockError('ERR_CONFIG_INVALID', `ssh host key ${path}: ${parsed.message}`);
  const blob = parsed.getPublicSSH();
  return {
    privateKey,
    publicKeyLine: `${parsed.type} ${blob.toString('base64')}`,
    fingerprint: sshFingerprint(blob),
    path,
  };
}
