import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startGateway } from '../helpers/gateway.js';
import type { GatewayHarness } from '../helpers/gateway.js';
import { TmuxSsh } from '../helpers/tmux.js';
import { waitFor } from '../helpers/wait.js';
import { engines } from '../helpers/db.js';
import { openTestServices } from '../helpers/services.js';
import type { TestServices } from '../helpers/services.js';
import { ManualClock } from '../../core/clock.js';
import type { Target, AccessRequest } from '../../approvals/index.js';
import type { User } from '../../identity/index.js';

/** Break-glass: the engineer waits inside the SSH session while internal staff decide. */
describe('break-glass in the SSH session', () => {
  let g: GatewayHarness;
  let olivia: User;
  beforeAll(async () => {
    g = await startGateway('pglite', { overrides: { 'policy.ticketPattern': '^(INC|CHG)-\\d+$', 'ssh.expiryWarnings': ['8s', '4s'] } });
    const admin = { name: 'test-admin' };
    const s = g.services;
    olivia = (await s.identity.users.add({ name: 'olivia', role: 'approver', password: 'olivia-password-1' }, admin)).user;
    const s1 = await s.targets.add(
      { name: 's1', host: '127.0.0.1', port: g.sshd.port, login: g.sshd.login, secret: { kind: 'key', secret: g.sshd.clientKey }, sensitivity: 'sensitive', hostKey: g.sshd.hostKey },
      admin,
    );
    await s.grants.grant(g.alice.user, s1, {}, admin);
  });
  afterAll(() => g?.stop());

  const waitPending = (): Promise<AccessRequest> =>
    waitFor(async () => (await g.services.requests.list({ status: 'pending' }))[0], { timeoutMs: 15_000, message: 'a pending request' });

  it('asks in the terminal, waits, and continues to the target in the same session once approved; revoking ends it', async () => {
    const t = new TmuxSsh(g.ssh, 'alice@s1', { password: 'alice-correct-horse-1', totp: g.totp(g.alice.totp.secret) });
    try {
      await t.waitFor('Reason:');
      t.type('restart the stuck backup job');
      await t.waitFor('Ticket (optional):');
      t.type('INC-4711');
      await t.waitFor('waiting for approval');
      const request = await waitPending();
      expect(request).toMatchObject({ userName: 'alice', targetName: 's1', reason: 'restart the stuck backup job', ticket: 'INC-4711', status: 'pending' });
      // Nothing reaches the target while waiting: no session row exists yet.
      expect((await g.services.db.query("SELECT 1 FROM sessions WHERE target_name = 's1'")).rowCount).toBe(0);
      await g.services.requests.approve(request.id, olivia, { comment: 'go ahead' });
      await t.waitFor('approved by olivia');
      await t.waitFor(/\$\s*$/m);
      t.type('echo on-target-$((40+2))');
      await t.waitFor('on-target-42');
      const session = (await g.services.db.query<{ request_id: string }>("SELECT request_id FROM sessions WHERE target_name = 's1'")).rows[0];
      expect(session?.request_id).toBe(request.id);

      const revokedAt = Date.now();
      await g.services.requests.revoke(request.id, olivia, 'done for today');
      await t.waitFor('SSH-EXIT=', 5000);
      expect(Date.now() - revokedAt).toBeLessThan(3000);
      expect(t.screen()).toContain('your access was revoked by olivia: done for today');
    } finally {
      t.kill();
    }
  });

  it('shows the approver comment on denial, and Ctrl-C cancels a request', async () => {
    const t = new TmuxSsh(g.ssh, 'alice@s1', { password: 'alice-correct-horse-1', totp: g.totp(g.alice.totp.secret) });
    try {
      await t.waitFor('Reason:');
      t.type('look at logs');
      await t.waitFor('Ticket (optional):');
      t.type('');
      const request = await waitPending();
      await g.services.requests.deny(request.id, olivia, 'use the read replica instead');
      await t.waitFor('denied by olivia: use the read replica instead');
      await t.waitFor('SSH-EXIT=1');
    } finally {
      t.kill();
    }
    const t2 = new TmuxSsh(g.ssh, 'alice@s1', { password: 'alice-correct-horse-1', totp: g.totp(g.alice.totp.secret) });
    try {
      await t2.waitFor('Reason:');
      t2.type('again');
      await t2.waitFor('Ticket (optional):');
      t2.type('');
      const request = await waitPending();
      await t2.waitFor('waiting for approval');
      t2.send('C-c');
      await t2.waitFor('you cancelled the request');
      expect((await g.services.requests.get(request.id)).status).toBe('cancelled');
    } finally {
      t2.kill();
    }
  });

  it("ends the session when the approval's time is up, after the warnings", async () => {
    const t = new TmuxSsh(g.ssh, 'alice@s1', { password: 'alice-correct-horse-1', totp: g.totp(g.alice.totp.secret) });
    try {
      await t.waitFor('Reason:');
      t.type('short job');
      await t.waitFor('Ticket (optional):');
      t.type('');
      const request = await waitPending();
      // Narrowed to 12 seconds by the approver; warnings at 8 s and 4 s (overridden below).
      await g.services.requests.approve(request.id, olivia, { durationMs: 12_000 });
      await t.waitFor(/\$\s*$/m);
      const approved = await g.services.requests.get(request.id);
      await t.waitFor('SSH-EXIT=', 20_000);
      const ended = g.clock.now().getTime(); // the gateway runs on the test clock
      expect(ended).toBeGreaterThanOrEqual(approved.grantedUntil!.getTime() - 500);
      expect(ended - approved.grantedUntil!.getTime()).toBeLessThan(3000);
      const screen = t.screen();
      expect(screen.match(/your access expires in/g)?.length).toBe(2);
      expect(screen).toContain('your approved access to s1 has ended; connect again to ask for more time');
    } finally {
      t.kill();
    }
  });

  it('without a terminal, says how to ask instead of waiting', async () => {
    const r = await g.asAlice('alice@s1', ['echo should-not-run']);
    expect(r.code).not.toBe(0);
    expect(r.stdout.toString()).not.toContain('should-not-run');
    expect(r.stderr).toContain('approval required');
    expect(r.stderr).toContain('airlock request s1');
  });
});

describe.each(engines)('access request rules on %s', (engine) => {
  let s: TestServices;
  let alice: User;
  let olivia: User;
  let oscar: User;
  let crit: Target;
  let sens: Target;
  const clock = new ManualClock(new Date());
  beforeAll(async () => {
    s = await openTestServices(engine, { clock });
    const admin = { name: 'test' };
    const add = async (name: string, role: 'engineer' | 'approver') => (await s.identity.users.add({ name, role, password: `${name}-password-1` }, admin)).user;
    alice = await add('alice', 'engineer');
    olivia = await add('olivia', 'approver');
    oscar = await add('oscar', 'approver');
    const target = (name: string, sensitivity: 'sensitive' | 'critical') =>
      s.targets.add({ name, host: '127.0.0.1', port: 22, login: 'root', secret: { kind: 'password', secret: 'x' }, sensitivity, hostKey: null }, admin);
    sens = await target('sens', 'sensitive');
    crit = await target('crit', 'critical');
  });
  afterAll(() => s?.close());

  it('refuses self-approval and engineer approval', async () => {
    const req = await s.requests.create(alice, sens, { login: 'root', reason: 'r' });
    await expect(s.requests.approve(req.id, alice)).rejects.toMatchObject({ code: 'ERR_NOT_AN_APPROVER' });
    const eve = (await s.identity.users.add({ name: 'eve', role: 'engineer', password: 'eve-password-123' }, { name: 'test' })).user;
    await expect(s.requests.approve(req.id, eve)).rejects.toMatchObject({ code: 'ERR_NOT_AN_APPROVER', message: expect.stringMatching(/only internal approvers/) });
    await expect(s.requests.deny(req.id, eve, 'no')).rejects.toMatchObject({ code: 'ERR_NOT_AN_APPROVER' });
    const bob = (await s.identity.users.add({ name: 'bobapp', role: 'approver', password: 'bobapp-password-1' }, { name: 'test' })).user;
    const reqByApprover = await s.requests.create(bob, sens, { login: 'root', reason: 'mine' });
    await expect(s.requests.approve(reqByApprover.id, bob)).rejects.toMatchObject({ code: 'ERR_SELF_APPROVAL' });
    expect((await s.requests.get(req.id)).status).toBe('pending');
  });

  it('needs two distinct approvers and a ticket for critical; one person twice counts once; approval never widens', async () => {
    await expect(s.requests.create(alice, crit, { login: 'root', reason: 'r' })).rejects.toMatchObject({ code: 'ERR_TICKET_REQUIRED' });
    await expect(s.requests.create(alice, crit, { login: 'root', reason: 'r', ticket: 'nope' })).rejects.toMatchObject({ code: 'ERR_TICKET_INVALID' });
    await expect(s.requests.create(alice, crit, { login: 'root', ticket: 'INC-2' })).rejects.toMatchObject({ code: 'ERR_REASON_REQUIRED' });
    const req = await s.requests.create(alice, crit, { login: 'root', reason: 'fix', ticket: 'INC-1', durationMs: 30 * 60_000, sftp: false });
    const first = await s.requests.approve(req.id, olivia, { durationMs: 20 * 60_000, sftp: true });
    expect(first.status).toBe('pending');
    await expect(s.requests.approve(req.id, olivia)).rejects.toMatchObject({ code: 'ERR_ALREADY_APPROVED' });
    const second = await s.requests.approve(req.id, oscar, { durationMs: 90 * 60_000 });
    expect(second.status).toBe('approved');
    expect(second.grantedUntil!.getTime() - second.grantedFrom!.getTime()).toBe(20 * 60_000);
    expect(second.grantedSftp).toBe(false);
    const audit = await s.audit.list({ action: 'request.' });
    expect(audit.map((e) => e.action)).toEqual(expect.arrayContaining(['request.created', 'request.approval', 'request.approved']));
  });

  it('50 concurrent approve and deny calls give exactly one decision', async () => {
    const req = await s.requests.create(alice, sens, { login: 'root', reason: 'race' });
    const calls = Array.from({ length: 50 }, (_, i) =>
      i % 2 ? s.requests.approve(req.id, i % 4 === 1 ? olivia : oscar) : s.requests.deny(req.id, i % 4 === 0 ? olivia : oscar, 'no'),
    );
    const results = await Promise.allSettled(calls);
    const ok = results.filter((r) => r.status === 'fulfilled');
    expect(ok).toHaveLength(1);
    const final = await s.requests.get(req.id);
    expect(['approved', 'denied']).toContain(final.status);
    const decided = (await s.audit.list({ action: 'request.', limit: 1000 })).filter(
      (e) => e.target === req.id && (e.action === 'request.approved' || e.action === 'request.denied'),
    );
    expect(decided).toHaveLength(1);
  });

  it('a pending request expires after the policy timeout', async () => {
    const req = await s.requests.create(alice, sens, { login: 'root', reason: 'slow' });
    clock.advance(16 * 60_000);
    await s.requests.expireDue();
    expect((await s.requests.get(req.id)).status).toBe('expired');
    await expect(s.requests.approve(req.id, olivia)).rejects.toMatchObject({ code: 'ERR_REQUEST_NOT_PENDING' });
  });
});
