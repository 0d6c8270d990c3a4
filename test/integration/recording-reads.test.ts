import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { ManualClock } from '../../core/clock.js';
import { currentTotp } from '../../identity/index.js';
import { createApp } from '../../web/app.js';
import { startWebServer } from '../../web/server.js';
import type { WebServer } from '../../web/server.js';
import { openTestServices } from '../helpers/services.js';
import type { TestServices } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Whole-recording reads through the real HTTP listener are limited
 * (recordings.maxConcurrentReads): a download the client does not read holds
 * its place, one more is a 503 with Retry-After, and the place comes back when
 * the client goes away.
 */
describe('recording reads at once', () => {
  const clock = new ManualClock(Date.UTC(2026, 5, 1, 9, 0));
  let s: TestServices;
  let web: WebServer;
  let recordingId: string;
  const tokens: Record<string, string> = {};
  const logins: Record<string, string> = {};

  beforeAll(async () => {
    // Two places, one per user.
    s = await openTestServices('pglite', { clock, scheduler: clock, overrides: { 'recordings.maxConcurrentReads': 2 } });
    web = await startWebServer(createApp(s, { version: 'test' }), { host: '127.0.0.1', port: 0 });
    for (const [name, role] of [['ada', 'auditor'], ['root', 'admin'], ['eng', 'engineer']] as const) {
      const password = `pw-${name}-${randomBytes(6).toString('hex')}`;
      const e = await s.identity.users.add({ name, role, password }, { name: 'test' });
      const r = await fetch(`${web.url}/api/v1/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: name, password, totp: await currentTotp(e.totp.secret, clock.now()) }),
      });
      expect(r.status).toBe(201);
      const body = (await r.json()) as { token: string; login: { id: string } };
      tokens[name] = body.token;
      logins[name] = body.login.id;
    }
    const target = await s.targets.add(
      { name: 'db01', host: '127.0.0.1', port: 22, login: 'root', secret: { kind: 'password', secret: 'x' }, sensitivity: 'standard', hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl' },
      { name: 'test' },
    );
    const eng = await s.identity.users.get('eng');
    const session = await s.sessions.start(
      { userId: eng.id, userName: 'eng', targetId: target.id, targetName: 'db01', login: 'root', source: '127.0.0.1', loginId: logins.eng as string, loginKind: 'api', expiresAt: new Date(clock.now().getTime() + 3_600_000), expiresWith: 'login' },
      { terminate: () => {}, notify: () => {} },
    );
    // 32 MB: more than the sockets between server and client buffer, so an unread download stays open.
    const rec = await s.recordings.start({ sessionId: session.id, channelIndex: 1, kind: 'exec', command: 'cat big', user: 'eng', target: 'db01', login: 'root', source: '127.0.0.1', sensitivity: 'standard', width: 80, height: 24 });
    const chunk = randomBytes(32 * 1024);
    for (let i = 0; i < 1024; i++) {
      rec.recorder.output(chunk);
      if (rec.recorder.backlogged) await new Promise((r) => rec.recorder.once('drain', r));
    }
    await rec.finish();
    recordingId = rec.id;
  }, 120_000);

  afterAll(async () => {
    await web?.close();
    await s?.close();
  });

  const get = (user: string, what: string) => fetch(`${web.url}/api/v1/recordings/${recordingId}/${what}`, { headers: { authorization: `Bearer ${tokens[user]}` } });

  it('refuses a second read by the same user while the first is open, lets another user in, and frees the place when the client leaves', async () => {
    const open = await get('ada', 'raw');
    expect(open.status).toBe(200);
    // The body is not read: the server waits on the socket with its place held.
    const refused = await get('ada', 'evidence');
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(refused.headers.get('content-disposition')).toBeNull();
    expect(await refused.json()).toEqual({
      error: { code: 'ERR_BUSY', message: 'too many recording reads at once (you already have 1 running): try the evidence export again in a few seconds' },
    });
    // Another user has the other place.
    const other = await get('root', 'verify');
    expect(other.status).toBe(200);
    expect(((await other.json()) as { report: { ok: boolean } }).report.ok).toBe(true);
    // The first client goes away: its place comes back.
    await open.body?.cancel();
    await waitFor(async () => (await get('ada', 'verify').then(async (r) => (await r.arrayBuffer(), r.status))) === 200, { timeoutMs: 10_000 });
    // A refused read is not audited as a read.
    const reads = (await s.audit.list({ action: 'recording.read', limit: 100 })).filter((e) => e.action === 'recording.read');
    expect(reads.map((e) => e.actor)).toEqual(['ada']);
  });

  it('disconnects a client that takes nothing for a minute, and its place comes back', async () => {
    const stalled = await get('eng', 'raw');
    expect(stalled.status).toBe(200);
    expect((await get('eng', 'cast')).status).toBe(503);
    // The scheduler is the test's clock: a minute passes for the download at once.
    clock.advance(61_000);
    await expect(stalled.arrayBuffer()).rejects.toThrow();
    await waitFor(async () => (await get('eng', 'verify').then(async (r) => (await r.arrayBuffer(), r.status))) === 200, { timeoutMs: 10_000 });
  });
});
