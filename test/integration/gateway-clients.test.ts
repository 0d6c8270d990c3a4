import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ALICE_PASSWORD, startGateway } from '../helpers/gateway.js';
import type { GatewayHarness } from '../helpers/gateway.js';
import { TmuxSsh } from '../helpers/tmux.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Clients other than OpenSSH, as MSPs use them: paramiko 2.12 (Debian 12's
 * python3-paramiko: what Ansible's paramiko connection and Netmiko use; it has
 * no AES-GCM, no chacha20 and no strict kex) and PuTTY 0.78's plink and pscp.
 * Each logs in with password and code, runs a command, and moves a file under a
 * grant that allows file transfer; the host key is checked, never trusted blindly.
 */
const execFileAsync = promisify(execFile);
const PYTHON = '/usr/bin/python3'; // Debian's, which has python3-paramiko (pyenv's first in PATH has not)

const PARAMIKO = `
import base64, hashlib, sys, paramiko
host, port, user, password, code, hostkey, local, remote = sys.argv[1:]
t = paramiko.Transport((host, int(port)))
t.start_client(timeout=20)
if t.get_remote_server_key().asbytes() != base64.b64decode(hostkey.split()[1]):
    sys.exit('host key mismatch')
def answer(title, instructions, prompts):
    return [password if 'assword' in p else code for p, _echo in prompts]
t.auth_interactive(user, answer)
print('cipher', t.remote_cipher, t.remote_mac)
ch = t.open_session()
ch.exec_command('echo from-paramiko-$((6*7))')
print(ch.makefile().read().decode().strip(), 'exit', ch.recv_exit_status())
sftp = paramiko.SFTPClient.from_transport(t)
sftp.put(local, remote)
print('stat', sftp.stat(remote).st_size)
t.close()
`;

describe('other SSH clients through the gateway', () => {
  let g: GatewayHarness;
  beforeAll(async () => {
    g = await startGateway('pglite', { grant: { allowSftp: true } });
  });
  afterAll(() => g?.stop());

  const payload = () => {
    const file = join(g.ssh.dir, `payload-${randomBytes(4).toString('hex')}`);
    const data = randomBytes(256 * 1024);
    writeFileSync(file, data);
    return { file, sha: createHash('sha256').update(data).digest('hex') };
  };
  const onTarget = (path: string) => {
    expect(existsSync(path)).toBe(true);
    return createHash('sha256').update(readFileSync(path)).digest('hex');
  };

  it('paramiko 2.12 logs in (AES-CTR with HMAC-SHA2, no EtM), runs a command and uploads over SFTP', async () => {
    const { file, sha } = payload();
    const remote = `/tmp/airlock-paramiko-${randomBytes(4).toString('hex')}`;
    const hostKey = g.server.ssh.hostKey.publicKeyLine;
    // Asynchronously: the gateway runs in this process and must keep answering.
    const { stdout: out } = await execFileAsync(
      PYTHON,
      ['-c', PARAMIKO, '127.0.0.1', String(g.server.sshAddress.port), 'alice@t1', ALICE_PASSWORD, g.totp(g.alice.totp.secret), hostKey, file, remote],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(out).toMatch(/^cipher aes128-ctr hmac-sha2-256$/m);
    expect(out).toContain('from-paramiko-42 exit 0');
    expect(out).toContain(`stat ${256 * 1024}`);
    expect(onTarget(remote)).toBe(sha);
    // Recorded like any other session: the exec, and the upload with its hash.
    const row = await waitFor(
      async () =>
        (
          await g.services.db.query<{ channels: Array<{ kind: string }>; file_ops: Array<{ op: string; sha256?: string }> }>(
            "SELECT channels, file_ops FROM sessions WHERE status <> 'active' ORDER BY started_at DESC LIMIT 1",
          )
        ).rows[0],
      { message: 'the paramiko session to end' },
    );
    expect(row.channels.map((c) => c.kind)).toEqual(['exec', 'sftp']);
    expect(row.file_ops).toEqual(expect.arrayContaining([expect.objectContaining({ op: 'write', sha256: sha })]));
  });

  const fingerprint = () => g.server.ssh.hostKey.fingerprint;
  /** PuTTY's prompts answered as alice, then its exit awaited. */
  const signInAndFinish = async (t: TmuxSsh) => {
    await t.waitFor('Password:');
    t.type(ALICE_PASSWORD);
    await t.waitFor('Verification code:');
    t.type(g.totp(g.alice.totp.secret));
    await t.waitFor('SSH-EXIT=0', 30_000);
  };

  it('PuTTY plink logs in with password and code (AES-CTR with HMAC-SHA-256, strict kex) and runs a command', async () => {
    const t = new TmuxSsh(g.ssh, 'alice@t1', {
      width: 200,
      command: ['plink', '-ssh', '-P', String(g.server.sshAddress.port), '-hostkey', fingerprint(), '-no-antispoof', '-v', 'alice@t1@127.0.0.1', 'echo from-plink-$((6*7))'],
    });
    try {
      await signInAndFinish(t);
      const screen = t.screen();
      expect(screen).toContain('from-plink-42');
      // PuTTY's own order puts AES-CTR before GCM; neither is open to Terrapin, and it uses strict kex anyway.
      expect(screen).toContain('Enabling strict key exchange semantics');
      expect(screen).toMatch(/Initialised AES-(128|256) (SDCTR|GCM)/);
      expect(screen).not.toMatch(/ChaCha20|ETM/i);
    } finally {
      t.kill();
    }
  });

  it('PuTTY pscp copies a file to the target', async () => {
    const { file, sha } = payload();
    const remote = `/tmp/airlock-pscp-${randomBytes(4).toString('hex')}`;
    const t = new TmuxSsh(g.ssh, 'alice@t1', {
      width: 200,
      command: ['pscp', '-sftp', '-P', String(g.server.sshAddress.port), '-hostkey', fingerprint(), file, `alice@t1@127.0.0.1:${remote}`],
    });
    try {
      await signInAndFinish(t);
      expect(onTarget(remote)).toBe(sha);
    } finally {
      t.kill();
    }
  });
});
