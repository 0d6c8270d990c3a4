import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { loadConfig, insecureSettings, parseListen } from '../../../core/config.js';
import type { LoadConfigOptions } from '../../../core/config.js';
import { AirlockError } from '../../../core/errors.js';

/**
 * Configuration is checked once at start-up: every bad value stops airlock with
 * ERR_CONFIG_INVALID and a message naming the setting and where it came from.
 */
let dir: string;
let empty: string; // a data dir without airlock.yaml, so no file is picked up implicitly

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-config-'));
  empty = join(dir, 'empty');
  mkdirSync(empty);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function yamlFile(text: string): string {
  const path = join(dir, `c${++n}.yaml`);
  writeFileSync(path, text);
  return path;
}

const load = (options: LoadConfigOptions) => loadConfig({ ...options, env: { AIRLOCK_DATA_DIR: empty, ...options.env } });

/** The ERR_CONFIG_INVALID error loading options gives; checks its message names each of `mentions`. */
function configError(options: LoadConfigOptions, ...mentions: string[]): AirlockError {
  let error: unknown;
  try {
    load(options);
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(AirlockError);
  const e = error as AirlockError;
  expect(e.code).toBe('ERR_CONFIG_INVALID');
  for (const m of mentions) expect(e.message).toContain(m);
  return e;
}

describe('loadConfig: bad values name the setting and its source', () => {
  it.each([
    ['AIRLOCK_WEB_LISTEN', 'localhost', 'web.listen'],
    ['AIRLOCK_WEB_LISTEN', '127.0.0.1:70000', 'web.listen'],
    ['AIRLOCK_WEB_LISTEN', ':8080', 'web.listen'],
    ['AIRLOCK_SSH_LISTEN', '0.0.0.0:ssh', 'ssh.listen'],
    ['AIRLOCK_SSH_LISTEN', '[::1]:99999', 'ssh.listen'],
    ['AIRLOCK_DATABASE_URL', 'mysql://db.example/airlock', 'databaseUrl'],
    ['AIRLOCK_DATABASE_URL', '/var/lib/airlock.db', 'databaseUrl'],
    ['AIRLOCK_LOG_LEVEL', 'verbose', 'log.level'],
    ['AIRLOCK_LOG_LEVEL', 'INFO', 'log.level'],
    ['AIRLOCK_DEMO', 'maybe', 'demo'],
    ['AIRLOCK_LOGIN_TTL', 'an hour', 'auth.loginTtl'],
  ])('%s=%s', (name, value, setting) => {
    const e = configError({ env: { [name]: value } }, setting, name);
    expect(e.message).toMatch(new RegExp(`^\\s*${setting.replace('.', '\\.')}:`, 'm'));
  });

  it('does not echo a database URL (it may hold a password)', () => {
    const e = configError({ env: { AIRLOCK_DATABASE_URL: 'mysql://admin:s3cret-pw@db.example/airlock' } }, 'databaseUrl');
    expect(e.message).not.toContain('s3cret-pw');
  });

  it('names the file for bad values in it', () => {
    const file = yamlFile('auth:\n  loginTtl: 5 minutes\n');
    configError({ file }, 'auth.loginTtl', file, '5 minutes');
    const port = yamlFile('web:\n  listen: "127.0.0.1:70000"\n');
    configError({ file: port }, 'web.listen', port);
    const number = yamlFile('auth:\n  lockoutAfter: "ten"\n');
    configError({ file: number }, 'auth.lockoutAfter', number);
  });

  it('names every bad setting at once', () => {
    const file = yamlFile('auth:\n  totpWindow: 5\n');
    configError({ file, env: { AIRLOCK_WEB_LISTEN: 'nope', AIRLOCK_LOG_LEVEL: 'loud' } }, 'web.listen', 'AIRLOCK_WEB_LISTEN', 'log.level', 'AIRLOCK_LOG_LEVEL', 'auth.totpWindow', file);
  });

  it('refuses unknown keys (typos) at the top level and inside sections', () => {
    const top = yamlFile('lgo:\n  level: debug\n');
    configError({ file: top }, 'lgo', top);
    const nested = yamlFile('auth:\n  lockotAfter: 5\n');
    configError({ file: nested }, 'auth', 'lockotAfter', nested);
  });

  it('refuses a login duration longer than the maximum, or under a minute', () => {
    configError({ file: yamlFile('auth:\n  loginTtl: 9h\n') }, 'auth.loginTtl', 'auth.maxLoginTtl');
    configError({ file: yamlFile('auth:\n  loginTtl: 2h\n  maxLoginTtl: 1h\n') }, 'auth.loginTtl', 'auth.maxLoginTtl');
    configError({ env: { AIRLOCK_LOGIN_TTL: '9h' } }, 'auth.loginTtl', 'auth.maxLoginTtl');
    configError({ env: { AIRLOCK_LOGIN_TTL: '30s' } }, 'auth.loginTtl', '1m');
    expect(load({ env: { AIRLOCK_LOGIN_TTL: '8h' } }).auth.loginTtl).toBe(8 * 3_600_000);
  });

  it('refuses a file that is not YAML, not a mapping, or not there', () => {
    const broken = yamlFile('web:\n  listen: [127.0.0.1:8080\nlog: {\n');
    configError({ file: broken }, broken);
    const dup = yamlFile('demo: false\ndemo: true\n');
    configError({ file: dup }, dup);
    for (const text of ['- web\n- ssh\n', 'just a string\n', '42\n']) {
      const file = yamlFile(text);
      configError({ file }, file, 'mapping');
    }
    const missing = join(dir, 'no-such.yaml');
    configError({ file: missing }, missing);
    configError({ env: { AIRLOCK_CONFIG: missing } }, missing);
  });
});

describe('loadConfig: values, precedence, freezing', () => {
  it('fills the documented defaults', () => {
    const cwd = process.cwd();
    process.chdir(empty); // the default data dir is relative: keep it away from the repository
    try {
      const config = loadConfig({ env: {} });
      expect(config).toMatchObject({
        dataDir: resolve(empty, '.airlock'),
        demo: false,
        log: { level: 'info' },
        ssh: { listen: { host: '0.0.0.0', port: 2222 } },
        web: { listen: { host: '127.0.0.1', port: 8080 }, maxBodyBytes: 65536, trustProxy: false },
        auth: {
          loginTtl: 3_600_000,
          maxLoginTtl: 8 * 3_600_000,
          totpWindow: 1,
          freeAttempts: 3,
          baseBackoff: 1000,
          maxBackoff: 15 * 60_000,
          lockoutAfter: 10,
        },
        tokens: { issuer: 'airlock', audience: 'airlock-api' },
        configFile: undefined,
      });
      expect(config.databaseUrl).toBeUndefined();
      expect(config.masterKey).toBeUndefined();
      expect(config.masterKeyFile).toBeUndefined();
    } finally {
      process.chdir(cwd);
    }
  });

  it('reads values and durations from the file, and env wins over it, flags over both', () => {
    const file = yamlFile(
      ['web:', '  listen: "0.0.0.0:9000"', 'log:', '  level: debug', 'auth:', '  loginTtl: 1h30m', '  baseBackoff: 500', 'demo: true'].join('\n'),
    );
    const fromFile = load({ file });
    expect(fromFile).toMatchObject({ web: { listen: { host: '0.0.0.0', port: 9000 } }, log: { level: 'debug' }, demo: true, configFile: file });
    expect(fromFile.auth).toMatchObject({ loginTtl: 90 * 60_000, baseBackoff: 500 });

    const env = { AIRLOCK_WEB_LISTEN: '[::1]:9001', AIRLOCK_DEMO: 'off', AIRLOCK_LOGIN_TTL: '2h' };
    const withEnv = load({ file, env });
    expect(withEnv.web.listen).toEqual({ host: '::1', port: 9001 });
    expect(withEnv.demo).toBe(false);
    expect(withEnv.auth.loginTtl).toBe(2 * 3_600_000);
    expect(withEnv.log.level).toBe('debug'); // not in env: the file's value stays

    const withFlags = load({ file, env, overrides: { 'web.listen': '127.0.0.1:0', demo: true } });
    expect(withFlags.web.listen).toEqual({ host: '127.0.0.1', port: 0 });
    expect(withFlags.demo).toBe(true);
  });

  it('finds the file through AIRLOCK_CONFIG or the data dir, and ignores empty env values', () => {
    const file = yamlFile('log:\n  level: warn\n');
    expect(load({ env: { AIRLOCK_CONFIG: file } })).toMatchObject({ log: { level: 'warn' }, configFile: file });
    const dataDir = join(dir, 'data');
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'airlock.yaml'), 'log:\n  level: error\n');
    const implicit = load({ env: { AIRLOCK_DATA_DIR: dataDir, AIRLOCK_LOG_LEVEL: '' } });
    expect(implicit).toMatchObject({ dataDir, log: { level: 'error' }, configFile: join(dataDir, 'airlock.yaml') });
    expect(load({ file: yamlFile('') }).log.level).toBe('info'); // an empty file is no settings
  });

  it.each([
    ['1', true],
    ['yes', true],
    ['TRUE', true],
    ['0', false],
    ['no', false],
    ['off', false],
  ])('reads AIRLOCK_DEMO=%s as %s', (value, expected) => {
    expect(load({ env: { AIRLOCK_DEMO: value } }).demo).toBe(expected);
  });

  it('returns a deeply frozen object', () => {
    const config = load({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.web.listen)).toBe(true);
    expect(Object.isFrozen(config.auth)).toBe(true);
    expect(() => {
      (config.auth as { lockoutAfter: number }).lockoutAfter = 1_000_000;
    }).toThrow(TypeError);
    expect(() => {
      (config as { demo: boolean }).demo = true;
    }).toThrow(TypeError);
    expect(config.auth.lockoutAfter).toBe(10);
    expect(config.demo).toBe(false);
  });
});

describe('insecureSettings', () => {
  it('warns about nothing with the defaults', () => {
    expect(insecureSettings(load({}))).toEqual([]);
  });

  it('warns in demo mode', () => {
    const warnings = insecureSettings(load({ env: { AIRLOCK_DEMO: 'true' } }));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/DEMO/);
  });

  it.each(['0.0.0.0:8080', '192.0.2.10:8080', '[::]:8080', 'airlock.example:443'])('warns when web.listen is %s', (listen) => {
    const warnings = insecureSettings(load({ env: { AIRLOCK_WEB_LISTEN: listen } }));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('web.listen');
  });

  it.each(['127.0.0.1:8080', '127.1.2.3:80', '[::1]:8080', 'localhost:8080'])('does not warn when web.listen is %s', (listen) => {
    expect(insecureSettings(load({ env: { AIRLOCK_WEB_LISTEN: listen } }))).toEqual([]);
  });

  it('warns about an inline master key', () => {
    const warnings = insecureSettings(load({ env: { AIRLOCK_MASTER_KEY: 'a'.repeat(64) } }));
    expect(warnings.some((w) => w.includes('masterKey'))).toBe(true);
  });
});

describe('parseListen', () => {
  it.each([
    ['127.0.0.1:8080', { host: '127.0.0.1', port: 8080 }],
    ['[::1]:22', { host: '::1', port: 22 }],
    ['gw.example.com:2222', { host: 'gw.example.com', port: 2222 }],
    ['0.0.0.0:0', { host: '0.0.0.0', port: 0 }],
  ])('parses %s', (text, expected) => expect(parseListen(text)).toEqual(expected));

  it.each(['', '8080', 'host:', 'host:65536', 'host:-1', '::1:22', 'a b:80', 'host:80/x'])('refuses %j', (text) => {
    expect(parseListen(text)).toBeUndefined();
  });
});
