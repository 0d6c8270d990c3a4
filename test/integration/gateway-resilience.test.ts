import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db, Queryable } from '../../core/index.js';
import { startGateway } from '../helpers/gateway.js';
import type { GatewayHarness } from '../helpers/gateway.js';
import { engines } from '../helpers/db.js';
import { TmuxSsh } from '../helpers/tmux.js';
import { waitFor } from '../helpers/wait.js';
import { execFileSync } from 'node:child_process';

/**
 * One engineer's login hitting a database failure must end that connection
 * only: live sessions of others continue, the server keeps accepting logins,
 * nothing reaches Node's unhandled-rejection path, and the failure is logged
 * and audited (STYLE.md rule 3; gateway/guard.ts).
 */
describe.each(engines)('a failure in one connection on %s', (engine) => {
  let g: GatewayHarness;
  let failLogins = false;
  let failSessions = false;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  beforeAll(async () => {
    g = await startGateway(engine);
    // The database answers every statement but the one that records an SSH
    // login, which fails while the switch is on: a failure after the password
    // and code were accepted, inside the keyboard-interactive callback.
    const db = g.services.db as Db & Record<string, unknown>;
    const wrap = (q: Queryable): Queryable => ({
      query: (sql, params) =>
        (failLogins && sql.startsWith('INSERT INTO logins')) || (failSessions && sql.trimStart().startsWith('INSERT INTO sessions'))
          ? Promise.reject(new Error('injected: connection to the database was lost'))
          : q.query(sql, params),
      exec: (sql) => q.exec(sql),
    });
    const transaction = db.transaction.bind(db);
    db.transaction = ((fn: (tx: Queryable) => Promise<unknown>) => transaction((tx) => fn(wrap(tx)))) as Db['transaction'];
    process.on('unhandledRejection', onUnhandled);
  });
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    await g?.stop();
  });

  it('ends only that connection; a live session goes on and new logins work', async () => {
    const live = new TmuxSsh(g.ssh, 'alice@t1', { password: 'alice-correct-horse-1', totp: g.totp(g.alice.totp.secret) });
    try {
      await live.waitFor(/\$\s*$/m);
      live.type('echo before-$((6*7))');
      await live.waitFor('before-42');

      failLogins = true;
      const failed = await g.asAlice('alice@t1', ['echo', 'never']);
      failLogins = false;
      expect(failed.code).not.toBe(0);
      expect(failed.stdout.toString()).not.toContain('never');

      // The live session did not notice.
      live.type('echo after-$((6*7))');
      await live.waitFor('after-42');
      // The server still logs people in and runs their commands.
      const again = await g.asAlice('alice@t1', ['echo', 'still-serving']);
      expect(again.stdout.toString()).toContain('still-serving');
      expect(again.code).toBe(0);

      const events = (await g.services.audit.list({ action: 'ssh.connection.error', limit: 10 })).map((e) => e.details);
      expect(events).toEqual([expect.objectContaining({ during: 'keyboard-interactive answers', code: 'ERR_INTERNAL' })]);
      expect(unhandled).toEqual([]);
    } finally {
      live.kill();
    }
  });

  it('a session row that cannot be written: the engineer is told in general terms, and airlock hangs up on the target', async () => {
    failSessions = true;
    const r = await g.asAlice('alice@t1', ['echo', 'never']);
    failSessions = false;
    expect(r.code).toBe(1);
    expect(r.stdout.toString()).toBe('');
    expect(r.stderr).toContain('airlock: airlock could not do that; the error was logged');
    expect(r.stderr).not.toContain('injected');
    // No connection from airlock to the target is left open.
    await waitFor(() => !established(g.sshd.port), { message: 'airlock to close its connection to the target' });
    expect(unhandled).toEqual([]);
  });
});

/** Whether any TCP connection to this local port is established (ss from iproute2). */
function established(port: number): boolean {
  return execFileSync('ss', ['-Htn', 'state', 'established', `( dport = :${port} )`], { encoding: 'utf8' }).trim() !== '';
}
