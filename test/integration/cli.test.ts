import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openPglite } from '../../core/db.js';
import type { Db } from '../../core/db.js';
import { parseEd25519PublicKey } from '../../identity/index.js';
import { newKeyPair } from '../../cli/ssh-files.js';
import { loadOrCreateHostKey } from '../../gateway/index.js';
import { engines } from '../helpers/db.js';
import { createCliSandbox, oathtool, parseJson } from '../helpers/cli.js';
import type { CliResult, CliSandbox } from '../helpers/cli.js';

/**
 * The `airlock` command end to end: the built CLI against a real `airlock serve`
 * process, TOTP codes from the real `oathtool`. TOTP codes are single-use per
 * user, so each user logs in once per server (the one deliberate reuse is the
 * replay test).
 *
 * The tests in a describe block are steps of one story and run in order.
 */
interface InitOutput {
  dataDir: string;
  database: string;
  admin: string;
  password?: string;
  totp: { secret: string; uri: string };
}

interface Enrolment {
  user: { name: string; role: string; status: string; mfaEnrolled: boolean };
  password?: string;
  totp: { secret: string; uri: string };
}

interface ChainReport {
  ok: boolean;
  checked: number;
  headSeq: number;
  firstBad?: { seq: number; problem: string; detail: string };
}

// Each step starts real processes; a first PGlite initdb on a busy 2-core machine can take most of a minute.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });

const URI = /^otpauth:\/\/totp\/airlock:([a-z0-9._-]+)\?secret=([A-Z2-7]+)&issuer=airlock$/;

/** A readable failure: the command's output rides along with the exit code. */
function expectExit(r: CliResult, code: number): void {
  expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toMatchObject({ code });
}

function secretOf(uri: string): string {
  const m = URI.exec(uri);
  if (!m) throw new Error(`not a TOTP URI: ${uri}`);
  return m[2] as string;
}

/** Tamper with one audit row the way a database owner could: trigger off, UPDATE, trigger on. */
async function tamperAuditRow(query: (sql: string) => Promise<{ rows: Array<{ seq: number }> }>): Promise<number> {
  await query('ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change');
  const { rows } = await query("UPDATE audit_events SET actor = 'mallory' WHERE action = 'user.created' AND target = 'alice' RETURNING seq");
  await query('ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_change');
  expect(rows).toHaveLength(1);
  return Number(rows[0]?.seq);
}

describe.each(engines)('airlock CLI end to end on %s', (engine) => {
  const adminPassword = 'correct horse battery staple';
  const audraPassword = 'auditors read everything twice';
  let sb: CliSandbox;
  let init: InitOutput;
  let alice: Enrolment;
  let audra: Enrolment;

  beforeAll(async () => {
    sb = await createCliSandbox(engine);
  });
  afterAll(async () => {
    await sb?.cleanup();
  });

  it('init --json --password-stdin creates the data dir, master key, schema and first admin', async () => {
    const r = await sb.run(['init', '--json', '--password-stdin'], { input: adminPassword + '\n' });
    expectExit(r, 0);
    init = parseJson<InitOutput>(r);
    expect(init).toMatchObject({ dataDir: sb.dataDir, database: engine, admin: 'admin' });
    expect(init.password).toBeUndefined(); // chosen by the caller: never echoed
    expect(init.totp.uri).toMatch(URI);
    expect(secretOf(init.totp.uri)).toBe(init.totp.secret);
    const key = join(sb.dataDir, 'master.key');
    expect(existsSync(key)).toBe(true);
    expect(statSync(key).mode & 0o777).toBe(0o600);
    expect(r.stderr).toMatch(/master key is in .*master\.key, beside the data it protects/);
    expect(existsSync(join(sb.dataDir, 'db'))).toBe(engine === 'pglite');
  });

  it('serve prints its ready event and answers /readyz', async () => {
    const server = await sb.serve();
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.url).not.toMatch(/:0$/);
    const res = await fetch(`${server.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready' });
  });

  it('login takes the password on stdin and an oathtool code; the same code is refused the second time', async () => {
    const adminCode = oathtool(init.totp.secret);
    const r = await sb.run(['login', '--user', 'admin', '--password-stdin', '--totp', adminCode], { as: 'admin', input: adminPassword });
    expectExit(r, 0);
    expect(r.stdout).toContain(`Logged in to ${sb.url} as admin (admin)`);
    const creds = join(sb.home('admin'), 'credentials.json');
    expect(statSync(creds).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(creds, 'utf8'))).toMatchObject({ url: sb.url, user: 'admin', role: 'admin' });

    // RFC 6238 §5.2: a code is accepted once, even with the right password, from another client.
    const again = await sb.run(['login', '--user', 'admin', '--password-stdin', '--totp', adminCode], { as: 'admin-replay', input: adminPassword });
    expectExit(again, 3);
    expect(again.stderr).toMatch(/already used/);
    expect(existsSync(join(sb.home('admin-replay'), 'credentials.json'))).toBe(false);
  });

  it('status names the server, the user and the login', async () => {
    const text = await sb.run(['status'], { as: 'admin' });
    expectExit(text, 0);
    expect(text.stdout).toContain(`server:    ${sb.url}`);
    expect(text.stdout).toContain(`${engine} database`);
    expect(text.stdout).toContain('user:      admin (admin)');
    // Which code encrypts SSH: the native binding, or a loud slow fallback.
    expect(text.stdout).toMatch(/^sshCrypto: +native$/m);
    const json = parseJson<{ loggedIn: boolean; user: { name: string }; server: { database: string } }>(await sb.run(['status', '--json'], { as: 'admin' }));
    expect(json).toMatchObject({ url: sb.url, loggedIn: true, user: { name: 'admin', role: 'admin' }, server: { database: engine, sshCrypto: 'native' } });

    const nobody = await sb.run(['status'], { as: 'nobody' });
    expectExit(nobody, 3);
    expect(nobody.stdout).toMatch(/not logged in/);
  });

  it('user add prints the password and the TOTP URI; user list shows the users', async () => {
    const r = await sb.run(['user', 'add', 'alice', '--role', 'engineer', '--org', 'Acme MSP', '--json'], { as: 'admin' });
    expectExit(r, 0);
    alice = parseJson<Enrolment>(r);
    expect(alice.user).toMatchObject({ name: 'alice', role: 'engineer', status: 'active', mfaEnrolled: true, org: 'Acme MSP' });
    expect(alice.totp.uri).toMatch(URI);
    expect(URI.exec(alice.totp.uri)?.[1]).toBe('alice');
    expect(alice.password).toMatch(/^\S{16,}$/);

    const added = await sb.run(['user', 'add', 'audra', '--role', 'auditor', '--password-stdin', '--json'], { as: 'admin', input: audraPassword });
    expectExit(added, 0);
    audra = parseJson<Enrolment>(added);
    expect(audra.password).toBeUndefined();

    const dup = await sb.run(['user', 'add', 'alice', '--role', 'admin'], { as: 'admin' });
    expectExit(dup, 6);
    expect(dup.stderr).toMatch(/alice already exists/);

    const list = await sb.run(['user', 'list', '--json'], { as: 'admin' });
    expectExit(list, 0);
    const users = parseJson<Array<{ name: string; role: string; status: string }>>(list);
    expect(users.map((u) => [u.name, u.role, u.status])).toEqual([
      ['admin', 'admin', 'active'],
      ['alice', 'engineer', 'active'],
      ['audra', 'auditor', 'active'],
    ]);
    const table = await sb.run(['user', 'list'], { as: 'admin' });
    expect(table.stdout).toMatch(/^NAME\s+ROLE\s+STATUS/);
    expect(table.stdout).toMatch(/\nalice\s+engineer\s+active\s+Acme MSP\s+true/);
  });

  it('an engineer cannot manage users (exit 4) but may see their own status', async () => {
    // The secret is taken from the URI, as an authenticator app would.
    const login = await sb.run(['login', '--user', 'alice', '--password-stdin', '--totp', oathtool(secretOf(alice.totp.uri))], {
      as: 'alice',
      input: alice.password,
    });
    expectExit(login, 0);
    const add = await sb.run(['user', 'add', 'mallory', '--role', 'admin'], { as: 'alice' });
    expectExit(add, 4);
    expect(add.stderr).toMatch(/needs the admin role/);
    const list = await sb.run(['user', 'list', '--json'], { as: 'alice' });
    expectExit(list, 4);
    expect(parseJson<{ error: { code: string } }>(list).error.code).toBe('ERR_ROLE_REQUIRED');
    expectExit(await sb.run(['status'], { as: 'alice' }), 0);
    const show = await sb.run(['user', 'show', 'mallory'], { as: 'admin' });
    expectExit(show, 5); // nothing was created
  });

  it('user disable revokes the user’s login at once (exit 3 on their next call)', async () => {
    const r = await sb.run(['user', 'disable', 'alice'], { as: 'admin' });
    expectExit(r, 0);
    expect(r.stdout).toMatch(/^Disabled alice\b/);
    const status = await sb.run(['status'], { as: 'alice' });
    expectExit(status, 3);
    expect(status.stderr).toMatch(/login was ended|disabled/);
    const list = await sb.run(['user', 'list'], { as: 'alice' });
    expectExit(list, 3);
    const show = parseJson<{ status: string }>(await sb.run(['user', 'show', 'alice', '--json'], { as: 'admin' }));
    expect(show.status).toBe('disabled');
  });

  it('audit verify walks an intact chain (exit 0)', async () => {
    const login = await sb.run(['login', '--user', 'audra', '--password-stdin', '--totp', oathtool(audra.totp.secret)], { as: 'audra', input: audraPassword });
    expectExit(login, 0);
    const r = await sb.run(['audit', 'verify', '--json'], { as: 'audra' });
    expectExit(r, 0);
    const report = parseJson<ChainReport>(r);
    expect(report.ok).toBe(true);
    expect(report.firstBad).toBeUndefined();
    // init, start, logins, replayed login, 2 users, failures, disable …
    expect(report.checked).toBeGreaterThanOrEqual(8);
    const text = await sb.run(['audit', 'verify'], { as: 'audra' });
    expectExit(text, 0);
    expect(text.stdout).toMatch(/^audit chain intact: \d+ events, head at row \d+/);
  });

  it('logout ends the login on the server: admin verbs then fail with exit 3', async () => {
    const creds = join(sb.home('admin'), 'credentials.json');
    const saved = readFileSync(creds, 'utf8');
    const r = await sb.run(['logout'], { as: 'admin' });
    expectExit(r, 0);
    expect(r.stdout).toMatch(/^Logged out admin \(login [0-9a-f-]{36} revoked\)/);
    expect(existsSync(creds)).toBe(false);
    const list = await sb.run(['user', 'list'], { as: 'admin' });
    expectExit(list, 3);
    expect(list.stderr).toMatch(/not logged in/);
    // The token itself is dead on the server, not only forgotten by the CLI.
    writeFileSync(creds, saved, { mode: 0o600 });
    const stolen = await sb.run(['user', 'add', 'eve', '--role', 'admin'], { as: 'admin' });
    expectExit(stolen, 3);
    expect(stolen.stderr).toMatch(/login was ended/);
  });

  it.runIf(engine === 'pglite')('audit verify --direct while serve runs says the database is in use', async () => {
    const r = await sb.run(['audit', 'verify', '--direct']);
    expectExit(r, 8);
    expect(r.stderr).toMatch(/embedded database in .* is in use by process \d+ \(is "airlock serve" running\?/);
  });

  it.runIf(engine === 'postgres')('audit verify --direct reads PostgreSQL while serve runs', async () => {
    const r = await sb.run(['audit', 'verify', '--direct', '--json']);
    expectExit(r, 0);
    expect(parseJson<ChainReport>(r).ok).toBe(true);
  });

  it('a tampered audit row is named (exit 7)', async () => {
    let seq: number;
    if (engine === 'postgres') {
      // While the server runs, as the database owner.
      const client = new pg.Client({ connectionString: sb.databaseUrl });
      await client.connect();
      try {
        seq = await tamperAuditRow((sql) => client.query(sql));
      } finally {
        await client.end();
      }
      const viaApi = await sb.run(['audit', 'verify', '--json'], { as: 'audra' });
      expectExit(viaApi, 7);
      expect(parseJson<ChainReport>(viaApi).firstBad).toMatchObject({ seq, problem: 'hash_mismatch' });
    } else {
      // The embedded database belongs to the server: stop it, then edit the files.
      const stopped = await sb.stopServer();
      expect(stopped).toEqual({ code: 0, signal: null });
      let db: Db | undefined;
      try {
        db = await openPglite({ dir: join(sb.dataDir, 'db') });
        const d = db;
        seq = await tamperAuditRow((sql) => d.query<{ seq: number }>(sql));
      } finally {
        await db?.close();
      }
    }
    const text = await sb.run(['audit', 'verify', '--direct']);
    expectExit(text, 7);
    expect(text.stdout).toContain(`audit chain BROKEN at row ${seq} (hash_mismatch)`);
    expect(text.stdout).toContain(`row ${seq} (user.created) was changed or moved`);
    const json = await sb.run(['audit', 'verify', '--direct', '--json']);
    expectExit(json, 7);
    expect(parseJson<ChainReport>(json)).toMatchObject({ ok: false, checked: seq - 1, firstBad: { seq, problem: 'hash_mismatch' } });
  });
});

describe.each(engines)('airlock init with a generated password on %s', (engine) => {
  let sb: CliSandbox;
  let init: InitOutput;

  beforeAll(async () => {
    sb = await createCliSandbox(engine);
  });
  afterAll(async () => {
    await sb?.cleanup();
  });

  it('prints the generated password once; a second init refuses (exit 6)', async () => {
    const r = await sb.run(['init', '--admin', 'boss', '--json']);
    expectExit(r, 0);
    init = parseJson<InitOutput>(r);
    expect(init).toMatchObject({ admin: 'boss', database: engine });
    expect(init.password).toMatch(/^\S{16,}$/);
    expect(URI.exec(init.totp.uri)?.[1]).toBe('boss');

    const again = await sb.run(['init', '--admin', 'boss2']);
    expectExit(again, 6);
    expect(again.stderr).toMatch(/already initialised: .* has users/);
    expect(again.stdout).toBe('');
  });

  it('the generated password and the TOTP secret log in; serve stops cleanly on SIGTERM', async () => {
    await sb.serve();
    const login = await sb.run(['login', '--user', 'boss', '--password-stdin', '--totp', oathtool(init.totp.secret), '--ttl', '30m', '--json'], {
      input: init.password,
    });
    expectExit(login, 0);
    const out = parseJson<{ user: { name: string; role: string }; login: { createdAt: string; expiresAt: string } }>(login);
    expect(out.user).toMatchObject({ name: 'boss', role: 'admin' });
    const ttl = Date.parse(out.login.expiresAt) - Date.parse(out.login.createdAt);
    expect(ttl).toBeGreaterThan(29 * 60_000);
    expect(ttl).toBeLessThanOrEqual(30 * 60_000);
    const status = parseJson<{ user: { name: string } }>(await sb.run(['status', '--json']));
    expect(status.user.name).toBe('boss');

    expect(await sb.stopServer()).toEqual({ code: 0, signal: null });
    const down = await sb.run(['status']);
    expectExit(down, 8);
    expect(down.stderr).toMatch(/cannot reach the airlock server/);
  });
});

/**
 * The keys behind `airlock login` and `airlock serve`. ssh2 1.17's
 * generateKeyPairSync('ed25519') strips a leading zero byte from the public key
 * (about one key in 256; mscdex/ssh2#1390, #1513), so ~0.4% of its key pairs are
 * malformed: the server refuses such a login key (exit 2 from `airlock login`), and
 * such a host key stops `airlock serve` from starting, for good, since it is kept.
 * 2,000 tries make a miss all but certain (the chance of none is under 0.1%).
 */
describe('keys generated for login and serve', () => {
  it('every key pair "airlock login" generates is accepted by the server', () => {
    const refused: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const { publicKey } = newKeyPair();
      try {
        parseEd25519PublicKey(publicKey);
      } catch {
        refused.push(publicKey);
      }
    }
    expect(refused, `cli/ssh-files.ts newKeyPair(): ${refused.length} of 2000 public keys refused by the login route`).toEqual([]);
  });

  it('every host key "airlock serve" creates can be loaded again', () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-hostkey-'));
    const failures: string[] = [];
    try {
      for (let i = 0; i < 2000; i++) {
        rmSync(join(dir, 'ssh_host_ed25519_key'), { force: true });
        rmSync(join(dir, 'ssh_host_ed25519_key.pub'), { force: true });
        try {
          loadOrCreateHostKey(dir);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(failures, `gateway/host-key.ts loadOrCreateHostKey(): ${failures.length} of 2000 new host keys do not load`).toEqual([]);
  });
});
