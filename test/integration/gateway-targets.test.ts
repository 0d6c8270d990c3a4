import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway } from '../helpers/gateway.js';
import type { GatewayHarness } from '../helpers/gateway.js';
import { keygen } from '../helpers/sshd.js';
import type { SshResult } from '../helpers/ssh-client.js';

/**
 * Which target a session reaches, and what the engineer learns along the way:
 * unknown and ungranted targets look the same and name nothing else; sensitive
 * targets wait for approval; logins outside the grant are refused; a target whose
 * host key changed is refused and audited; and the credential airlock uses on the
 * target never reaches the engineer's side of the connection.
 */
const SYSTEM = { name: 'test-admin' };

/** The private key's base64 body, and every 24-character window of it. */
function secretFragments(pem: string): string[] {
  const body = pem
    .split('\n')
    .filter((l) => l && !l.startsWith('-----'))
    .join('');
  const out: string[] = [];
  for (let i = 0; i + 24 <= body.length; i += 12) out.push(body.slice(i, i + 24));
  return out;
}

describe('gateway target selection and credential handling', () => {
  let g: GatewayHarness;
  let seq = 0;
  const since = async (action: string) => (await g.services.audit.list({ afterSeq: seq, limit: 1000 })).filter((e) => e.action === action);
  const mark = async () => {
    seq = (await g.services.audit.list({ newest: true, limit: 1 }))[0]?.seq ?? 0;
  };
  const addTarget = (name: string, sensitivity: 'standard' | 'sensitive' | 'critical', hostKey: string | null = g.sshd.hostKey) =>
    g.services.targets.add(
      { name, host: '127.0.0.1', port: g.sshd.port, login: g.sshd.login, secret: { kind: 'key', secret: g.sshd.clientKey }, sensitivity, hostKey },
      SYSTEM,
    );

  beforeAll(async () => {
    g = await startGateway('pglite');
    await addTarget('secret-db', 'standard'); // exists, but alice holds no grant
    for (const [name, level] of [['vault', 'sensitive'], ['core-switch', 'critical']] as const) {
      await g.services.grants.grant(g.alice.user, await addTarget(name, level), {}, SYSTEM);
    }
    await g.services.grants.grant(g.alice.user, await addTarget('unpinned', 'standard', null), {}, SYSTEM);
  });
  afterAll(async () => {
    await g?.stop();
  });

  describe('which targets', () => {
    it('an unknown target and one she holds no grant for get the same message, naming no other target', async () => {
      await mark();
      const unknown = await g.asAlice('alice@nosuch', ['true']);
      const ungranted = await g.asAlice('alice@secret-db', ['true']);
      for (const [r, name] of [[unknown, 'nosuch'], [ungranted, 'secret-db']] as const) {
        expect(r.code).toBe(1);
        expect(r.stdout.toString()).toBe('');
        expect(r.stderr).toContain(`airlock: no target "${name}" is available to you\n`);
        for (const other of ['t1', 'vault', 'core-switch', 'unpinned', name === 'nosuch' ? 'secret-db' : 'nosuch']) expect(r.stderr).not.toContain(other);
      }
      const denied = await since('session.denied');
      expect(denied.map((e) => [e.target, e.details['reason'], e.details['detail']])).toEqual([
        ['nosuch:-', 'ERR_NO_ACCESS', 'no such target'],
        ['secret-db:-', 'ERR_NO_ACCESS', 'no live grant'],
      ]);
      expect(await since('session.start')).toEqual([]);
    });

    it.each([
      ['vault', 'sensitive'],
      ['core-switch', 'critical'],
    ])('a %s (%s) target is refused with "approval required" and never connected', async (name, level) => {
      await mark();
      const r = await g.asAlice(`alice@${name}`, ['echo should-not-run']);
      expect(r.code).toBe(1);
      expect(r.stdout.toString()).toBe('');
      expect(r.stderr).toContain(`airlock: ${name} is ${level}: approval required`);
      expect(await since('session.denied')).toEqual([expect.objectContaining({ details: expect.objectContaining({ reason: 'ERR_APPROVAL_REQUIRED' }) })]);
      expect(await since('session.start')).toEqual([]);
    });

    it('a login outside the grant is refused with the logins she may use', async () => {
      await mark();
      const r = await g.asAlice('alice@t1:root', ['id -un']);
      expect(r.code).toBe(1);
      expect(r.stdout.toString()).toBe('');
      expect(r.stderr).toContain(`airlock: you may not log in to t1 as "root" (allowed: ${g.sshd.login})`);
      expect(await since('session.denied')).toEqual([expect.objectContaining({ target: 't1:root', details: expect.objectContaining({ reason: 'ERR_LOGIN_NOT_GRANTED' }) })]);
      const ok = await g.asAlice(`alice@t1:${g.sshd.login}`, ['id -un']);
      expect(ok.stdout.toString()).toBe(`${g.sshd.login}\n`);
    });

    it('a malformed user name is refused at login with a hint', async () => {
      const r = await g.asAlice('alice@T1!', ['true']);
      expect(r.code).toBe(255);
      expect(r.stderr).toContain('airlock: the user name must look like user@target');
    });
  });

  describe('the target\'s host key', () => {
    it('a changed host key is refused with a clear message, audited with both fingerprints, and works again once re-pinned', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'airlock-otherkey-'));
      try {
        const other = keygen(join(dir, 'k')).publicKey.split(/\s+/).slice(0, 2).join(' ');
        await g.services.targets.update('t1', { hostKey: other }, SYSTEM);
        await mark();
        const r = await g.asAlice('alice@t1', ['echo should-not-run']);
        expect(r.code).toBe(1);
        expect(r.stdout.toString()).toBe('');
        expect(r.stderr).toContain('airlock: the host key of t1 changed: refusing to connect');
        const mismatch = await since('session.target.host_key_mismatch');
        expect(mismatch).toHaveLength(1);
        expect(mismatch[0]).toMatchObject({ actor: 'alice', outcome: 'failure', details: { reason: 'ERR_HOST_KEY_MISMATCH' } });
        expect(mismatch[0]?.details['expected']).toMatch(/^SHA256:/);
        expect(mismatch[0]?.details['presented']).toMatch(/^SHA256:/);
        expect(mismatch[0]?.details['expected']).not.toBe(mismatch[0]?.details['presented']);
        expect(await since('session.start')).toEqual([]);
        // The presented key is never "accepted and remembered".
        expect((await g.services.targets.get('t1')).hostKey).toBe(other);
      } finally {
        await g.services.targets.update('t1', { hostKey: g.sshd.hostKey }, SYSTEM);
        rmSync(dir, { recursive: true, force: true });
      }
      const again = await g.asAlice('alice@t1', ['echo pinned']);
      expect(again.stdout.toString()).toBe('pinned\n');
    });

    it('a target with no pinned host key is refused until an admin confirms one', async () => {
      await mark();
      const r = await g.asAlice('alice@unpinned', ['true']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('airlock: the host key of unpinned is not pinned');
      expect(await since('session.target.failed')).toEqual([expect.objectContaining({ details: expect.objectContaining({ reason: 'ERR_HOST_KEY_UNPINNED' }) })]);
    });
  });

  describe('the injected credential', () => {
    it('never appears anywhere on the engineer\'s side, nor in the audit log or session rows', async () => {
      const transcript: SshResult[] = [];
      const run = async (cmd: string[], extra: string[] = []) => {
        const r = await g.asAlice('alice@t1', cmd, { sshArgs: extra });
        transcript.push(r);
        return r;
      };
      const env = await run(['env']);
      expect(env.stdout.toString()).toMatch(/^USER=/m);
      expect(env.stdout.toString()).not.toMatch(/^SSH_AUTH_SOCK=/m);
      await run(['cat ~/.ssh/authorized_keys; ls -la ~ ~/.ssh; cat /proc/self/environ | tr "\\0" "\\n"']);
      await run(['echo "$SSH_CONNECTION"; echo "$SSH_CLIENT"; set'], ['-v']);
      await run(['true'], ['-vvv']);
      await run([]); // no command, no pty: a shell reading the empty stdin
      const text = transcript.map((r) => r.stdout.toString() + r.stderr).join('\n');
      expect(text.length).toBeGreaterThan(2000);
      expect(text).not.toContain('PRIVATE KEY');
      const fragments = secretFragments(g.sshd.clientKey);
      expect(fragments.length).toBeGreaterThan(5);
      const leaked = fragments.filter((f) => text.includes(f));
      expect(leaked).toEqual([]);

      // Nor stored in the clear where operators and auditors read.
      const audit = JSON.stringify(await g.services.audit.list({ limit: 1000 }));
      const sessions = JSON.stringify((await g.services.db.query('SELECT * FROM sessions')).rows);
      const creds = JSON.stringify((await g.services.db.query('SELECT * FROM target_credentials')).rows);
      for (const stored of [audit, sessions, creds]) expect(fragments.filter((f) => stored.includes(f))).toEqual([]);
    });
  });
});
