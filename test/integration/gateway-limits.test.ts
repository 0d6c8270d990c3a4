import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConnection } from 'node:net';
import type { Socket } from 'node:net';
import { generateKeyPairSync } from 'node:crypto';
import ssh2 from 'ssh2';
import { generateEd25519, plainEd25519, rawEd25519, signCertificate } from '../../identity/index.js';
import { startGateway } from '../helpers/gateway.js';
import type { GatewayHarness } from '../helpers/gateway.js';

/**
 * The front door's limits before login (Warpgate GHSA-78rf-vg74-7cr8: one slow
 * unauthenticated client stalled everyone): a pre-auth timeout, a cap on failed
 * attempts per connection, per-source caps, and a flood of idle connections that
 * never stops a real login. Raw TCP sockets play the attacker.
 */
const SYSTEM = { name: 'test-admin' };

interface RawConn {
  socket: Socket;
  openedAt: number;
  /** ms after opening when the server closed it, if it did. */
  closedAfter?: number;
  received: string;
}

/** A raw TCP connection that sends nothing; resolves once connected (or failed). */
function rawConnect(port: number, localAddress = '127.0.0.1'): Promise<RawConn> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port, localAddress });
    const conn: RawConn = { socket, openedAt: Date.now(), received: '' };
    socket.on('data', (d: Buffer) => (conn.received += d.toString('latin1')));
    socket.on('close', () => (conn.closedAfter = Date.now() - conn.openedAt));
    socket.on('error', () => {});
    socket.once('connect', () => resolve(conn));
    socket.once('error', () => resolve(conn));
  });
}

async function closeAll(conns: RawConn[]): Promise<void> {
  for (const c of conns) c.socket.destroy();
  await expect.poll(() => conns.every((c) => c.closedAfter !== undefined)).toBe(true);
}

describe('gateway limits before login', () => {
  describe('pre-auth timeout', () => {
    let g: GatewayHarness;
    beforeAll(async () => {
      g = await startGateway('pglite', { overrides: { 'ssh.preAuthTimeout': '2s' } });
    });
    afterAll(async () => {
      await g?.stop();
    });

    it('drops a connection that says nothing within 2–4 s (after the server greeting)', async () => {
      const c = await rawConnect(g.server.sshAddress.port);
      try {
        await expect.poll(() => c.closedAfter, { timeout: 8000, interval: 50 }).toBeDefined();
        expect(c.closedAfter).toBeGreaterThanOrEqual(1900);
        expect(c.closedAfter).toBeLessThan(4000);
        expect(c.received).toMatch(/^SSH-2\.0-airlock/);
      } finally {
        c.socket.destroy();
      }
    });

    it('drops a client that dribbles its version line a byte at a time (never completing it)', async () => {
      const c = await rawConnect(g.server.sshAddress.port);
      const line = 'SSH-2.0-slowloris-client-that-never-ends';
      let i = 0;
      const drip = setInterval(() => c.socket.write(line[i++ % line.length] as string), 200);
      try {
        await expect.poll(() => c.closedAfter, { timeout: 8000, interval: 50 }).toBeDefined();
        expect(c.closedAfter).toBeLessThan(4000);
      } finally {
        clearInterval(drip);
        c.socket.destroy();
      }
    });

    it('does not cut off a login that completes in time, nor the session after it', async () => {
      const r = await g.asAlice('alice@t1', ['sleep 3; echo still-here']);
      expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
      expect(r.stdout.toString()).toBe('still-here\n');
    });
  });

  describe('attempts and floods', () => {
    let g: GatewayHarness;
    let bobSecret: string;
    beforeAll(async () => {
      g = await startGateway('pglite');
      const bob = await g.services.identity.users.add({ name: 'bob', role: 'engineer', password: 'bob-correct-horse-2' }, SYSTEM);
      bobSecret = bob.totp.secret;
      await g.services.grants.grant(bob.user, g.target, {}, SYSTEM);
    });
    afterAll(async () => {
      await g?.stop();
    });

    it('disconnects after ssh.maxAuthAttempts (6) failures even when the client would try 10 times, and audits it', async () => {
      const seq = (await g.services.audit.list({ newest: true, limit: 1 }))[0]?.seq ?? 0;
      const base = g.ssh.baseArgs();
      base.splice(base.indexOf('NumberOfPasswordPrompts=1') - 1, 2);
      const args = [...base, '-o', 'NumberOfPasswordPrompts=10', 'bob@t1@127.0.0.1', 'echo should-not-run'];
      const r = await g.ssh.spawn('ssh', args, { password: 'wrong-password', totp: g.totp(bobSecret), timeoutMs: 60_000 });
      expect(r.code).toBe(255);
      expect(r.stdout.toString()).toBe('');
      // Each refused attempt shows airlock's reason once: exactly six of them.
      const reasons = r.stderr.match(/^airlock: (login failed|too many failed logins)/gm) ?? [];
      expect(reasons).toHaveLength(6);
      const events = await g.services.audit.list({ afterSeq: seq, limit: 1000 });
      expect(events.filter((e) => e.action === 'auth.ssh.too_many_attempts')).toEqual([
        expect.objectContaining({ outcome: 'failure', source: '127.0.0.1', details: { attempts: 6, probes: 0 } }),
      ]);
      expect(events.filter((e) => e.action === 'auth.login.succeeded')).toEqual([]);
    });

    it('unsigned publickey queries count: one connection cannot write an audit row per query, nor query forever', async () => {
      const seq = (await g.services.audit.list({ newest: true, limit: 1 }))[0]?.seq ?? 0;
      const { publicKey, privateKey } = generateEd25519('flood');
      // A certificate from a CA airlock does not know: parses, fails, and is never signed for.
      const ca = generateKeyPairSync('ed25519');
      const cert = signCertificate(
        { publicKey: plainEd25519(Buffer.from(publicKey.split(' ')[1] as string, 'base64')) as Buffer, serial: 7n, keyId: 'x', principals: ['bob'], validAfter: new Date(0), validBefore: new Date(Date.now() + 3_600_000) },
        ca.privateKey,
        rawEd25519(ca.publicKey),
      );
      const offered = async (key: Parameters<typeof ssh2.utils.parseKey>[0] | ssh2.ParsedKey, tries: number) => {
        let queries = 0;
        const ended = await new Promise<'closed' | 'exhausted'>((resolve) => {
          const c = new ssh2.Client();
          c.on('error', () => {});
          c.on('close', () => resolve(queries >= tries ? 'exhausted' : 'closed'));
          c.connect({
            host: '127.0.0.1',
            port: g.server.sshAddress.port,
            username: 'bob@t1',
            hostVerifier: () => true,
            authHandler: (_methods, _partial, next) => {
              if (++queries > tries) return next(false as never);
              next({ type: 'publickey', username: 'bob@t1', key } as never);
            },
          });
        });
        return { ended, queries };
      };
      const certKey = ssh2.utils.parseKey(privateKey) as ssh2.ParsedKey;
      // ssh2 sends the key it is given; give it the certificate as the public half.
      Object.assign(certKey, { type: 'ssh-ed25519-cert-v01@openssh.com', getPublicSSH: () => cert });
      const certs = await offered(certKey, 500);
      expect(certs.ended).toBe('closed');
      expect(certs.queries).toBeLessThanOrEqual(7); // six attempts, then the door closes
      const plain = await offered(privateKey, 500);
      expect(plain.ended).toBe('closed');
      expect(plain.queries).toBeLessThanOrEqual(6 * 4 + 2); // the refusal that ends it, and the reply ssh2 asks for after it
      const events = await g.services.audit.list({ afterSeq: seq, limit: 1000 });
      // One row for the repeated certificate failure, not one per query; each connection's end audited once.
      expect(events.filter((e) => e.action === 'auth.login.failed').map((e) => e.details['reason'])).toEqual(['certificate_unknown_ca']);
      expect(events.filter((e) => e.action === 'auth.ssh.too_many_attempts').map((e) => e.details)).toEqual([
        { attempts: 6, probes: 0, repeated: { 'bob:certificate_unknown_ca': 6 } },
        { attempts: 0, probes: 25 },
      ]);
    });

    it('a flood of 200 idle connections from one address does not stop a real login from another', async () => {
      const port = g.server.sshAddress.port;
      const flood = await Promise.all(Array.from({ length: 200 }, () => rawConnect(port, '127.0.0.2')));
      try {
        // Beyond the per-source cap the server hangs up at once, before any key exchange.
        await expect.poll(() => flood.filter((c) => c.closedAfter !== undefined).length, { timeout: 5000 }).toBeGreaterThanOrEqual(200 - 20);
        const held = flood.filter((c) => c.closedAfter === undefined);
        expect(held.length).toBeLessThanOrEqual(20);
        const start = Date.now();
        const r = await g.asAlice('alice@t1', ['echo through-the-flood']);
        expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
        expect(r.stdout.toString()).toBe('through-the-flood\n');
        expect(Date.now() - start).toBeLessThan(15_000);
        // The connections being held are still open: the login did not need them gone.
        expect(held.every((c) => c.closedAfter === undefined)).toBe(true);
      } finally {
        await closeAll(flood);
      }
    });

    it('a flood of 200 idle connections from 200 addresses (under the global cap) does not stop a real login', async () => {
      const port = g.server.sshAddress.port;
      const flood = await Promise.all(Array.from({ length: 200 }, (_, i) => rawConnect(port, `127.0.1.${i + 1}`)));
      try {
        // A fixed wait, on purpose: it shows that none of them is dropped meanwhile.
        await new Promise((r) => setTimeout(r, 300));
        // Each address is within its own limits: all of them are held open.
        expect(flood.filter((c) => c.closedAfter !== undefined)).toHaveLength(0);
        const r = await g.asAlice('alice@t1', ['echo still-through']);
        expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
        expect(r.stdout.toString()).toBe('still-through\n');
      } finally {
        await closeAll(flood);
      }
    });

    it('after the floods are gone, the flooding address may connect again', async () => {
      const c = await rawConnect(g.server.sshAddress.port, '127.0.0.2');
      try {
        await expect.poll(() => c.received, { timeout: 5000 }).toMatch(/^SSH-2\.0-airlock/);
        expect(c.closedAfter).toBeUndefined();
      } finally {
        c.socket.destroy();
      }
    });
  });
});
