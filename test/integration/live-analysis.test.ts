import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { analyseFile } from '../../recordings/analysis/index.js';
import { FileRecordingStore } from '../../recordings/index.js';
import { signBody } from '../../approvals/webhooks.js';
import { startGateway } from '../helpers/gateway.js';
import type { GatewayHarness } from '../helpers/gateway.js';
import { TmuxSsh } from '../helpers/tmux.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Live analysis through the real gateway under a real terminal: a command typed
 * in a running session is in the API's command list within 2 s of its Enter; a
 * risky one is on the approvers' event stream and reaches a webhook receiver at
 * once, the next ones in the same session gathered into one later call; the
 * analysis stored at the seal is the live one, and the same as analysing the
 * sealed file afresh.
 */
const SECRET = 'live-analysis-webhook-secret';
const INTERVAL_MS = 3000;

interface Received {
  at: number;
  headers: IncomingHttpHeaders;
  body: string;
}

describe('live analysis', () => {
  let g: GatewayHarness;
  let receiver: Server;
  const received: Received[] = [];
  let approverToken: string;

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ at: performance.now(), headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    g = await startGateway('pglite', {
      overrides: {
        'notifications.webhooks': [{ url, secret: SECRET, events: ['command.risky'] }],
        'notifications.riskyCommandInterval': INTERVAL_MS,
      },
    });
    const bob = await g.services.identity.users.add({ name: 'bob', role: 'approver', password: 'bob-correct-horse-1', org: 'Acme Clinic' }, { name: 'test-admin' });
    const res = await fetch(`${g.server.web.url}/api/v1/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'bob', password: 'bob-correct-horse-1', totp: g.totp(bob.totp.secret) }),
    });
    expect(res.status).toBe(201);
    approverToken = ((await res.json()) as { token: string }).token;
  });
  afterAll(async () => {
    await g?.stop();
    await new Promise((resolve) => receiver?.close(resolve));
  });

  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${g.server.web.url}${path}`, { headers: { authorization: `Bearer ${approverToken}` } });
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  const liveCommands = async (id: string) => (await api<{ commands: Array<{ seq: number; text: string; risks: Array<{ rule: string }> }> }>(`/api/v1/recordings/${id}/commands`)).commands;

  /** The approvers' event stream, read as it arrives. */
  const openStream = async () => {
    const abort = new AbortController();
    const res = await fetch(`${g.server.web.url}/api/v1/requests/events`, { headers: { authorization: `Bearer ${approverToken}` }, signal: abort.signal });
    expect(res.status).toBe(200);
    let text = '';
    void (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of res.body as AsyncIterable<Uint8Array>) text += decoder.decode(chunk, { stream: true });
      } catch {
        /* aborted */
      }
    })();
    return { text: () => text, close: () => abort.abort() };
  };

  it('shows commands within 2 s of Enter, tells of risky ones at once and gathered, and stores the same analysis at the seal', async () => {
    const stream = await openStream();
    const t = new TmuxSsh(g.ssh, 'alice@t1', { password: 'alice-correct-horse-1', totp: g.totp(g.alice.totp.secret), width: 100, height: 30 });
    let recordingId: string;
    const latencies: number[] = [];
    try {
      await t.waitFor(/\$\s*$/m);
      t.type('export PS1="tgt$ "');
      await t.waitFor(/tgt\$\s*$/m);
      const live = await waitFor(async () => (await g.services.recordings.list()).find((r) => r.kind === 'terminal' && r.status === 'recording'), {
        timeoutMs: 10_000,
        message: 'the live recording',
      });
      recordingId = live.id;
      expect((await g.services.recordings.get(live.id)).analysisStatus).toBe('live');

      // Each command is readable through the API soon after its Enter.
      const typed = async (line: string, output: string | RegExp) => {
        t.type(line, false);
        await t.waitFor(line);
        const entered = performance.now();
        t.send('Enter');
        await t.waitFor(output);
        const found = await waitFor(async () => (await liveCommands(live.id)).find((c) => c.text === line), { timeoutMs: 10_000, intervalMs: 50, message: `${line} in the API` });
        latencies.push(performance.now() - entered);
        return found;
      };
      await typed('echo live-one', /^live-one/m);
      await typed('ls /nonexistent-live-dir; true', /No such file/);
      const first = await typed('history -c', /tgt\$\s*$/);
      expect(first.risks.map((r) => r.rule)).toEqual(['history-tampering']);
      const sent = performance.now();

      // The first risky command reaches the webhook at once, signed, and the event stream.
      const hook1 = await waitFor(async () => received[0], { timeoutMs: 10_000, message: 'the first webhook call' });
      expect(hook1.headers['x-airlock-event']).toBe('command.risky');
      expect(hook1.headers['x-airlock-signature']).toBe(signBody(SECRET, hook1.body));
      const body1 = JSON.parse(hook1.body) as { session: { user: string; target: string; recording: string }; commands: Array<{ text: string; risks: Array<{ rule: string }> }>; more: number };
      expect(body1.session).toMatchObject({ user: 'alice', target: 't1', recording: live.id });
      expect(body1.commands.map((c) => c.text)).toEqual(['history -c']);
      expect(body1.more).toBe(0);
      await waitFor(async () => stream.text().includes('event: command.risky'), { timeoutMs: 5000, message: 'command.risky on the event stream' });
      expect(stream.text()).toContain('"text":"history -c"');

      // Two more within the interval: one webhook call at its end, with both.
      await typed('rm -rf /tmp/airlock-live-nothing-here', /tgt\$\s*$/);
      await typed('history -c; echo again', /^again/m);
      expect(received).toHaveLength(1);
      const hook2 = await waitFor(async () => received[1], { timeoutMs: INTERVAL_MS + 10_000, message: 'the gathered webhook call' });
      expect(hook2.at - sent).toBeGreaterThanOrEqual(INTERVAL_MS - 500);
      const body2 = JSON.parse(hook2.body) as { commands: Array<{ text: string }>; more: number };
      expect(body2.commands.map((c) => c.text)).toEqual(['rm -rf /tmp/airlock-live-nothing-here', 'history -c; echo again']);

      t.type('exit');
      await t.waitFor('SSH-EXIT=');
    } finally {
      t.kill();
      stream.close();
    }
    expect(Math.max(...latencies)).toBeLessThan(2000);

    const before = await liveCommands(recordingId);
    const row = await waitFor(
      async () => {
        const r = await g.services.recordings.get(recordingId);
        return r.analysisStatus === 'done' || r.analysisStatus === 'failed' ? r : undefined;
      },
      { timeoutMs: 30_000, message: 'the analysis at the seal' },
    );
    expect(row.analysisStatus).toBe('done');
    const after = await liveCommands(recordingId);
    // Every live command is in the final analysis, unchanged, and the final one is what a fresh analysis finds.
    expect(after.slice(0, before.length)).toEqual(before);
    const { config } = g.services;
    const fresh = await analyseFile(new FileRecordingStore(config.recordings.dir ?? join(config.dataDir, 'recordings')).localPath(row.path));
    expect(after.map((c) => [c.seq, c.text, c.risks.map((r) => r.rule)])).toEqual(fresh.commands.map((c) => [c.seq, c.text, c.risks.map((r) => r.rule)]));
    expect(after.map((c) => c.text)).toEqual(
      expect.arrayContaining(['echo live-one', 'ls /nonexistent-live-dir; true', 'history -c', 'rm -rf /tmp/airlock-live-nothing-here', 'history -c; echo again', 'exit']),
    );
    const flagged = (await g.services.audit.list({ action: 'recording.command_flagged' })).filter((e) => e.target === recordingId);
    expect(flagged.map((e) => (e.details as { text: string }).text)).toEqual(['history -c', 'rm -rf /tmp/airlock-live-nothing-here', 'history -c; echo again']);
    console.log(`live analysis: Enter to API ${latencies.map((l) => Math.round(l)).join(', ')} ms`);
  });
});
