import { createPrivateKey, sign as edSign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import ssh2 from 'ssh2';
import type { ClientChannel, ConnectConfig, ParsedKey } from 'ssh2';
import { wireString as str } from '../identity/index.js';

/**
 * An ssh2 client that logs in to airlock with an OpenSSH user certificate, so
 * the concurrent-sessions figure does not need a thousand `ssh` processes on a
 * two-core machine. ssh2 cannot load certificates (mscdex/ssh2#551): a parsed
 * Ed25519 key is given the certificate's type and public blob, and signs with
 * the certificate's private key. ssh2 wraps a signature in the key type's name
 * (which airlock strips); inside goes the "ssh-ed25519" wrapper OpenSSH sends
 * (PROTOCOL.certkeys), as test/helpers/cert-tools.ts does.
 */
export interface CertIdentity {
  /** ssh2's parsed key, dressed as the certificate. */
  key: ParsedKey;
}

export function certIdentity(privateKeyText: string, certificateLine: string): CertIdentity {
  const parsed = ssh2.utils.parseKey(privateKeyText);
  if (parsed instanceof Error || Array.isArray(parsed)) throw new Error('cannot parse the engineer key');
  const signer: KeyObject = createPrivateKey(parsed.getPrivatePEM());
  const [type, b64] = certificateLine.trim().split(/\s+/);
  if (type !== 'ssh-ed25519-cert-v01@openssh.com' || !b64) throw new Error('not an Ed25519 certificate line');
  const blob = Buffer.from(b64, 'base64');
  const key = Object.create(parsed) as ParsedKey;
  Object.assign(key, {
    type,
    getPublicSSH: () => blob,
    isPrivateKey: () => true,
    sign: (data: Buffer) => Buffer.concat([str('ssh-ed25519'), str(edSign(null, data, signer))]),
  });
  return { key };
}

export interface OpenSession {
  client: ssh2.Client;
  channel: ClientChannel;
}

/** Logs in as `username` (user@target) and runs `command` on a pty; resolves once the channel is open. */
export function openPtySession(port: number, hostKey: string, username: string, id: CertIdentity, command: string, timeoutMs: number): Promise<OpenSession> {
  const pinned = Buffer.from(hostKey.split(/\s+/)[1] ?? '', 'base64');
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.end();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error('timed out opening the session')), timeoutMs);
    let offered = false;
    client.on('error', fail);
    client.on('close', () => fail(new Error('connection closed before the session opened')));
    client.on('ready', () => {
      (client as unknown as { _sock?: { setNoDelay?: (v: boolean) => void } })._sock?.setNoDelay?.(true);
      client.exec(command, { pty: { rows: 40, cols: 120, term: 'xterm' } }, (err, channel) => {
        if (err) return fail(err);
        settled = true;
        clearTimeout(timer);
        resolve({ client, channel });
      });
    });
    client.connect({
      host: '127.0.0.1',
      port,
      username,
      algorithms: { cipher: ['aes128-gcm@openssh.com'] },
      authHandler: (methods, _partial, next) => {
        if (!methods) return next({ type: 'none', username });
        if (offered || !methods.includes('publickey')) return next(false as never);
        offered = true;
        next({ type: 'publickey', username, key: id.key });
      },
      hostVerifier: (key: Buffer) => key.equals(pinned),
      readyTimeout: timeoutMs,
      keepaliveInterval: 0,
    } as ConnectConfig);
  });
}
