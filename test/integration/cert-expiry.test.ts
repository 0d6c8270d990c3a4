import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { engines } from '../helpers/db.js';
import { startGateway } from '../helpers/gateway.js';
import type { GatewayHarness } from '../helpers/gateway.js';
import { parseJson } from '../helpers/cli.js';
import { certArgs, cliIn, cliLogin, issueCert, liveSsh } from '../helpers/cert-tools.js';
import type { LiveSsh } from '../helpers/cert-tools.js';

/**
 * Access is live: revoking a login (admin revoke, `airlock logout`, `airlock login
 * revoke`, disabling the user) ends its running sessions within 2 seconds, and a
 * session whose certificate expires is warned twice in the engineer's terminal
 * and ended at expiry. The real ssh runs `sleep 60` on a forced tty.
 */
const system = { name: 'test-admin' };
const LIMIT_MS = 2500;

interface SessionRow {
  status: string;
  end_reason: string | null;
  login_id: string;
}

describe.each(engines)('live revocation and expiry on %s', (engine) => {
  let g: GatewayHarness;
  let dir: string;
  let n = 0;
  const running: LiveSsh[] = [];

  const issue = (ttlMs?: number) => issueCert(g, dir, `k${++n}`, { ttlMs });
  const cli = (home: string, args: string[]) => cliIn(g, home, args);

  /** An interactive session (forced tty) that prints "ready" and sleeps; resolves once it is live on the gateway. */
  async function session(args: string[]): Promise<LiveSsh> {
    const s = liveSsh(g, ['-tt', ...args, 'echo ready; sleep 60']);
    running.push(s);
    await expect.poll(() => s.stdout(), { timeout: 20_000, interval: 50 }).toContain('ready');
    return s;
  }
  const sessionRow = async (loginId: string) => {
    let row: SessionRow | undefined;
    await expect
      .poll(async () => {
        row = (await g.services.db.query<SessionRow>('SELECT status, end_reason, login_id FROM sessions WHERE login_id = $1', [loginId])).rows[0];
        return row?.status;
      }, { timeout: 5000 })
      .not.toBe('active');
    return row as SessionRow;
  };
  /** Ended by airlock within the limit after `since`, with the reason shown on the engineer's terminal. */
  async function expectEnded(s: LiveSsh, since: number, message: string): Promise<void> {
    const exit = await s.exited;
    expect(exit.at - since).toBeLessThanOrEqual(LIMIT_MS);
    expect(exit.code).toBe(255);
    expect(s.stderr()).toContain(`airlock: ${message}`);
  }

  beforeAll(async () => {
    g = await startGateway(engine, { overrides: { 'ssh.expiryWarnings': ['8s', '4s'] } });
    dir = mkdtempSync(join(tmpdir(), 'airlock-expiry-'));
  });
  afterAll(async () => {
    for (const s of running) s.kill();
    await g?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('an admin revoke ends exactly that login’s session; disabling the user ends the rest', async () => {
    const one = await issue();
    const two = await issue();
    const s1 = await session([...certArgs(g, one.k.key, one.cert), 'alice@t1@127.0.0.1']);
    const s2 = await session([...certArgs(g, two.k.key, two.cert), 'alice@t1@127.0.0.1']);
    expect(g.services.sessions.list()).toHaveLength(2);

    const t0 = Date.now();
    await g.services.identity.revokeLogin(one.r.login.id, system, 'revoked by admin');
    await expectEnded(s1, t0, 'your login was ended (revoked by admin)');
    expect(await sessionRow(one.r.login.id)).toMatchObject({ status: 'terminated', end_reason: 'your login was ended (revoked by admin)' });
    // Two more sweeps: the other login's session is untouched. A fixed wait, on
    // purpose: it shows that something does NOT happen (the watch runs every second).
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(s2.stderr()).not.toContain('your login was ended');
    expect(g.services.sessions.list().map((s) => s.loginId)).toEqual([two.r.login.id]);

    const t1 = Date.now();
    await g.services.identity.users.setStatus('alice', 'disabled', system);
    try {
      await expectEnded(s2, t1, 'your login was ended (user disabled)');
      expect(await sessionRow(two.r.login.id)).toMatchObject({ status: 'terminated', end_reason: 'your login was ended (user disabled)' });
    } finally {
      await g.services.identity.users.setStatus('alice', 'active', system);
    }
    const ends = (await g.services.audit.list({ limit: 1000 })).filter((e) => e.action === 'session.end');
    expect(ends.map((e) => e.details['status'])).toEqual(['terminated', 'terminated']);
  });

  it('airlock logout ends the session that uses its certificate, and revokes the API token', async () => {
    const home = mkdtempSync(join(tmpdir(), 'airlock-home-'));
    try {
      const login = await cliLogin(g, home);
      expect({ code: login.code, stderr: login.stderr }).toMatchObject({ code: 0 });
      const out = parseJson<{ login: { id: string }; ssh: { config: string; certificate: string } }>(login);
      const { token } = JSON.parse(readFileSync(join(home, 'credentials.json'), 'utf8')) as { token: string };
      const s = await session(['-F', out.ssh.config, 't1']);

      const logout = await cli(home, ['logout']);
      const t0 = Date.now();
      expect({ code: logout.code, stderr: logout.stderr }).toMatchObject({ code: 0 });
      await expectEnded(s, t0, 'your login was ended (logout)');
      expect(await sessionRow(out.login.id)).toMatchObject({ status: 'terminated' });
      expect(existsSync(out.ssh.certificate)).toBe(false);
      await expect(g.services.identity.authenticateToken(token)).rejects.toMatchObject({ code: 'ERR_TOKEN_REVOKED' });
      const events = await g.services.audit.list({ limit: 1000 });
      expect(events.find((e) => e.action === 'auth.logout' && e.target === out.login.id)).toMatchObject({ actor: 'alice' });
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('airlock login revoke ID ends the session of that login', async () => {
    const home = mkdtempSync(join(tmpdir(), 'airlock-home-'));
    try {
      expect((await cliLogin(g, home)).code).toBe(0);
      const other = await issue();
      const s = await session([...certArgs(g, other.k.key, other.cert), 'alice@t1@127.0.0.1']);
      const revoke = await cli(home, ['login', 'revoke', other.r.login.id]);
      const t0 = Date.now();
      expect({ code: revoke.code, stdout: revoke.stdout }).toMatchObject({ code: 0, stdout: expect.stringContaining(other.r.login.id) });
      await expectEnded(s, t0, 'your login was ended');
      expect(await sessionRow(other.r.login.id)).toMatchObject({ status: 'terminated' });
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('expiry: two warnings in the terminal, then the session ends at expiry', async () => {
    const { k, r, cert } = await issue(12_000);
    // The login's expiry in wall-clock time (the test clock runs at a fixed offset from here on).
    const expiresAt = r.login.expiresAt.getTime() - g.clock.offsetMs;
    expect(expiresAt - Date.now()).toBeGreaterThan(10_000);
    const s = await session([...certArgs(g, k.key, cert), 'alice@t1@127.0.0.1']);
    const exit = await s.exited;

    const warnings = s.stderrChunks.flatMap((c) => [...c.text.matchAll(/airlock: your access expires in (\d+) seconds?/g)].map((m) => ({ at: c.at, s: Number(m[1]) })));
    expect(warnings.map((w) => w.s)).toEqual([expect.any(Number), expect.any(Number)]);
    const [first, second] = warnings as [{ at: number; s: number }, { at: number; s: number }];
    expect(first.s).toBeGreaterThanOrEqual(6);
    expect(first.s).toBeLessThanOrEqual(8);
    expect(second.s).toBeGreaterThanOrEqual(2);
    expect(second.s).toBeLessThanOrEqual(4);
    // Each warning came when it says: about 8 s and 4 s before expiry.
    expect(Math.abs(expiresAt - first.at - first.s * 1000)).toBeLessThanOrEqual(1500);
    expect(Math.abs(expiresAt - second.at - second.s * 1000)).toBeLessThanOrEqual(1500);

    expect(s.stderr()).toContain('airlock: your airlock login has expired; run "airlock login" again, then reconnect');
    expect(exit.code).toBe(255);
    expect(exit.at).toBeGreaterThanOrEqual(expiresAt - 100);
    expect(exit.at - expiresAt).toBeLessThanOrEqual(2000);
    expect(await sessionRow(r.login.id)).toMatchObject({ status: 'terminated', end_reason: 'your airlock login has expired; run "airlock login" again, then reconnect' });
  });
});
