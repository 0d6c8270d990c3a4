import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { AnyAuthMethod, Client as Ssh2Client, ConnectConfig, KeyboardInteractiveAuthMethod } from 'ssh2';
import { ALICE_PASSWORD, startGateway } from '../helpers/gateway.js';
import type { GatewayHarness } from '../helpers/gateway.js';
import type { Enrolment } from '../../identity/index.js';

/**
 * Authentication attacks against the front door, with ssh2's client driven by
 * hand (what a hostile client can send) and the real OpenSSH client:
 *  - a public key never logs anyone in, whether offered without a signature,
 *    with a garbage one, or even with a valid one (plain keys are not a way in);
 *  - a user name changed between attempts in one connection: the session belongs
 *    to the last successful attempt only (Warpgate CVE-2023-48712);
 *  - roles without SSH and disabled users are refused.
 */
const SYSTEM = { name: 'test-admin' };
const ADMIN_PASSWORD = 'root-admin-password-9';

type Attempt = AnyAuthMethod | false;

interface Outcome {
  ready: boolean;
  error?: string;
  client: Ssh2Client;
}

/**
 * Connects with ssh2's client, answering each authentication round from the given
 * list (false = give up). `patch` may rewrite the protocol object before auth starts.
 */
function connect(g: GatewayHarness, attempts: Attempt[], patch?: (proto: Record<string, unknown>) => void): Promise<Outcome> {
  return new Promise((resolve) => {
    const client = new ssh2.Client();
    const queue = [...attempts];
    const config: ConnectConfig = {
      host: '127.0.0.1',
      port: g.server.sshAddress.port,
      username: 'unused',
      readyTimeout: 20_000,
      // ssh2 takes false for "give up" although its types do not say so.
      authHandler: (_methods, _partial, next) => (next as (a: Attempt) => void)(queue.length ? (queue.shift() as Attempt) : false),
    };
    let settled = false;
    const done = (o: Omit<Outcome, 'client'>) => {
      if (settled) return;
      settled = true;
      resolve({ ...o, client });
    };
    client.once('ready', () => done({ ready: true }));
    client.once('error', (err) => done({ ready: false, error: err.message }));
    client.once('close', () => done({ ready: false, error: 'closed' }));
    client.connect(config);
    patch?.((client as unknown as { _protocol: Record<string, unknown> })._protocol);
  });
}

function kbd(username: string, answers: string[]): KeyboardInteractiveAuthMethod {
  return { type: 'keyboard-interactive', username, prompt: (_n, _i, _l, prompts, finish) => finish(prompts.length ? answers : []) };
}

/** Makes the client send its public-key request already signed, with `sign` choosing the signature. */
function signedAtOnce(sign: (data: Buffer, key: ssh2.ParsedKey) => Buffer) {
  return (proto: Record<string, unknown>) => {
    const authPK = (proto['authPK'] as (...a: unknown[]) => void).bind(proto);
    proto['authPK'] = (user: string, key: ssh2.ParsedKey, algo: unknown, cbSign?: unknown) =>
      authPK(user, key, algo, cbSign ?? ((data: Buffer, cb: (sig: Buffer) => void) => cb(sign(data, key))));
  };
}

function exec(client: Ssh2Client, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err, ch) => {
      if (err) return reject(err);
      let out = '';
      ch.on('data', (d: Buffer) => (out += d.toString()));
      ch.stderr.on('data', () => {});
      ch.on('close', () => resolve(out));
    });
  });
}

describe('gateway authentication attacks', () => {
  let g: GatewayHarness;
  let admin: Enrolment;
  let seq = 0;
  const since = async (action: string) => (await g.services.audit.list({ afterSeq: seq, limit: 1000 })).filter((e) => e.action === action);
  const mark = async () => {
    seq = (await g.services.audit.list({ newest: true, limit: 1 }))[0]?.seq ?? 0;
  };
  /** The key the target itself trusts: the strongest key an engineer could ever hold. */
  const targetKey = () => g.sshd.clientKey;

  beforeAll(async () => {
    // Many deliberate failures from one address: keep the login back-off out of the way.
    g = await startGateway('pglite', { overrides: { 'auth.freeAttempts': 100 } });
    admin = await g.services.identity.users.add({ name: 'root-admin', role: 'admin', password: ADMIN_PASSWORD }, SYSTEM);
    await g.services.grants.grant(admin.user, g.target, { logins: [g.sshd.login, 'root'] }, SYSTEM);
  });
  afterAll(async () => {
    await g?.stop();
  });

  describe('a public key never authenticates', () => {
    it('offered without a signature (the query): refused, nothing logged in', async () => {
      await mark();
      const o = await connect(g, [{ type: 'publickey', username: 'alice@t1', key: targetKey() }]);
      expect({ ready: o.ready, error: o.error ?? null }).toMatchObject({ ready: false, error: 'All configured authentication methods failed' });
      expect(await since('auth.login.succeeded')).toEqual([]);
    });

    it.each([
      ['a garbage signature', (_data: Buffer) => randomBytes(64)],
      ['an all-zero signature', (_data: Buffer) => Buffer.alloc(64)],
      ['a valid signature (plain keys are not a way in)', (data: Buffer, key: ssh2.ParsedKey) => key.sign(data) as Buffer],
    ])('sent at once with %s: refused and audited', async (_what, sign) => {
      await mark();
      const o = await connect(g, [{ type: 'publickey', username: 'alice@t1', key: targetKey() }], signedAtOnce(sign));
      expect({ ready: o.ready, error: o.error ?? null }).toMatchObject({ ready: false, error: 'All configured authentication methods failed' });
      const failed = await since('auth.login.failed');
      expect(failed).toHaveLength(1);
      expect(failed[0]).toMatchObject({ target: 'alice', source: '127.0.0.1', details: { channel: 'ssh', reason: 'publickey_not_accepted' } });
      expect(await since('auth.login.succeeded')).toEqual([]);
      expect(await since('session.start')).toEqual([]);
    });

    it('with OpenSSH and the target\'s own key: permission denied', async () => {
      const base = g.ssh.baseArgs();
      for (const opt of ['PreferredAuthentications=keyboard-interactive', 'PubkeyAuthentication=no']) base.splice(base.indexOf(opt) - 1, 2);
      const args = [
        ...base,
        '-o', 'PreferredAuthentications=publickey', '-o', 'PubkeyAuthentication=yes', '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes',
        '-i', join(g.sshd.dir, 'client_key'), 'alice@t1@127.0.0.1', 'echo should-not-run',
      ];
      const r = await g.ssh.spawn('ssh', args, {});
      expect(r.code).toBe(255);
      expect(r.stdout.toString()).toBe('');
      expect(r.stderr).toMatch(/Permission denied \(publickey/);
    });
  });

  describe('identity switch between attempts in one connection', () => {
    // ssh2's server ends a connection whose user name changes between attempts
    // (PROTOCOL_ERROR), so a switch never reaches airlock's own checks: nobody is
    // logged in, neither the first user nor the second.
    it.each([
      ['a wrong password', () => ['wrong-password', g.totp(admin.totp.secret)]],
      ['the right password and a wrong code', () => [ADMIN_PASSWORD, g.totp(admin.totp.secret).replace(/\d/g, (d) => String((Number(d) + 5) % 10))]],
    ])('an admin attempt with %s, then alice\'s valid login: dropped, nobody logged in', async (_what, adminAnswers) => {
      await mark();
      const o = await connect(g, [kbd('root-admin@t1', adminAnswers()), kbd('alice@t1', [ALICE_PASSWORD, g.totp(g.alice.totp.secret)])]);
      expect({ ready: o.ready, error: o.error ?? null }).toEqual({ ready: false, error: 'PROTOCOL_ERROR' });
      expect(await since('auth.login.succeeded')).toEqual([]);
      expect(await since('session.start')).toEqual([]);
      expect((await since('auth.login.failed')).map((e) => e.target)).toEqual(['root-admin']);
    });

    it('a public-key offer as the admin, then alice\'s valid login: dropped, nobody logged in', async () => {
      await mark();
      const o = await connect(g, [{ type: 'publickey', username: 'root-admin@t1', key: targetKey() }, kbd('alice@t1', [ALICE_PASSWORD, g.totp(g.alice.totp.secret)])]);
      expect({ ready: o.ready, error: o.error ?? null }).toEqual({ ready: false, error: 'PROTOCOL_ERROR' });
      expect(await since('auth.login.succeeded')).toEqual([]);
    });

    it('a wrong attempt then the right one as the same user logs that user in, and the session is hers', async () => {
      await mark();
      const o = await connect(g, [kbd('alice@t1', ['wrong-password', g.totp(g.alice.totp.secret)]), kbd('alice@t1', [ALICE_PASSWORD, g.totp(g.alice.totp.secret)])]);
      expect({ ready: o.ready, error: o.error ?? null }).toEqual({ ready: true, error: null });
      try {
        expect(await exec(o.client, 'echo "as $(id -un)"')).toBe(`as ${g.sshd.login}\n`);
      } finally {
        o.client.end();
      }
      await expect.poll(() => since('session.end'), { timeout: 10_000 }).toHaveLength(1);
      expect((await since('session.start')).map((e) => e.actor)).toEqual(['alice']);
      const rows = (await g.services.db.query<{ user_name: string }>('SELECT user_name FROM sessions')).rows;
      expect(rows).toEqual([{ user_name: 'alice' }]);
    });
  });

  describe('who may use SSH at all', () => {
    it('refuses a role without SSH access, with the reason', async () => {
      const auditor = await g.services.identity.users.add({ name: 'audrey', role: 'auditor', password: 'audrey-password-123' }, SYSTEM);
      await mark();
      const r = await g.ssh.run('audrey@t1', ['true'], { password: 'audrey-password-123', totp: g.totp(auditor.totp.secret) });
      expect(r.code).toBe(255);
      expect(r.stderr).toContain('airlock: the auditor role may not open SSH sessions');
      expect(await since('auth.login.failed')).toEqual([expect.objectContaining({ target: 'audrey', details: expect.objectContaining({ reason: 'role_not_allowed' }) })]);
    });

    it('refuses a disabled user even with the right password and code', async () => {
      await g.services.identity.users.setStatus('alice', 'disabled', SYSTEM);
      try {
        const r = await g.asAlice('alice@t1', ['true']);
        expect(r.code).toBe(255);
        expect(r.stderr).toContain('airlock: this account is disabled');
      } finally {
        await g.services.identity.users.setStatus('alice', 'active', SYSTEM);
      }
      const ok = await g.asAlice('alice@t1', ['echo back']);
      expect(ok.stdout.toString()).toBe('back\n');
    });
  });
});
