import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db, Queryable } from '../../core/index.js';
import { startGateway } from '../helpers/gateway.js';
import type { GatewayHarness } from '../helpers/gateway.js';
import { engines } from '../helpers/db.js';
import { TmuxSsh } from '../helpers/tmux.js';

/**
 * One engineer's login hitting a database failure must end that connection
 * only: live sessions of others continue, the server keeps accepting logins,
 * nothing reaches Node's unhandled-rejection path, and the failure is logged
 * and audited (STYLE.md rule 3; gateway/guard.ts).
 */
describe.each(engines)('a failure in one connection on %s', (engine) => {
  let g: GatewayHarness;
  let failLogins = false;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  beforeAll(async () => {
    g = await startGateway(engine);
    // The database answers every statement but the one that records an SSH
    // login, which fails while the switch is on: a failure after the password
    // and code were accepted, inside the keyboard-interactive callback.
    const db = g.services.db as Db & Record<string, unknown>;
    const wrap = (q: Queryable): Queryable => ({
      query: (sql, params) => (failLogins && sql.startsWith('INSERT INTO logins') ? Promise.reject(new Error('injected: connection to the database was lost')) : q.query(sql, params)),
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
});
