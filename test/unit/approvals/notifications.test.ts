import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { pino } from 'pino';
import { SMTPServer } from 'smtp-server';
import { ManualClock } from '../../../core/clock.js';
import { loadConfig } from '../../../core/config.js';
import type { Logger } from '../../../core/logger.js';
import { Notifier } from '../../../approvals/index.js';
import { DeliveryError, RetryQueue } from '../../../approvals/retry-queue.js';
import type { Delivery, RetryQueueOptions } from '../../../approvals/retry-queue.js';
import type { Target } from '../../../approvals/index.js';
import type { User } from '../../../identity/index.js';
import { openTestServices } from '../../helpers/services.js';
import type { TestServices } from '../../helpers/services.js';
import { waitFor } from '../../helpers/wait.js';

/**
 * Notifications about access requests, delivered for real: webhooks to an HTTP
 * receiver on 127.0.0.1:0 that checks the HMAC signature, e-mail to an SMTP
 * server (smtp-server) on 127.0.0.1:0, including receivers that are down at
 * first. The database does not matter here, so one engine is enough.
 */
const SECRET = 'webhook-secret-for-tests-0123456789';
const TICKET_LINK = 'https://tickets.example.test/browse/{ticket}';

interface Hit {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** An HTTP receiver: records every POST; answers per path from a plan (status codes, or 'hang'), then 200. */
class Receiver {
  readonly hits: Hit[] = [];
  readonly plans = new Map<string, Array<number | 'hang'>>();
  readonly server: Server;
  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = req.url ?? '/';
        this.hits.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        const plan = this.plans.get(path);
        const step = plan && plan.length > 1 ? plan.shift() : plan?.[0];
        if (step === 'hang') return; // never answers
        res.writeHead(step ?? 200, { 'content-type': 'text/plain' }).end('ok');
      });
    });
  }
  async listen(port = 0): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve());
    });
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  on(path: string, requestId: string): Hit[] {
    return this.hits.filter((h) => h.path === path && h.body.includes(requestId));
  }
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

interface Mail {
  rcptTo: string[];
  headers: Map<string, string>;
  text: string;
}

/** An SMTP server that keeps what it is sent; with `auth`, it demands that user and password. */
async function startSmtp(port = 0, auth?: { user: string; pass: string }): Promise<{ port: number; mails: Mail[]; close(): Promise<void> }> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    logger: false,
    disabledCommands: auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    authOptional: !auth,
    allowInsecureAuth: true,
    onAuth(a, _session, callback) {
      if (a.username === auth?.user && a.password === auth?.pass) callback(null, { user: a.username });
      else callback(new Error('invalid credentials'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push({ rcptTo: session.envelope.rcptTo.map((r) => r.address).sort(), ...parseMail(Buffer.concat(chunks).toString('utf8')) });
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.server.address() as AddressInfo).port,
    mails,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Headers (unfolded, RFC 5322 §2.2.3) and the text body, quoted-printable decoded. */
function parseMail(raw: string): { headers: Map<string, string>; text: string } {
  const split = raw.indexOf('\r\n\r\n');
  const headers = new Map<string, string>();
  for (const line of raw.slice(0, split).replace(/\r\n(?=[ \t])/g, '').split('\r\n')) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  let text = raw.slice(split + 4);
  if (/quoted-printable/i.test(headers.get('content-transfer-encoding') ?? '')) {
    text = Buffer.from(text.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
  }
  return { headers, text: text.replace(/\r\n/g, '\n') };
}

/** A port nothing listens on (for now). */
async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function captureLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

function expectSigned(hit: Hit): void {
  const expected = Buffer.from(`sha256=${createHmac('sha256', SECRET).update(hit.body).digest('hex')}`);
  const got = Buffer.from(String(hit.headers['x-airlock-signature'] ?? ''));
  expect(got.length).toBe(expected.length);
  expect(timingSafeEqual(got, expected)).toBe(true);
}

describe('notifications', () => {
  /**
   * Time and timers both: retries and webhook time limits wait on this clock, so
   * they happen when a test moves it, and never on their own. Deliveries are real
   * I/O, waited for with waitFor. Before moving the clock far, a test lets the
   * deliveries in flight finish, or the move would run out their time limits.
   */
  const clock = new ManualClock(new Date('2026-03-02T09:00:00Z'));
  const receiver = new Receiver();
  let base: string;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let s: TestServices;
  let alice: User;
  let olivia: User;
  let oscar: User;
  let sens: Target;
  let crit: Target;
  const extra: Notifier[] = [];

  beforeAll(async () => {
    base = await receiver.listen();
    smtp = await startSmtp(0, { user: 'airlock', pass: 'smtp-password-1' });
    s = await openTestServices('pglite', {
      clock,
      scheduler: clock,
      overrides: {
        'policy.ticketLink': TICKET_LINK,
        'notifications.webhooks': [
          { url: `${base}/hook`, secret: SECRET },
          { url: `${base}/slack`, format: 'slack' },
        ],
        'notifications.smtp': { host: '127.0.0.1', port: smtp.port, auth: { user: 'airlock', pass: 'smtp-password-1' }, from: 'airlock <airlock@example.test>' },
        'notifications.baseDelay': '100ms',
      },
    });
    const admin = { name: 'test' };
    const add = async (name: string, role: 'engineer' | 'approver', email?: string) =>
      (await s.identity.users.add({ name, role, email, password: `${name}-password-1` }, admin)).user;
    alice = await add('alice', 'engineer', 'alice@example.test');
    olivia = await add('olivia', 'approver', 'olivia@example.test');
    oscar = await add('oscar', 'approver', 'oscar@example.test');
    await add('paula', 'approver'); // no e-mail address
    await add('dora', 'approver', 'dora@example.test');
    await s.identity.users.setStatus('dora', 'disabled', admin);
    await add('ed', 'engineer', 'ed@example.test');
    const target = (name: string, sensitivity: 'sensitive' | 'critical') =>
      s.targets.add({ name, host: '127.0.0.1', port: 22, login: 'root', secret: { kind: 'password', secret: 'x' }, sensitivity, hostKey: null }, admin);
    sens = await target('sens', 'sensitive');
    crit = await target('crit', 'critical');
    s.notifier.start(s.requests);
  });
  // Each test's own notifiers stop with it, so none of them reports on later tests' requests.
  afterEach(() => {
    for (const n of extra.splice(0)) n.stop();
  });
  afterAll(async () => {
    s?.notifier.stop();
    await s?.close();
    await receiver.close();
    await smtp?.close();
  });

  /** Another notifier on the same services, with its own notification settings. */
  function notifier(settings: Record<string, unknown>, options: { logger?: Logger; queueLimit?: number } = {}): Notifier {
    const overrides: Record<string, unknown> = { dataDir: s.dataDir, 'policy.ticketLink': TICKET_LINK };
    for (const [k, v] of Object.entries(settings)) overrides[`notifications.${k}`] = v;
    const config = loadConfig({ env: {}, overrides });
    const n = new Notifier({ config, logger: options.logger ?? s.logger, clock, scheduler: clock, identity: s.identity, audit: s.audit, ...(options.queueLimit ? { queueLimit: options.queueLimit } : {}) });
    extra.push(n);
    n.start(s.requests);
    return n;
  }

  /** Nothing in flight or waiting for a retry: nothing more can arrive for what was notified so far. */
  const drained = (n: Notifier) => waitFor(() => n.pending === 0, { message: 'the notification queue to drain' });
  const retries = (lines: Array<Record<string, unknown>>, requestId: string) =>
    lines.filter((l) => l['msg'] === 'notification delivery failed; trying again' && l['requestId'] === requestId);
  const failures = async (requestId: string) => (await s.audit.list({ action: 'notification.failed', limit: 1000 })).filter((e) => e.target === requestId);

  it('on a new request: a signed JSON webhook, a Slack body, and one e-mail to the active approvers who have an address', async () => {
    const req = await s.requests.create(alice, crit, { login: 'root', reason: 'rotate the TLS certificate', ticket: 'INC-4711' });
    const [hook] = await waitFor(() => receiver.on('/hook', req.id).length > 0 && receiver.on('/hook', req.id), { message: 'the JSON webhook' });
    expectSigned(hook!);
    // The same body under another secret does not verify: the check above can fail.
    expect(hook!.headers['x-airlock-signature']).not.toBe(`sha256=${createHmac('sha256', 'another-secret-0123456789').update(hook!.body).digest('hex')}`);
    const body = JSON.parse(hook!.body) as Record<string, unknown>;
    expect(body).toEqual({
      event: 'request.created',
      request: expect.objectContaining({
        id: req.id,
        user: 'alice',
        target: 'crit',
        login: 'root',
        sensitivity: 'critical',
        status: 'pending',
        reason: 'rotate the TLS certificate',
        ticket: 'INC-4711',
        ticketLink: 'https://tickets.example.test/browse/INC-4711',
        approvals: [],
        grantedUntil: null,
        decidedBy: null,
        comment: null,
      }),
      actor: 'alice',
      at: '2026-03-02T09:00:00.000Z',
    });
    expect(hook!.headers['x-airlock-timestamp']).toBe(String(Date.parse('2026-03-02T09:00:00Z') / 1000));
    expect(hook!.headers['x-airlock-event']).toBe('request.created');
    expect(hook!.headers['content-type']).toBe('application/json');

    const [slack] = await waitFor(() => receiver.on('/slack', req.id).length > 0 && receiver.on('/slack', req.id), { message: 'the Slack webhook' });
    const slackBody = JSON.parse(slack!.body) as { text: string };
    expect(Object.keys(slackBody)).toEqual(['text']);
    expect(slackBody.text).toContain('*alice* asks for `root@crit` (critical, 1h)');
    expect(slackBody.text).toContain('Reason: rotate the TLS certificate');
    expect(slackBody.text).toContain('Ticket: <https://tickets.example.test/browse/INC-4711|INC-4711>');
    expect(slackBody.text).toContain(req.id);
    expect(slack!.headers['x-airlock-signature']).toBeUndefined(); // no secret configured for it

    const mail = await waitFor(() => smtp.mails.find((m) => m.text.includes(req.id)), { message: 'the approvers e-mail' });
    expect(mail.rcptTo).toEqual(['olivia@example.test', 'oscar@example.test']);
    expect(mail.headers.get('to')).toContain('olivia@example.test');
    expect(mail.headers.get('to')).toContain('oscar@example.test');
    expect(mail.headers.get('from')).toBe('airlock <airlock@example.test>');
    expect(mail.headers.get('subject')).toBe(`[airlock] approval needed: alice asks for root@crit (request ${req.id})`);
    expect(mail.text).toContain('alice asks for access to root@crit (critical) for 1h; 2 distinct approvers are needed.');
    expect(mail.text).toContain('Reason: rotate the TLS certificate');
    expect(mail.text).toContain('Ticket: INC-4711 https://tickets.example.test/browse/INC-4711');
    expect(mail.text).toContain(`airlock requests approve ${req.id}`);
    await drained(s.notifier);
    expect(smtp.mails.filter((m) => m.text.includes(req.id))).toHaveLength(1);
    expect(receiver.on('/hook', req.id)).toHaveLength(1);
  });

  it('on a decision: the webhook carries the outcome and the requester gets an e-mail', async () => {
    const req = await s.requests.create(alice, sens, { login: 'root', reason: 'restart the stuck backup job', ticket: 'CHG-12', durationMs: 30 * 60_000 });
    const approved = await s.requests.approve(req.id, olivia, { comment: 'go ahead' });
    const hook = await waitFor(() => receiver.on('/hook', req.id).find((h) => h.body.includes('"request.decided"')), { message: 'the decided webhook' });
    expectSigned(hook);
    const body = JSON.parse(hook.body) as { event: string; actor: string; request: Record<string, unknown> };
    expect(body.event).toBe('request.decided');
    expect(body.actor).toBe('olivia');
    expect(body.request).toMatchObject({
      id: req.id,
      status: 'approved',
      decidedBy: 'olivia',
      comment: 'go ahead',
      grantedUntil: approved.grantedUntil!.toISOString(),
      approvals: [{ approver: 'olivia', at: approved.approvals[0]!.at.toISOString(), comment: 'go ahead' }],
      ticketLink: 'https://tickets.example.test/browse/CHG-12',
    });
    const slack = await waitFor(() => receiver.on('/slack', req.id).find((h) => h.body.includes('approved by olivia')), { message: 'the decided Slack message' });
    expect((JSON.parse(slack.body) as { text: string }).text).toContain('Comment: go ahead');

    const mail = await waitFor(() => smtp.mails.find((m) => m.text.includes(req.id) && m.rcptTo.includes('alice@example.test')), { message: 'the requester e-mail' });
    expect(mail.rcptTo).toEqual(['alice@example.test']);
    expect(mail.headers.get('to')).toContain('alice@example.test');
    expect(mail.headers.get('subject')).toBe(`[airlock] your request for root@sens was approved (request ${req.id})`);
    expect(mail.text).toContain('Your request for root@sens was approved by olivia.');
    expect(mail.text).toContain('Reason: restart the stuck backup job');
    expect(mail.text).toContain('Ticket: CHG-12 https://tickets.example.test/browse/CHG-12');
    expect(mail.text).toContain('Comment: go ahead');
    expect(mail.text).toContain(`Access until: ${approved.grantedUntil!.toISOString()}`);

    // Revoking the grant tells the requester as well.
    await s.requests.revoke(req.id, oscar, 'maintenance window is over');
    const revoked = await waitFor(() => smtp.mails.find((m) => m.text.includes(req.id) && m.headers.get('subject')?.includes('revoked')), { message: 'the revocation e-mail' });
    expect(revoked.rcptTo).toEqual(['alice@example.test']);
    expect(revoked.text).toContain('Your access to root@sens was revoked by oscar.');
    expect(revoked.text).toContain('Comment: maintenance window is over');
    const revokedHook = await waitFor(() => receiver.on('/hook', req.id).find((h) => h.body.includes('"grant.revoked"')), { message: 'the revoked webhook' });
    expect(JSON.parse(revokedHook.body)).toMatchObject({ actor: 'oscar', request: { status: 'revoked', comment: 'maintenance window is over' } });
  });

  it('denial and expiry reach the requester; partial approvals and approvers are not mailed again', async () => {
    const denied = await s.requests.create(alice, sens, { login: 'root', reason: 'look at the logs' });
    await s.requests.deny(denied.id, oscar, 'use the read replica');
    const mail = await waitFor(() => smtp.mails.find((m) => m.text.includes(denied.id) && m.rcptTo.includes('alice@example.test')), { message: 'the denial e-mail' });
    expect(mail.headers.get('subject')).toBe(`[airlock] your request for root@sens was denied (request ${denied.id})`);
    expect(mail.text).toContain('was denied by oscar');
    expect(mail.text).toContain('Comment: use the read replica');
    expect(mail.text).not.toContain('Ticket:'); // none was given

    const slow = await s.requests.create(alice, crit, { login: 'root', reason: 'nobody answers', ticket: 'INC-9' });
    await s.requests.approve(slow.id, olivia); // one of two: no decision yet, no mail to alice
    await drained(s.notifier);
    clock.advance(16 * 60_000);
    await s.requests.expireDue();
    const expired = await waitFor(() => smtp.mails.find((m) => m.text.includes(slow.id) && m.rcptTo.includes('alice@example.test')), { message: 'the expiry e-mail' });
    expect(expired.headers.get('subject')).toBe(`[airlock] your request for root@crit expired (request ${slow.id})`);
    expect(expired.text).toContain('expired: nobody decided in time');
    await waitFor(() => receiver.on('/hook', slow.id).find((h) => h.body.includes('"request.expired"')), { message: 'the expired webhook' });
    await drained(s.notifier);
    // Deliveries run side by side, so they may arrive in any order: compare sorted.
    const about = (id: string) => smtp.mails.filter((m) => m.text.includes(id)).map((m) => m.rcptTo.join(',')).sort();
    // Created (to approvers) and decided (to alice): two each, nothing for the partial approval.
    expect(about(denied.id)).toEqual(['alice@example.test', 'olivia@example.test,oscar@example.test']);
    expect(about(slow.id)).toEqual(['alice@example.test', 'olivia@example.test,oscar@example.test']);
    expect(receiver.on('/hook', slow.id).map((h) => h.headers['x-airlock-event']).sort()).toEqual(['request.created', 'request.expired']);
  });

  it('tries a receiver answering 503 again with doubling back-off, then delivers the same signed body once', async () => {
    const { logger, lines } = captureLogger();
    receiver.plans.set('/flaky', [503, 503, 200]);
    const n = notifier({ webhooks: [{ url: `${base}/flaky`, secret: SECRET, events: ['request.created'] }], baseDelay: '100ms' }, { logger });
    const req = await s.requests.create(alice, sens, { login: 'root', reason: 'flaky receiver' });
    // Back-off: 100 ms, then 200 ms of the clock (the exact times are checked on RetryQueue below).
    await waitFor(() => retries(lines, req.id).length === 1, { message: 'the first 503' });
    clock.advance(100);
    await waitFor(() => retries(lines, req.id).length === 2, { message: 'the second 503' });
    clock.advance(200);
    await drained(n);
    const hits = receiver.on('/flaky', req.id);
    expect(hits).toHaveLength(3);
    expect(new Set(hits.map((h) => h.body)).size).toBe(1);
    expect(new Set(hits.map((h) => h.headers['x-airlock-delivery'])).size).toBe(1);
    expectSigned(hits[2]!);
    expect(retries(lines, req.id).map((w) => [w['level'], w['attempt'], w['retryInMs'], w['error']])).toEqual([
      [40, 1, 100, 'answered HTTP 503'],
      [40, 2, 200, 'answered HTTP 503'],
    ]);
    // Only the events it asked for: the decision is not even queued for /flaky (events are queued as they are emitted).
    await s.requests.approve(req.id, olivia);
    expect(n.pending).toBe(0);
    await waitFor(() => receiver.on('/hook', req.id).find((h) => h.body.includes('"request.decided"')), { message: 'the decision on the main hook' });
    expect(receiver.on('/flaky', req.id)).toHaveLength(3);
    expect(await failures(req.id)).toHaveLength(0);
  });

  it('delivers to a receiver that was not listening yet once it comes up', async () => {
    const port = await freePort();
    const { logger, lines } = captureLogger();
    const n = notifier({ webhooks: [{ url: `http://127.0.0.1:${port}/late`, secret: SECRET }], baseDelay: '100ms' }, { logger });
    const req = await s.requests.create(alice, sens, { login: 'root', reason: 'receiver down' });
    // Tries at 0, 100 and 300 ms find nothing listening; the next, at 700 ms, finds it.
    await waitFor(() => retries(lines, req.id).length === 1, { message: 'the first refused try' });
    clock.advance(100);
    await waitFor(() => retries(lines, req.id).length === 2, { message: 'the second refused try' });
    clock.advance(200);
    await waitFor(() => retries(lines, req.id).length === 3, { message: 'the third refused try' });
    const late = new Receiver();
    try {
      await late.listen(port);
      clock.advance(400);
      const [hit] = await waitFor(() => late.on('/late', req.id).length > 0 && late.on('/late', req.id), { message: 'the late delivery' });
      expectSigned(hit!);
      expect(JSON.parse(hit!.body)).toMatchObject({ event: 'request.created', request: { id: req.id, reason: 'receiver down' } });
      await drained(n);
      const warned = retries(lines, req.id);
      expect(warned.map((w) => w['attempt'])).toEqual([1, 2, 3]);
      expect(String(warned[0]!['error'])).toMatch(/ECONNREFUSED/);
    } finally {
      await late.close();
    }
  });

  it('sends the e-mail once a mail server that was down at first comes up', async () => {
    const port = await freePort();
    const { logger, lines } = captureLogger();
    const n = notifier({ smtp: { host: '127.0.0.1', port, from: 'airlock@example.test' }, baseDelay: '100ms' }, { logger });
    const req = await s.requests.create(alice, sens, { login: 'root', reason: 'mail server down', ticket: 'INC-77' });
    await waitFor(() => retries(lines, req.id).length === 1, { message: 'the first refused try' });
    clock.advance(100);
    await waitFor(() => retries(lines, req.id).length === 2, { message: 'the second refused try' });
    const late = await startSmtp(port);
    try {
      // The third try, 200 ms of the clock later, is the first after the server came up.
      clock.advance(200);
      const mail = await waitFor(() => late.mails.find((m) => m.text.includes(req.id)), { message: 'the late e-mail' });
      expect(mail.rcptTo).toEqual(['olivia@example.test', 'oscar@example.test']);
      expect(mail.headers.get('subject')).toContain(req.id);
      expect(mail.headers.get('subject')).toContain('root@sens');
      expect(mail.text).toContain('Reason: mail server down');
      expect(mail.text).toContain('https://tickets.example.test/browse/INC-77');
      await drained(n);
      expect(retries(lines, req.id).map((w) => [w['attempt'], w['channel'], w['level']])).toEqual([
        [1, 'email', 40],
        [2, 'email', 40],
      ]);
      expect(late.mails.filter((m) => m.text.includes(req.id))).toHaveLength(1);
    } finally {
      await late.close();
    }
  });

  it('a webhook that never answers holds up neither create nor approve; giving up is audited', async () => {
    receiver.plans.set('/hang', ['hang']);
    const { logger, lines } = captureLogger();
    notifier({ webhooks: [{ url: `${base}/hang`, secret: SECRET }], maxAttempts: 2, baseDelay: '100ms', timeout: '2s' }, { logger });
    // The 2 s limit runs on the clock: until the test moves it, the tries hang for good,
    // so create and approve returning at all shows that neither waits for them.
    const req = await s.requests.create(alice, sens, { login: 'root', reason: 'hanging receiver' });
    await waitFor(() => receiver.on('/hang', req.id).length === 1, { message: 'the first try' });
    await s.requests.approve(req.id, olivia);
    await waitFor(() => receiver.on('/hang', req.id).length === 2, { message: 'the first try of the decision' });
    clock.advance(2000);
    await waitFor(() => retries(lines, req.id).length === 2, { message: 'both tries timed out' });
    clock.advance(100);
    await waitFor(() => receiver.on('/hang', req.id).length === 4, { message: 'the second tries' });
    clock.advance(2000);

    const audited = await waitFor(async () => {
      const rows = await failures(req.id);
      return rows.length >= 2 && rows;
    }, { message: 'two give-ups' });
    const byEvent = new Map(audited.map((r) => [r.details['event'], r]));
    expect([...byEvent.keys()].sort()).toEqual(['request.created', 'request.decided']);
    expect(byEvent.get('request.created')).toMatchObject({
      actor: 'system',
      outcome: 'failure',
      details: { channel: 'webhook', attempts: 2, error: 'no answer within 2000 ms', delivery: `webhook #1 ${base}` },
    });
    expect(JSON.stringify(audited)).not.toContain('/hang'); // the URL path may hold a secret: only the origin is kept
    expect(receiver.on('/hang', req.id).filter((h) => h.headers['x-airlock-event'] === 'request.created')).toHaveLength(2);
    expect(lines.filter((l) => l['msg'] === 'notification delivery failed; giving up' && l['requestId'] === req.id && l['level'] === 50)).toHaveLength(2);
  });

  it('a 4xx answer is final: tried once, audited', async () => {
    receiver.plans.set('/gone', [410]);
    const n = notifier({ webhooks: [{ url: `${base}/gone`, secret: SECRET, events: ['request.created'] }], baseDelay: '100ms' });
    const req = await s.requests.create(alice, sens, { login: 'root', reason: 'gone receiver' });
    const [row] = await waitFor(async () => {
      const rows = await failures(req.id);
      return rows.length > 0 && rows;
    }, { message: 'the give-up' });
    expect(row!.details).toMatchObject({ attempts: 1, error: 'answered HTTP 410', event: 'request.created' });
    // Nothing waits for another try.
    expect(n.pending).toBe(0);
    expect(receiver.on('/gone', req.id)).toHaveLength(1);
  });

  it('keeps a bounded queue: the oldest delivery is dropped, logged and audited', async () => {
    receiver.plans.set('/stuck', ['hang']);
    const { logger, lines } = captureLogger();
    const n = notifier({ webhooks: [{ url: `${base}/stuck`, secret: SECRET, events: ['request.created'] }], timeout: '5s' }, { logger, queueLimit: 2 });
    const first = await s.requests.create(alice, sens, { login: 'root', reason: 'first' });
    const second = await s.requests.create(alice, sens, { login: 'root', reason: 'second' });
    await waitFor(() => receiver.hits.filter((h) => h.path === '/stuck').length === 2, { message: 'two in flight' });
    expect(n.pending).toBe(2);
    const third = await s.requests.create(alice, sens, { login: 'root', reason: 'third' });
    const [dropped] = await waitFor(async () => {
      const rows = await failures(first.id);
      return rows.length > 0 && rows;
    }, { message: 'the drop audited' });
    expect(dropped!.details).toMatchObject({ error: 'dropped: notification queue full', channel: 'webhook' });
    expect(lines.find((l) => l['msg'] === 'notification queue full: dropped the oldest delivery')).toMatchObject({ level: 50, requestId: first.id, limit: 2 });
    expect(n.pending).toBe(2);
    expect(await failures(second.id)).toHaveLength(0);
    expect(await failures(third.id)).toHaveLength(0);
    n.stop();
    expect(n.pending).toBe(0);
    expect(lines.find((l) => l['msg'] === 'stopping with notifications undelivered')).toMatchObject({ deliveries: 2 });
  });

  it('tells of a risky command at once, gathers the next ones in the session into one notice per interval, and makes typed text inert', async () => {
    const session = { id: 'sess-risky-1', recording: 'rec-risky-1', user: 'alice', target: 'crit', sensitivity: 'critical' };
    const cmd = (seq: number, text: string) => ({ seq, t: seq * 2, at: new Date(clock.now().getTime()), text, risks: [{ rule: 'history-tampering', reason: 'clears or disables the shell history', severity: 'high' }] });
    const hooks = (path: string) => receiver.hits.filter((h) => h.path === path && h.body.includes(session.id));
    const mails = () => smtp.mails.filter((m) => (m.headers.get('subject') ?? '').includes(session.id));
    const now = clock.now().toISOString();
    s.notifier.riskyCommand(session, cmd(0, 'history -c'));
    await waitFor(() => hooks('/hook').length === 1 && hooks('/slack').length === 1 && mails().length === 1, { message: 'the first notice on every channel' });
    const first = hooks('/hook')[0]!;
    expectSigned(first);
    expect(first.headers['x-airlock-event']).toBe('command.risky');
    expect(JSON.parse(first.body)).toEqual({
      event: 'command.risky',
      session,
      severity: 'high',
      commands: [{ seq: 0, t: 0, at: now, text: 'history -c', risks: [{ rule: 'history-tampering', reason: 'clears or disables the shell history', severity: 'high' }] }],
      more: 0,
      at: now,
    });
    expect(mails()[0]!.rcptTo).toEqual(['olivia@example.test', 'oscar@example.test']);
    expect(mails()[0]!.headers.get('subject')).toBe('[airlock] alice ran a risky command on crit (critical) (session sess-risky-1)');
    expect(mails()[0]!.text).toContain('airlock sessions terminate sess-risky-1');

    // Within the interval: gathered, nothing sent yet.
    s.notifier.riskyCommand(session, cmd(1, 'rm -rf /srv/<b>old</b>'));
    s.notifier.riskyCommand(session, cmd(2, 'echo \u001b]52;c;aGk=\u0007 && history -c'));
    await new Promise((r) => setTimeout(r, 200));
    expect(hooks('/hook')).toHaveLength(1);
    clock.advance(60_000);
    await waitFor(() => hooks('/hook').length === 2 && hooks('/slack').length === 2 && mails().length === 2, { message: 'the gathered notice' });
    const gathered = JSON.parse(hooks('/hook')[1]!.body) as { commands: Array<{ text: string }>; more: number };
    expect(gathered.commands.map((c) => c.text)).toEqual(['rm -rf /srv/<b>old</b>', 'echo \\u001b]52;c;aGk=\\u0007 && history -c']);
    expect(gathered.more).toBe(0);
    const slack = (JSON.parse(hooks('/slack')[1]!.body) as { text: string }).text;
    expect(slack).toContain('*alice ran 2 risky commands on crit (critical)*');
    expect(slack).toContain('&lt;b&gt;old&lt;/b&gt;');
    expect(slack).not.toContain('\u001b');
    expect(mails()[1]!.text).not.toContain('\u001b');

    // A quiet interval sends nothing; the next risky command is told at once again.
    clock.advance(60_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(hooks('/hook')).toHaveLength(2);
    clock.advance(60_000);
    s.notifier.riskyCommand(session, cmd(3, 'history -c'));
    await waitFor(() => hooks('/hook').length === 3, { message: 'the next notice' });
    await drained(s.notifier);
  });
});

/** The queue alone, on a ManualClock: when each try runs, to the millisecond. */
describe('RetryQueue', () => {
  /** A delivery that fails its first `failing` tries; `at` holds the clock's time (ms) of each try. */
  function delivery(clock: ManualClock, failing: number, permanent = false): Delivery & { at: number[] } {
    const at: number[] = [];
    return {
      label: 'test delivery',
      context: {},
      at,
      async attempt() {
        at.push(clock.now().getTime());
        if (at.length <= failing) throw new DeliveryError(`failure ${at.length}`, { permanent });
      },
    };
  }

  function queue(clock: ManualClock, options: Partial<RetryQueueOptions> = {}): { q: RetryQueue; ends: string[] } {
    const ends: string[] = [];
    const q = new RetryQueue({
      maxAttempts: 4,
      baseDelay: 100,
      limit: 10,
      scheduler: clock,
      onRetry: (_d, attempt, delayMs) => ends.push(`retry after ${attempt} in ${delayMs}`),
      onGiveUp: (_d, attempts) => ends.push(`gave up after ${attempts}`),
      onDrop: (d) => ends.push(`dropped ${d.label}`),
      ...options,
    });
    return { q, ends };
  }

  it('tries again after baseDelay, then twice and four times as long, each on time and not before', async () => {
    const clock = new ManualClock(0);
    const { q, ends } = queue(clock);
    const d = delivery(clock, 3);
    q.add(d);
    // Each failure is handled (and its retry set) by promise callbacks: let them run before moving on.
    await clock.advanceAsync(0);
    await clock.advanceAsync(99);
    expect(d.at).toEqual([0]);
    await clock.advanceAsync(1);
    expect(d.at).toEqual([0, 100]);
    await clock.advanceAsync(199);
    expect(d.at).toEqual([0, 100]);
    await clock.advanceAsync(1);
    expect(d.at).toEqual([0, 100, 300]);
    await clock.advanceAsync(400);
    expect(d.at).toEqual([0, 100, 300, 700]);
    expect(q.size).toBe(0);
    expect(ends).toEqual(['retry after 1 in 100', 'retry after 2 in 200', 'retry after 3 in 400']);
    expect(clock.pendingTimers).toBe(0);
  });

  it('gives up after maxAttempts, and at once on a permanent failure', async () => {
    const clock = new ManualClock(0);
    const { q, ends } = queue(clock, { maxAttempts: 2 });
    const always = delivery(clock, Infinity);
    const permanent = delivery(clock, Infinity, true);
    q.add(always);
    q.add(permanent);
    await clock.advanceAsync(0);
    await clock.advanceAsync(100);
    await clock.advanceAsync(10_000);
    expect(always.at).toEqual([0, 100]);
    expect(permanent.at).toEqual([0]);
    expect(ends.sort()).toEqual(['gave up after 1', 'gave up after 2', 'retry after 1 in 100']);
    expect(q.size).toBe(0);
  });

  it('stop() cancels the retries waiting, and nothing is reported after', async () => {
    const clock = new ManualClock(0);
    const { q, ends } = queue(clock);
    const d = delivery(clock, Infinity);
    q.add(d);
    await clock.advanceAsync(0);
    expect(clock.pendingTimers).toBe(1);
    expect(q.stop()).toBe(1);
    expect(clock.pendingTimers).toBe(0);
    await clock.advanceAsync(60_000);
    expect(d.at).toEqual([0]);
    expect(ends).toEqual(['retry after 1 in 100']);
  });
});

describe('notifications settings', () => {
  const load = (overrides: Record<string, unknown>) => loadConfig({ env: {}, overrides: { dataDir: '/nonexistent-airlock', ...overrides } });

  it('default to no webhooks, no e-mail, 6 tries from 1s, 10s per try', () => {
    expect(load({}).notifications).toEqual({ webhooks: [], maxAttempts: 6, baseDelay: 1000, timeout: 10_000, riskyCommandInterval: 60_000 });
    const c = load({ 'notifications.webhooks': [{ url: 'https://hooks.example.test/x' }], 'notifications.smtp': { host: 'mail', from: 'a@b.c' } });
    expect(c.notifications.webhooks).toEqual([{ url: 'https://hooks.example.test/x', format: 'json' }]);
    expect(c.notifications.smtp).toEqual({ host: 'mail', port: 587, secure: false, from: 'a@b.c' });
  });

  it.each([
    [{ 'notifications.webhooks': [{ url: 'ftp://files.example.test/x' }] }, 'notifications.webhooks.0.url: expected an http:// or https:// URL'],
    [{ 'notifications.webhooks': [{ url: 'not a url' }] }, 'notifications.webhooks.0.url: expected an http:// or https:// URL'],
    [{ 'notifications.webhooks': [{ url: 'https://x.test', secret: 'short' }] }, 'notifications.webhooks.0.secret: use at least 16 characters'],
    [{ 'notifications.webhooks': [{ url: 'https://x.test', format: 'teams' }] }, 'notifications.webhooks.0.format'],
    [{ 'notifications.webhooks': [{ url: 'https://x.test', events: ['request.approval'] }] }, 'notifications.webhooks.0.events.0'],
    [{ 'notifications.smtp': { host: 'mail' } }, 'notifications.smtp.from'],
    [{ 'notifications.maxAttempts': 0 }, 'notifications.maxAttempts'],
    [{ 'notifications.baseDelay': 'soon' }, 'notifications.baseDelay'],
    [{ 'notifications.timeout': '10ms' }, 'notifications.timeout: must be at least 100ms'],
  ])('refuses %j', (overrides, message) => {
    expect(() => load(overrides)).toThrow(message);
  });
});
