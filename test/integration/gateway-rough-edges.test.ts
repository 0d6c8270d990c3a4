import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway } from '../helpers/gateway.js';
import type { GatewayHarness } from '../helpers/gateway.js';
import { TmuxSsh } from '../helpers/tmux.js';
import { certArgs, issueCert } from '../helpers/cert-tools.js';
import { waitFor } from '../helpers/wait.js';
import type { User } from '../../identity/index.js';

/**
 * What a new user hit through the real ssh client, each fixed: a mistyped ticket
 * is asked for again instead of ending the connection; a role that may not use
 * SSH is told so once (not "wrong password" three times); a refused port forward
 * names its cause; a critical target picked from the menu still wants a fresh
 * code after a certificate; expiry says how to get access again.
 */
const admin = { name: 'test-admin' };

/** Certificate options without BatchMode: these sessions talk to the engineer in a terminal. */
function interactive(args: string[]): string[] {
  return args.filter((a, i) => a !== 'BatchMode=yes' && !(a === '-o' && args[i + 1] === 'BatchMode=yes'));
}

describe('the rough edges of the SSH side', () => {
  let g: GatewayHarness;
  let olivia: User;
  let oscar: User;
  let dir: string;
  beforeAll(async () => {
    g = await startGateway('pglite', { overrides: { 'ssh.expiryWarnings': ['2s'] } });
    dir = mkdtempSync(join(tmpdir(), 'airlock-edges-'));
    const s = g.services;
    olivia = (await s.identity.users.add({ name: 'olivia', role: 'approver', password: 'olivia-password-1' }, admin)).user;
    oscar = (await s.identity.users.add({ name: 'oscar', role: 'approver', password: 'oscar-password-12' }, admin)).user;
    for (const [name, sensitivity] of [['crit1', 'critical'], ['crit2', 'critical']] as const) {
      const t = await s.targets.add(
        { name, host: '127.0.0.1', port: g.sshd.port, login: g.sshd.login, secret: { kind: 'key', secret: g.sshd.clientKey }, sensitivity, hostKey: g.sshd.hostKey },
        admin,
      );
      await s.grants.grant(g.alice.user, t, {}, admin);
    }
  });
  afterAll(async () => {
    await g?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('break-glass asks for the ticket again when it does not look like one, and the request goes through', async () => {
    const t = new TmuxSsh(g.ssh, 'alice@crit1', { password: 'alice-correct-horse-1', totp: g.totp(g.alice.totp.secret), width: 220 });
    try {
      await t.waitFor('Reason:');
      t.type('rotate the certificate');
      await t.waitFor(/Ticket \(like INC-1234\):/);
      t.type('tomorrow');
      await t.waitFor('does not look like a ticket reference');
      await t.waitFor('try again (Ctrl-C cancels)');
      // Only the ticket is asked again; the reason stands.
      await t.waitFor(/Ticket \(like INC-1234\):[\s\S]*Ticket \(like INC-1234\):/);
      t.type('INC-4711');
      await t.waitFor('waiting for approval');
      const [request] = await g.services.requests.list({ status: 'pending' });
      expect(request).toMatchObject({ targetName: 'crit1', reason: 'rotate the certificate', ticket: 'INC-4711' });
      expect(t.screen()).not.toContain('SSH-EXIT');
      await g.services.requests.approve(request!.id, olivia, {});
      await t.waitFor('oliv');
      await g.services.requests.approve(request!.id, oscar, { comment: 'ok \x1b[2K\x1b]8;;http://x\x07link' });
      await t.waitFor('approved by olivia and oscar');
      // The approver's comment reached the terminal inert.
      expect(t.screen()).toContain('\\u001b[2K');
      await t.waitFor(/\$\s*$/m);
      t.type('exit');
      await t.waitFor('SSH-EXIT=0');
    } finally {
      t.kill();
    }
  });

  it('an approver is told once that the role does not open SSH sessions, and the connection ends', async () => {
    const r = await g.ssh.run('olivia@t1', ['true'], { password: 'olivia-password-1', totp: g.totp((await g.services.identity.users.resetMfa('olivia', admin)).totp.secret) });
    expect(r.code).toBe(255);
    expect(r.stderr).toContain('the approver role may not open SSH sessions');
    expect(r.stderr).not.toContain('wrong user name, password');
    expect(r.stderr.match(/may not open SSH sessions/g)).toHaveLength(1);
  });

  it('a port forward without a grant names the cause', async () => {
    const r = await g.asAlice('alice@t1', ['true'], { sshArgs: ['-o', 'ExitOnForwardFailure=no', '-W', '127.0.0.1:9'] });
    expect(r.stderr).toMatch(/open failed: administratively prohibited: port forwarding is not allowed by your grant/);
  });

  it('a critical target chosen from the menu still asks a fresh code after a certificate', async () => {
    const { k, cert } = await issueCert(g, dir, 'menu');
    const pairs = interactive(certArgs(g, k.key, cert));
    const t = new TmuxSsh(g.ssh, 'alice', { baseArgs: pairs });
    try {
      await t.waitFor('Your targets:');
      t.type('crit2');
      await t.waitFor('crit2 is critical: it needs a fresh verification code');
      await t.waitFor('Verification code:');
      const code = g.totp(g.alice.totp.secret);
      t.type(code);
      // Past the code, the policy asks for approval as for any critical target.
      await t.waitFor('access needs approval by 2 different internal approvers');
      expect(t.screen()).not.toContain(code); // the code was not echoed
      t.send('C-c');
      await t.waitFor('SSH-EXIT=1');
      const accepted = (await g.services.audit.list({ action: 'auth.login.failed', limit: 5, newest: true })).filter((e) => e.details['reason'] === 'bad_otp');
      expect(accepted).toEqual([]);
    } finally {
      t.kill();
    }
  });

  it('a wrong fresh code from the menu is refused', async () => {
    const { k, cert } = await issueCert(g, dir, 'menu-bad');
    const t = new TmuxSsh(g.ssh, 'alice', { baseArgs: interactive(certArgs(g, k.key, cert)) });
    try {
      await t.waitFor('Your targets:');
      t.type('crit2');
      await t.waitFor('Verification code:');
      t.type('000000');
      await t.waitFor('SSH-EXIT=1');
      expect(t.screen()).toContain('login failed');
      await waitFor(async () => (await g.services.audit.list({ action: 'auth.login.failed', limit: 5, newest: true })).some((e) => e.details['reason'] === 'bad_otp'), { message: 'the bad code audited' });
    } finally {
      t.kill();
    }
  });

  it('why a session ends reaches the terminal inert, whatever the approver typed', async () => {
    const t = new TmuxSsh(g.ssh, 'alice@t1', { password: 'alice-correct-horse-1', totp: g.totp(g.alice.totp.secret), width: 200 });
    try {
      await t.waitFor(/\$\s*$/m);
      const [live] = g.services.sessions.list();
      expect(g.services.sessions.terminate(live!.id, 'session terminated by olivia: \x1b[2J\x1b]52;c;cm0gLXJmIH4K\x07gone')).toBe(true);
      await t.waitFor('SSH-EXIT=');
      const screen = t.screen();
      expect(screen).toContain('session terminated by olivia: \\u001b[2J\\u001b]52;c;cm0gLXJmIH4K\\u0007gone');
    } finally {
      t.kill();
    }
  });

  it('expiry says how to get access again', async () => {
    const { k, r, cert } = await issueCert(g, dir, 'expiring', { ttlMs: 120_000 });
    const t = new TmuxSsh(g.ssh, 'alice@t1', { baseArgs: interactive(certArgs(g, k.key, cert)) });
    try {
      await t.waitFor(/\$\s*$/m);
      // Move airlock's clock to just before the end of the login: the warning, then the end.
      g.clock.advance(r.login.expiresAt.getTime() - g.clock.now().getTime() - 1500);
      await t.waitFor('your access expires in');
      expect(t.screen()).toContain('run "airlock login" again, then reconnect');
      g.clock.advance(3_000);
      await t.waitFor('your airlock login has expired; run "airlock login" again, then reconnect');
      await t.waitFor('SSH-EXIT=');
    } finally {
      t.kill();
    }
  });
});
