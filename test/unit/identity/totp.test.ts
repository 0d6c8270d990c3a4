import { execFileSync } from 'node:child_process';
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { ManualClock } from '../../../core/clock.js';
import { AirlockError } from '../../../core/errors.js';
import type { Credentials } from '../../../identity/index.js';
import { engines } from '../../helpers/db.js';
import { openTestServices } from '../../helpers/services.js';
import type { TestServices } from '../../helpers/services.js';

/**
 * Password + TOTP authentication against codes made by the real `oathtool`
 * (RFC 6238 reference behaviour), with the service clock moved by hand:
 * replay (RFC 6238 §5.2), the ±1 step window, back-off, lockout and audit reasons.
 */
const PASSWORD = 'correct-horse-battery';
const ADDR = '203.0.113.7';
const T0 = Date.UTC(2026, 0, 1, 0, 10, 0); // on a 30 s step boundary
const admin = { name: 'admin' };

/** The code oathtool computes for `secret` at `at` (oathtool takes whole seconds, UTC). */
function oathtool(secret: string, at: Date): string {
  const when = at.toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC');
  const out = execFileSync('/usr/bin/oathtool', ['--totp', '-b', '--now', when, secret], { encoding: 'utf8' }).trim();
  expect(out).toMatch(/^\d{6}$/);
  return out;
}

/** Runs fn, which must reject with an AirlockError; returns it. */
async function refused(fn: () => Promise<unknown>): Promise<AirlockError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AirlockError);
    return err as AirlockError;
  }
  throw new Error('expected a refusal, but it succeeded');
}

describe.each(engines)('TOTP login on %s', (engine) => {
  let s: TestServices;
  let clock: ManualClock;
  let secret: string;

  beforeEach(async () => {
    clock = new ManualClock(T0);
    s = await openTestServices(engine, { clock });
    const enrolment = await s.identity.users.add({ name: 'alice', role: 'engineer', password: PASSWORD }, admin);
    secret = enrolment.totp.secret;
  });
  afterEach(() => s.close());

  const creds = (over: Partial<Credentials> = {}): Credentials => ({
    name: 'alice',
    password: PASSWORD,
    totp: oathtool(secret, clock.now()),
    source: ADDR,
    ...over,
  });
  const codeAt = (offsetMs: number) => oathtool(secret, new Date(clock.now().getTime() + offsetMs));
  const failureReasons = async () =>
    (
      await s.db.query<{ details: { reason: string } }>("SELECT details FROM audit_events WHERE action = 'auth.login.failed' ORDER BY seq")
    ).rows.map((r) => r.details.reason);

  it('accepts a code from oathtool, through authenticate and login', async () => {
    clock.advance(12_000); // mid-step
    const user = await s.identity.authenticate(creds(), 'api');
    expect(user).toMatchObject({ name: 'alice', status: 'active', mfaEnrolled: true });

    clock.advance(30_000); // next step: a fresh code
    const result = await s.identity.login(creds(), { channel: 'api' });
    expect(result.user.name).toBe('alice');
    expect(result.login.expiresAt.getTime() - clock.now().getTime()).toBeLessThanOrEqual(s.config.auth.loginTtl);
    const who = await s.identity.authenticateToken(result.token);
    expect(who.user.id).toBe(user.id);
    expect(who.login.id).toBe(result.login.id);
    expect(await failureReasons()).toEqual([]);
  });

  it('refuses the same code twice, and any older code of the window after it', async () => {
    clock.advance(5_000);
    const code = codeAt(0);
    const previous = codeAt(-30_000);
    await s.identity.authenticate(creds({ totp: code }), 'api');

    const again = await refused(() => s.identity.login(creds({ totp: code }), { channel: 'api' }));
    expect(again.code).toBe('ERR_OTP_REPLAYED');
    // The previous step's code is inside the window but before the used one: also a replay.
    const older = await refused(() => s.identity.authenticate(creds({ totp: previous }), 'ssh'));
    expect(older.code).toBe('ERR_OTP_REPLAYED');
    expect(await failureReasons()).toEqual(['otp_replayed', 'otp_replayed']);

    // The next step's code is fine.
    clock.advance(30_000);
    await expect(s.identity.authenticate(creds(), 'api')).resolves.toMatchObject({ name: 'alice' });
  });

  it('lets only one of two simultaneous logins with one code through', async () => {
    const c = creds();
    const results = await Promise.allSettled([s.identity.login(c, { channel: 'api' }), s.identity.login(c, { channel: 'ssh' })]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(rejected.map((r) => (r.reason as AirlockError).code)).toEqual(['ERR_OTP_REPLAYED']);
    const logins = await s.db.query("SELECT 1 FROM audit_events WHERE action = 'auth.login.succeeded'");
    expect(logins.rows).toHaveLength(1);
  });

  it.each([0, 1_000, 15_000, 29_000])('accepts ±1 step and refuses ±2 steps (%i ms into a step)', async (into) => {
    clock.advance(into);
    const oneOld = codeAt(-30_000);
    const twoOld = codeAt(-60_000);
    const twoAhead = codeAt(60_000);
    const oneAhead = codeAt(30_000);

    for (const code of [twoOld, twoAhead]) {
      const err = await refused(() => s.identity.authenticate(creds({ totp: code }), 'api'));
      expect(err.code).toBe('ERR_LOGIN_FAILED');
    }
    await expect(s.identity.authenticate(creds({ totp: oneOld }), 'api')).resolves.toMatchObject({ name: 'alice' });
    await expect(s.identity.authenticate(creds({ totp: oneAhead }), 'api')).resolves.toMatchObject({ name: 'alice' });
    expect(await failureReasons()).toEqual(['bad_otp', 'bad_otp']);
  });

  it('refuses malformed codes and overlong input without throwing anything else', async () => {
    for (const totp of ['', '12345', '1234567', 'abcdef', '12345a']) {
      expect((await refused(() => s.identity.authenticate(creds({ totp }), 'api'))).code).toBe('ERR_LOGIN_FAILED');
      clock.advance(20 * 60_000); // past any back-off
    }
    const long = await refused(() => s.identity.authenticate(creds({ password: 'x'.repeat(5000) }), 'api'));
    expect(long.code).toBe('ERR_LOGIN_FAILED');
    expect(await failureReasons()).toEqual(['bad_otp', 'bad_otp', 'bad_otp', 'bad_otp', 'bad_otp', 'input_too_long']);
  });

  it('backs off after the free attempts, then locks the user until an admin unlocks', async () => {
    const { freeAttempts, lockoutAfter, baseBackoff } = s.config.auth;
    let failures = 0;
    // Alternate wrong passwords and wrong codes: both count.
    const attempt = (i: number) =>
      s.identity.authenticate(i % 2 ? creds({ password: 'wrong-password-' + i }) : creds({ totp: codeAt(-90_000) }), 'api');
    while (failures < lockoutAfter - 1) {
      const err = await refused(() => attempt(failures));
      expect(err.code).toBe('ERR_LOGIN_FAILED');
      failures++;
      if (failures >= freeAttempts) {
        const wait = baseBackoff * 2 ** (failures - freeAttempts);
        // Even the right credentials wait out the back-off.
        const limited = await refused(() => s.identity.authenticate(creds(), 'api'));
        expect(limited.code).toBe('ERR_RATE_LIMITED');
        expect(limited.status).toBe(429);
        expect(limited.retryAfter).toBe(Math.ceil(wait / 1000));
        clock.advance(wait);
      }
    }
    const last = await refused(() => attempt(failures));
    expect(last.code).toBe('ERR_ACCOUNT_LOCKED');
    expect(last.status).toBe(423);

    // Still locked a day later, with the right password and a fresh code.
    clock.advance(24 * 60 * 60_000);
    expect((await refused(() => s.identity.authenticate(creds(), 'api'))).code).toBe('ERR_ACCOUNT_LOCKED');

    const reasons = await failureReasons();
    expect(reasons.filter((r) => r === 'throttled')).toHaveLength(lockoutAfter - freeAttempts);
    expect(reasons.filter((r) => r === 'bad_password' || r === 'bad_otp')).toHaveLength(lockoutAfter);
    expect(reasons.at(-1)).toBe('locked');
    const locked = await s.db.query("SELECT 1 FROM audit_events WHERE action = 'auth.account.locked' AND target = 'alice'");
    expect(locked.rows).toHaveLength(1);

    await s.identity.unlock('alice', admin);
    clock.advance(30_000);
    await expect(s.identity.authenticate(creds(), 'api')).resolves.toMatchObject({ name: 'alice' });
    const unlocked = await s.db.query<{ details: { wasThrottled: boolean } }>("SELECT details FROM audit_events WHERE action = 'user.unlocked'");
    expect(unlocked.rows).toEqual([{ details: { wasThrottled: true } }]);
  });

  it('a success clears the user count, so failures must be consecutive to lock', async () => {
    const { lockoutAfter } = s.config.auth;
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < lockoutAfter - 1; i++) {
        const err = await refused(() => s.identity.authenticate(creds({ password: 'wrong-password', source: `198.51.100.${round * 20 + i}` }), 'api'));
        expect(err.code).toBe('ERR_LOGIN_FAILED');
        clock.advance(s.config.auth.maxBackoff); // past the user's back-off
      }
      await expect(s.identity.authenticate(creds({ source: '192.0.2.1' }), 'api')).resolves.toMatchObject({ name: 'alice' });
    }
  });

  it('slows an address guessing unknown user names, without locking it or others', async () => {
    const { freeAttempts, baseBackoff, lockoutAfter } = s.config.auth;
    const guess = (name: string, source = ADDR) => s.identity.authenticate(creds({ name, password: 'guess-guess-guess', source }), 'api');
    for (let i = 0; i < freeAttempts; i++) expect((await refused(() => guess(`nobody${i}`))).code).toBe('ERR_LOGIN_FAILED');

    const limited = await refused(() => guess('nobody-else'));
    expect(limited.code).toBe('ERR_RATE_LIMITED');
    expect(limited.retryAfter).toBe(Math.ceil(baseBackoff / 1000));
    // The address is slowed for real users too; another address is not.
    expect((await refused(() => s.identity.authenticate(creds(), 'api'))).code).toBe('ERR_RATE_LIMITED');
    expect((await refused(() => guess('nobody', '198.51.100.9'))).code).toBe('ERR_LOGIN_FAILED');
    await expect(s.identity.authenticate(creds({ source: '198.51.100.10' }), 'api')).resolves.toMatchObject({ name: 'alice' });

    // Addresses are never locked, however many failures.
    for (let i = 0; i < lockoutAfter + 2; i++) {
      clock.advance(s.config.auth.maxBackoff);
      expect((await refused(() => guess(`nobody${i}`))).code).toBe('ERR_LOGIN_FAILED');
    }
    expect((await refused(() => guess('nobody'))).code).toBe('ERR_RATE_LIMITED');

    // An hour after the last failure the address starts over.
    clock.advance(61 * 60_000);
    expect((await refused(() => guess('nobody'))).code).toBe('ERR_LOGIN_FAILED');
    expect((await refused(() => guess('nobody'))).code).toBe('ERR_LOGIN_FAILED');

    const reasons = await failureReasons();
    expect(new Set(reasons)).toEqual(new Set(['unknown_user', 'throttled']));
    const row = await s.db.query("SELECT 1 FROM audit_events WHERE action = 'auth.account.locked'");
    expect(row.rows).toHaveLength(0);
  });

  it('refuses a disabled user with the right password and code, and says so only then', async () => {
    await s.identity.users.setStatus('alice', 'disabled', admin);
    const wrongPassword = await refused(() => s.identity.authenticate(creds({ password: 'not-the-password' }), 'api'));
    expect(wrongPassword.code).toBe('ERR_LOGIN_FAILED');
    const err = await refused(() => s.identity.login(creds(), { channel: 'web' }));
    expect(err.code).toBe('ERR_ACCOUNT_DISABLED');
    expect(err.status).toBe(403);

    const rows = (
      await s.db.query<{ actor: string | null; target: string; source: string; details: Record<string, unknown> }>(
        "SELECT actor, target, source, details FROM audit_events WHERE action = 'auth.login.failed' ORDER BY seq",
      )
    ).rows;
    expect(rows).toEqual([
      { actor: 'alice', target: 'alice', source: ADDR, details: { reason: 'bad_password', channel: 'api' } },
      { actor: 'alice', target: 'alice', source: ADDR, details: { reason: 'disabled', channel: 'web' } },
    ]);
    const succeeded = await s.db.query("SELECT 1 FROM audit_events WHERE action = 'auth.login.succeeded'");
    expect(succeeded.rows).toHaveLength(0);

    await s.identity.users.setStatus('alice', 'active', admin);
    clock.advance(30_000);
    await expect(s.identity.authenticate(creds(), 'api')).resolves.toMatchObject({ status: 'active' });
  });

  it('refuses a user without a TOTP seed', async () => {
    await s.db.query("UPDATE users SET totp_secret_enc = NULL WHERE name = 'alice'");
    const err = await refused(() => s.identity.authenticate(creds(), 'api'));
    expect(err.code).toBe('ERR_OTP_NOT_ENROLLED');
    expect(await failureReasons()).toEqual(['mfa_not_enrolled']);
  });
});
