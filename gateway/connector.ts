import { Client } from 'ssh2';
import type { ConnectConfig } from 'ssh2';
import { AirlockError } from '../core/index.js';
import type { Target, TargetSecret } from '../approvals/index.js';
import { TARGET_ALGORITHMS } from './algorithms.js';
import { parsePublicKeyLine, publicKeyLine, sshFingerprint as fingerprint } from '../identity/index.js';

/**
 * airlock's own connection to a target: the credential comes from the vault and
 * never reaches the engineer; the target's host key must equal the pinned one
 * (a mismatch is refused, never "accepted and remembered"); the engineer's agent
 * is never forwarded. Failures are AirlockErrors whose code says which
 * (ERR_HOST_KEY_UNPINNED, ERR_HOST_KEY_MISMATCH, ERR_TARGET_AUTH_FAILED,
 * ERR_TARGET_TIMEOUT, ERR_TARGET_UNREACHABLE); their messages are for the engineer.
 */
export type HostKeyMismatch = { expected: string; presented: string };

export interface ConnectOptions {
  target: Target;
  login: string;
  secret: TargetSecret;
  timeoutMs: number;
  keepaliveIntervalMs?: number;
}

export function connectTarget(options: ConnectOptions): Promise<Client> {
  const { target, login, secret } = options;
  if (!target.hostKey) {
    return Promise.reject(
      new AirlockError('ERR_HOST_KEY_UNPINNED', `the host key of ${target.name} is not pinned: an admin must confirm it (airlock target scan ${target.name} --accept)`),
    );
  }
  const pinned = parsePublicKeyLine(target.hostKey);
  let mismatch: HostKeyMismatch | undefined;
  const config: ConnectConfig = {
    host: target.host,
    port: target.port,
    username: login,
    algorithms: TARGET_ALGORITHMS(pinned.algo),
    readyTimeout: options.timeoutMs,
    keepaliveInterval: options.keepaliveIntervalMs ?? 15_000,
    keepaliveCountMax: 4,
    // tryKeyboard off: only the stored credential is used, never a prompt.
    tryKeyboard: false,
    hostVerifier: (key: Buffer) => {
      if (key.equals(pinned.blob)) return true;
      mismatch = { expected: fingerprint(pinned.blob), presented: fingerprint(key) };
      return false;
    },
    ...(secret.kind === 'key' ? { privateKey: secret.secret } : { password: secret.secret }),
  };
  return new Promise((resolve, reject) => {
    const client = new Client();
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      client.end();
      if (mismatch) {
        reject(new AirlockError('ERR_HOST_KEY_MISMATCH', `the host key of ${target.name} changed: refusing to connect`, { cause: err, details: { ...mismatch } }));
      } else if (/authentication methods failed/i.test(err.message)) {
        reject(new AirlockError('ERR_TARGET_AUTH_FAILED', `airlock could not log in to ${target.name} as ${login}`, { cause: err }));
      } else if (/timed out/i.test(err.message)) {
        reject(new AirlockError('ERR_TARGET_TIMEOUT', `${target.name} did not answer in time`, { cause: err }));
      } else {
        reject(new AirlockError('ERR_TARGET_UNREACHABLE', `cannot reach ${target.name}`, { cause: err, details: { error: err.message } }));
      }
    };
    client.once('ready', () => {
      settled = true;
      // Nagle off on the target leg: keystrokes must not wait for ACKs (NOTES.md).
      (client as unknown as { _sock?: { setNoDelay?: (v: boolean) => void } })._sock?.setNoDelay?.(true);
      resolve(client);
    });
    client.once('error', fail);
    client.once('close', () => fail(new Error('connection closed during handshake')));
    client.connect(config);
  });
}

/** Fetches the host key a target presents, for an admin to confirm and pin. */
export function scanHostKey(host: string, port: number, timeoutMs = 10_000): Promise<{ publicKey: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let seen: Buffer | undefined;
    const done = () => {
      client.end();
      if (seen) resolve({ publicKey: publicKeyLine(seen), fingerprint: fingerprint(seen) });
      else reject(new AirlockError('ERR_TARGET_UNREACHABLE', `cannot fetch the host key of ${host}:${port}`));
    };
    client.once('error', done);
    client.once('close', done);
    client.connect({
      host,
      port,
      username: 'airlock-scan',
      algorithms: TARGET_ALGORITHMS(),
      readyTimeout: timeoutMs,
      hostVerifier: (key: Buffer) => {
        seen = Buffer.from(key);
        return false; // stop right after the key exchange
      },
    });
  });
}
