import ssh2 from 'ssh2';
import type { Client as Ssh2Client, KeyboardInteractiveAuthMethod } from 'ssh2';
import { ALICE_PASSWORD } from './gateway.js';
import type { GatewayHarness } from './gateway.js';

/**
 * alice logged in through the gateway with ssh2's client (password and a fresh
 * code, answered by their prompts), airlock's host key pinned: for tests that
 * drive the protocol harder than OpenSSH would (a thousand channels, SFTP
 * requests with 100 KB paths).
 */
export function connectAlice(g: GatewayHarness, dest = 'alice@t1'): Promise<Ssh2Client> {
  const hostKey = Buffer.from(g.server.ssh.hostKey.publicKeyLine.split(' ')[1] as string, 'base64');
  const code = g.totp(g.alice.totp.secret);
  const kbd: KeyboardInteractiveAuthMethod = {
    type: 'keyboard-interactive',
    username: dest,
    prompt: (_name, _instructions, _lang, prompts, finish) => finish(prompts.map((p) => (/assword/.test(p.prompt) ? ALICE_PASSWORD : code))),
  };
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.once('ready', () => resolve(c));
    c.once('error', reject);
    c.connect({ host: '127.0.0.1', port: g.server.sshAddress.port, username: dest, hostVerifier: (key: Buffer) => key.equals(hostKey), authHandler: [kbd], readyTimeout: 20_000 });
  });
}

/** Ends the connection and waits until it is closed. */
export function endConnection(c: Ssh2Client): Promise<void> {
  return new Promise((resolve) => {
    c.once('close', () => resolve());
    c.end();
  });
}
