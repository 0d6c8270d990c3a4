import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { engines } from '../helpers/db.js';
import { startGateway } from '../helpers/gateway.js';
import type { GatewayHarness } from '../helpers/gateway.js';
import { parseJson } from '../helpers/cli.js';
import type { SshResult } from '../helpers/ssh-client.js';
import {
  certArgs, certBlob, certLine, cliIn, cliLogin, extendValidity, issueCert, keygenList, keyPair, liveSsh, offerCertificate, privateKeyOf, resign, sshCert,
  writeCert,
} from '../helpers/cert-tools.js';
import type { KeyFiles } from '../helpers/cert-tools.js';

/**
 * airlock's SSH user CA end to end with the real OpenSSH tools: certificates from
 * identity.login and from `airlock login` as ssh-keygen -L shows them, the real
 * ssh logging in with them (no prompt), every kind of bad certificate refused
 * with its reason audited, CA rotation, and a fresh code for critical targets.
 */
const system = { name: 'test-admin' };

describe.each(engines)('SSH certificates on %s', (engine) => {
  let g: GatewayHarness;
  let dir: string;
  let seq = 0;
  let n = 0;
  const newEvents = async () => {
    const rows = await g.services.audit.list({ afterSeq: seq, limit: 1000 });
    seq = rows.at(-1)?.seq ?? seq;
    return rows;
  };
  const issue = (ttlMs?: number) => issueCert(g, dir, `k${++n}`, { ttlMs });
  const cli = (home: string, args: string[]) => cliIn(g, home, args);

  function expectOk(r: SshResult): void {
    expect({ code: r.code, stdout: r.stdout.toString(), stderr: r.stderr }).toMatchObject({ code: 0, stdout: 'ok\n' });
  }
  /** Refused: exit 255, nothing ran, no session; exactly this one failure audited (null: none, the offer never got that far). */
  async function expectRefused(r: SshResult | boolean, reason: string | null): Promise<void> {
    if (typeof r === 'boolean') expect(r).toBe(false);
    else {
      expect({ code: r.code, stdout: r.stdout.toString() }).toEqual({ code: 255, stdout: '' });
      expect(r.stderr).toMatch(/Permission denied \(publickey/);
    }
    const events = await newEvents();
    expect(events.map((e) => e.action)).not.toContain('auth.ssh.accepted');
    expect(events.map((e) => e.action)).not.toContain('session.start');
    const failed = events.filter((e) => e.action === 'auth.login.failed').map((e) => e.details['reason']);
    expect(failed).toEqual(reason === null ? [] : [`certificate_${reason}`]);
  }

  beforeAll(async () => {
    g = await startGateway(engine);
    dir = mkdtempSync(join(tmpdir(), 'airlock-certs-'));
    await newEvents();
  });
  afterAll(async () => {
    await g?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('ssh-keygen -L shows a user certificate with key id, principal, validity and extensions', async () => {
    const { r, cert } = await issue();
    const now = g.clock.now().getTime();
    const listed = keygenList(cert);
    expect(listed).toMatchObject({
      type: 'ssh-ed25519-cert-v01@openssh.com user certificate',
      keyId: `airlock:alice:${r.login.id}`,
      serial: r.certificate?.serial.toString(),
      principals: ['alice'],
      criticalOptions: [],
      extensions: ['permit-pty'],
    });
    expect(listed.signingCa).toContain(`ED25519 ${r.certificate?.caFingerprint} `);
    expect(Math.abs(listed.validFrom.getTime() - (now - 60_000))).toBeLessThanOrEqual(2000);
    expect(listed.validTo.getTime()).toBe(r.login.expiresAt.getTime());
    expect(r.login.expiresAt.getTime() - now).toBeGreaterThan(59 * 60_000); // the default hour
    expect(r.login.certSerial).toBe(r.certificate?.serial.toString());
    expect((await g.services.identity.logins.get(r.login.id))?.certSerial).toBe(r.certificate?.serial.toString());
  });

  it('permits port forwarding only when a grant allows it (API login)', async () => {
    const carol = await g.services.identity.users.add({ name: 'carol', role: 'engineer', password: 'carol-correct-horse-1', org: 'Acme MSP' }, system);
    await g.services.grants.grant(carol.user, g.target, { allowForwarding: true }, system);
    const k = keyPair(dir, 'carol');
    const res = await fetch(`${g.server.web.url}/api/v1/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'carol', password: 'carol-correct-horse-1', totp: g.totp(carol.totp.secret), publicKey: k.line }),
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { login: { id: string; certSerial: string }; certificate: { line: string; serial: string } };
    expect(body.login.certSerial).toBe(body.certificate.serial);
    const listed = keygenList(writeCert(dir, 'carol-c.pub', body.certificate.line));
    expect(listed).toMatchObject({ keyId: `airlock:carol:${body.login.id}`, principals: ['carol'], extensions: ['permit-port-forwarding', 'permit-pty'] });
    await newEvents();
  });

  it('the real ssh logs in with the certificate alone (BatchMode, no prompt), audited', async () => {
    const { k, r, cert } = await issue();
    expectOk(await sshCert(g, 'alice@t1', k.key, cert, ['echo ok']));
    const events = await newEvents();
    expect(events.find((e) => e.action === 'auth.ssh.accepted')).toMatchObject({
      actor: 'alice',
      details: { method: 'publickey', loginId: r.login.id, certificateSerial: r.certificate?.serial.toString(), target: 't1' },
    });
    expect(events.find((e) => e.action === 'session.start')).toMatchObject({ details: { loginId: r.login.id } });
    // The hand-driven client used for the cases below gets in with a good certificate too.
    expect(await offerCertificate(g, 'alice@t1', certBlob(r.certificate?.line as string), privateKeyOf(k))).toBe(true);
    await newEvents();
  });

  it('airlock login writes key, certificate and ssh_config; ssh -F works; airlock status shows the certificate', async () => {
    const home = mkdtempSync(join(tmpdir(), 'airlock-home-'));
    try {
      const r = await cliLogin(g, home);
      expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
      const out = parseJson<{ login: { id: string; expiresAt: string }; ssh: { key: string; certificate: string; config: string } }>(r);
      expect(out.ssh.certificate).toBe(join(home, 'id_ed25519-cert.pub'));
      expect(statSync(out.ssh.key).mode & 0o777).toBe(0o600);
      const listed = keygenList(out.ssh.certificate);
      expect(listed).toMatchObject({ keyId: `airlock:alice:${out.login.id}`, principals: ['alice'], extensions: ['permit-pty'] });
      expect(listed.validTo.getTime()).toBe(new Date(out.login.expiresAt).getTime());
      expect(Math.abs(listed.validFrom.getTime() - (g.clock.now().getTime() - 60_000))).toBeLessThanOrEqual(5000);
      expect(readFileSync(out.ssh.config, 'utf8')).toMatch(/^Host t1$/m);
      expectOk(await g.ssh.spawn('ssh', ['-F', out.ssh.config, '-o', 'BatchMode=yes', 't1', 'echo ok'], {}));
      const status = await cli(home, ['status']);
      expect(status.code).toBe(0);
      expect(status.stdout).toContain(`serial ${listed.serial}`);
      expect(status.stdout).toContain(out.ssh.certificate);
      await newEvents();
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  describe('refused certificates', () => {
    it('an expired one', async () => {
      const { k, r, cert } = await issue(5_000);
      g.clock.advance(r.login.expiresAt.getTime() - g.clock.now().getTime() + 1000);
      await expectRefused(await sshCert(g, 'alice@t1', k.key, cert, ['echo ok']), 'expired');
    });

    it('a not-yet-valid one (airlock clock 5 minutes behind)', async () => {
      const { k, cert } = await issue();
      await newEvents();
      const offset = g.clock.offsetMs;
      g.clock.offsetMs = offset - 5 * 60_000;
      try {
        await expectRefused(await sshCert(g, 'alice@t1', k.key, cert, ['echo ok']), 'not_yet_valid');
      } finally {
        g.clock.offsetMs = offset;
      }
    });

    it("another user's name (wrong principal)", async () => {
      const bob = await g.services.identity.users.add({ name: 'bob', role: 'engineer', password: 'bob-correct-horse-12', org: 'Acme MSP' }, system);
      await g.services.grants.grant(bob.user, g.target, {}, system);
      const { k, cert } = await issue();
      await newEvents();
      await expectRefused(await sshCert(g, 'bob@t1', k.key, cert, ['echo ok']), 'wrong_principal');
    });

    it('a revoked one', async () => {
      const { k, r, cert } = await issue();
      await g.services.identity.revokeLogin(r.login.id, system, 'revoked by admin');
      await newEvents();
      await expectRefused(await sshCert(g, 'alice@t1', k.key, cert, ['echo ok']), 'revoked');
    });

    it('one signed by another CA with ssh-keygen -s (same key id and serial)', async () => {
      const { k, r } = await issue();
      const other = keyPair(dir, `otherca${n}`);
      const serial = r.certificate?.serial.toString() as string;
      execFileSync('ssh-keygen', ['-q', '-s', other.key, '-I', `airlock:alice:${r.login.id}`, '-n', 'alice', '-V', '-5m:+1h', '-z', serial, k.pub]);
      const cert = `${k.key}-other.pub`;
      renameSync(`${k.key}-cert.pub`, cert); // not next to the key, so ssh offers it once
      expect(keygenList(cert)).toMatchObject({ keyId: `airlock:alice:${r.login.id}`, serial, principals: ['alice'] });
      await newEvents();
      await expectRefused(await sshCert(g, 'alice@t1', k.key, cert, ['echo ok']), 'unknown_ca');
    });

    it('one with a flipped byte (validity extended): OpenSSH will not even send it; sent anyway, airlock refuses it', async () => {
      const { k, line } = await issue();
      const forged = extendValidity(certBlob(line));
      await newEvents();
      await expectRefused(await sshCert(g, 'alice@t1', k.key, writeCert(dir, `k${n}-flipped.pub`, certLine(forged)), ['echo ok']), null);
      await expectRefused(await offerCertificate(g, 'alice@t1', forged, privateKeyOf(k)), 'bad_ca_signature');
    });

    it('one whose signing key is itself a certificate (Teleport CVE-2025-49825)', async () => {
      // Alice's genuine certificate for key K as "CA"; a certificate signed with K.
      const { k, line } = await issue();
      const forged = resign(certBlob(line), certBlob(line), privateKeyOf(k));
      await newEvents();
      await expectRefused(await offerCertificate(g, 'alice@t1', forged, privateKeyOf(k)), 'unknown_ca');
    });

    it('a good certificate with a garbage session signature', async () => {
      const { k, line } = await issue();
      await newEvents();
      await expectRefused(await offerCertificate(g, 'alice@t1', certBlob(line), privateKeyOf(k), { garbageSignature: true }), 'bad_signature');
    });

    it('one pinned to another source address (source-address critical option)', async () => {
      const pinned = (source: string) => issueCert(g, dir, `pin${++n}`, { source, pinSource: true });
      const here = await pinned('127.0.0.1');
      expect(keygenList(here.cert).criticalOptions).toEqual(['source-address 127.0.0.1']);
      expectOk(await sshCert(g, 'alice@t1', here.k.key, here.cert, ['echo ok']));
      const elsewhere = await pinned('192.0.2.7');
      await newEvents();
      await expectRefused(await sshCert(g, 'alice@t1', elsewhere.k.key, elsewhere.cert, ['echo ok']), 'source_address');
    });

    it('a plain public key', async () => {
      const k = keyPair(dir, 'plain');
      await expectRefused(await sshCert(g, 'alice@t1', k.key, undefined, ['echo ok']), null);
      expect(existsSync(`${k.key}-cert.pub`)).toBe(false);
    });
  });

  it('CA rotation: old certificates keep working, new ones carry the new CA; airlock ca show lists both', async () => {
    const before = await issue();
    const oldFp = before.r.certificate?.caFingerprint as string;
    await g.services.identity.ca.rotate();
    const after = await issue();
    const newFp = after.r.certificate?.caFingerprint as string;
    expect(newFp).not.toBe(oldFp);
    expect(keygenList(after.cert).signingCa).toContain(`ED25519 ${newFp} `);
    expect(keygenList(before.cert).signingCa).toContain(`ED25519 ${oldFp} `);
    expectOk(await sshCert(g, 'alice@t1', before.k.key, before.cert, ['echo ok']));
    expectOk(await sshCert(g, 'alice@t1', after.k.key, after.cert, ['echo ok']));

    const home = mkdtempSync(join(tmpdir(), 'airlock-home-'));
    try {
      expect((await cliLogin(g, home, ['--no-ssh'])).code).toBe(0);
      const show = await cli(home, ['--json', 'ca', 'show']);
      expect(show.code).toBe(0);
      const keys = parseJson<Array<{ line: string; fingerprint: string; signing: boolean }>>(show);
      expect(keys.map((k) => [k.fingerprint, k.signing])).toEqual([[oldFp, false], [newFp, true]]);
      // The fingerprints are OpenSSH's own for the listed public keys.
      for (const key of keys) {
        writeFileSync(join(home, 'ca.pub'), key.line + '\n');
        expect(execFileSync('ssh-keygen', ['-l', '-f', join(home, 'ca.pub')], { encoding: 'utf8' })).toContain(` ${key.fingerprint} `);
      }
      expect((await cli(home, ['ca', 'show'])).stdout).toMatch(/\(signing\)[\s\S]*verifying only|verifying only[\s\S]*\(signing\)/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
    // Once everything the old key signed has expired, it is no longer trusted.
    g.clock.advance(g.services.config.auth.maxLoginTtl + 3 * 60_000);
    expect(g.services.identity.ca.publicKeys().map((k) => k.fingerprint)).toEqual([newFp]);
    await newEvents();
    await expectRefused(await sshCert(g, 'alice@t1', before.k.key, before.cert, ['echo ok']), 'unknown_ca');
  });

  describe('critical target: a fresh code after the certificate', () => {
    const sshCritical = async (k: KeyFiles, cert: string, code: string) => {
      const askpass = join(dir, 'askpass-log');
      const log = join(dir, `prompts-${++n}.log`);
      writeFileSync(askpass, '#!/bin/sh\necho "$1" >> "$PROMPT_LOG"\ncase "$1" in *erification*) printf \'%s\\n\' "$AIRLOCK_TEST_TOTP" ;; *) exit 1 ;; esac\n', { mode: 0o755 });
      const args = ['-o', 'PreferredAuthentications=publickey,keyboard-interactive', '-o', 'BatchMode=no', '-o', 'NumberOfPasswordPrompts=1', ...certArgs(g, k.key, cert), 'alice@crit1@127.0.0.1', 'echo ok'];
      const run = liveSsh(g, args, { ...g.ssh.env({ totp: code }), SSH_ASKPASS: askpass, PROMPT_LOG: log });
      const exit = await run.exited;
      return { code: exit.code, stdout: run.stdout(), stderr: run.stderr(), prompts: existsSync(log) ? readFileSync(log, 'utf8') : '' };
    };

    beforeAll(async () => {
      const crit = await g.services.targets.add(
        { name: 'crit1', host: '127.0.0.1', port: g.sshd.port, login: g.sshd.login, secret: { kind: 'key', secret: g.sshd.clientKey }, sensitivity: 'critical', hostKey: g.sshd.hostKey },
        system,
      );
      await g.services.grants.grant(g.alice.user, crit, {}, system);
    });

    it('asks only "Verification code:"; a valid code gets past authentication (then policy wants approval)', async () => {
      const { k, r, cert } = await issue();
      await newEvents();
      const res = await sshCritical(k, cert, g.totp(g.alice.totp.secret));
      const prompts = res.prompts.trim().split('\n');
      expect(prompts).toHaveLength(1);
      expect(prompts[0]).toMatch(/^\(alice@crit1@127\.0\.0\.1\) Verification code: ?$/);
      expect(res.stdout).toBe('');
      expect(res.code).toBe(1);
      expect(res.stderr).toContain('airlock: crit1 is critical: approval required');
      const events = await newEvents();
      expect(events.find((e) => e.action === 'auth.ssh.accepted')).toMatchObject({ details: { method: 'certificate+totp', loginId: r.login.id } });
      expect(events.find((e) => e.action === 'session.denied')).toMatchObject({ actor: 'alice', details: { reason: 'ERR_APPROVAL_REQUIRED' } });
    });

    it('a wrong code is refused', async () => {
      const { k, cert } = await issue();
      await newEvents();
      const good = g.totp(g.alice.totp.secret);
      const res = await sshCritical(k, cert, good.replace(/\d/g, (d) => String((Number(d) + 5) % 10)));
      expect(res.code).toBe(255);
      expect(res.stdout).toBe('');
      expect(res.stderr).toContain('airlock: login failed');
      const events = await newEvents();
      expect(events.map((e) => e.action)).not.toContain('auth.ssh.accepted');
      expect(events.filter((e) => e.action === 'auth.login.failed').map((e) => e.details['reason'])).toContain('bad_otp');
    });
  });
});
