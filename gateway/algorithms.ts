import type { Algorithms, ServerHostKeyAlgorithm } from 'ssh2';

/**
 * Transport algorithms, both for the front door and for airlock's own connections
 * to targets. No SHA-1 (MACs, key exchange, RSA signatures), no CBC, no 3DES.
 *
 * Terrapin (CVE-2023-48795) truncates the start of the secure channel; it works
 * only with chacha20-poly1305 or with encrypt-then-MAC modes. We offer neither:
 * AES-GCM (hardware-accelerated, fastest here) and AES-CTR with encrypt-and-MAC
 * SHA-2 HMACs are not affected. Strict key exchange is still used whenever the
 * peer offers it (ssh2 ≥ 1.15 adds kex-strict-s-v00@openssh.com itself).
 */
export const HARDENED: Algorithms = {
  kex: [
    'curve25519-sha256',
    'curve25519-sha256@libssh.org',
    'ecdh-sha2-nistp256',
    'ecdh-sha2-nistp384',
    'ecdh-sha2-nistp521',
    'diffie-hellman-group-exchange-sha256',
    'diffie-hellman-group16-sha512',
    'diffie-hellman-group18-sha512',
    'diffie-hellman-group14-sha256',
  ],
  cipher: ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'aes128-ctr', 'aes192-ctr', 'aes256-ctr'],
  hmac: ['hmac-sha2-256', 'hmac-sha2-512'],
  compress: ['none'],
};

/**
 * The front door: AES-GCM first, and AES-CTR with SHA-2 HMACs (encrypt-and-MAC,
 * never EtM) for clients without GCM, so that paramiko 2.12 (Ansible's paramiko
 * connection, Netmiko, many MSP scripts) gets in: it has neither GCM nor
 * chacha20 and no strict kex. Neither mode is open to Terrapin. The client's
 * order decides (RFC 4253 §7.1): stock OpenSSH prefers aes128-ctr to GCM once
 * chacha20 is not offered, and so does PuTTY 0.78, so the ssh_config that
 * `airlock login` writes pins GCM (cli/ssh-files.ts).
 */
export const FRONT_DOOR: Algorithms = { ...HARDENED, serverHostKey: ['ssh-ed25519'] };

/** What a client can be pinned to for the fastest path here (the ssh_config `Ciphers` line). */
export const FASTEST_CIPHERS = ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com'] as const;

/** Host key algorithms to ask a target for, so it presents the key type we pinned. */
export function hostKeyAlgorithmsFor(keyType: string): Algorithms['serverHostKey'] {
  if (keyType === 'ssh-rsa' || keyType.startsWith('rsa-sha2-')) return ['rsa-sha2-512', 'rsa-sha2-256'];
  return [keyType as ServerHostKeyAlgorithm];
}

export const TARGET_ALGORITHMS = (pinnedKeyType?: string): Algorithms => ({
  ...HARDENED,
  serverHostKey: pinnedKeyType
    ? hostKeyAlgorithmsFor(pinnedKeyType)
    : ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256'],
});
