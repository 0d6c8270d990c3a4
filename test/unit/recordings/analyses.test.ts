import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { randomUUID } from 'node:crypto';
import { rmSync, truncateSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../../core/clock.js';
import { Frame, FrameParser } from '../../../recordings/frame-format.js';
import { eventsOf } from '../../helpers/frames.js';
import type { LiveRecording, StartRecording } from '../../../recordings/recordings.js';
import { engines } from '../../helpers/db.js';
import { openTestServices } from '../../helpers/services.js';
import type { TestServices } from '../../helpers/services.js';
import { waitFor } from '../../helpers/wait.js';

/**
 * The Analyses service on both engines: claiming work, storing commands and
 * keyframes, search, replay windows, failures, crash recovery and retention.
 * The terminal analysis itself is tested in analysis.test.ts.
 */
describe.each(engines)('Analyses on %s', (engine) => {
  let s: TestServices;
  let clock: ManualClock;
  /** The timers (the analysis poll, the recorders'): never moved, so none runs. The date moves by days here. */
  let timers: ManualClock;
  let userId: string;

  beforeEach(async () => {
    clock = new ManualClock(Date.UTC(2026, 0, 10, 9, 30));
    timers = new ManualClock();
    s = await openTestServices(engine, { clock, scheduler: timers, overrides: { 'recordings.flushBytes': 4096 } });
    userId = randomUUID();
    await s.db.query(`INSERT INTO users (id, name, role, password_hash, created_at, updated_at) VALUES ($1, 'alice', 'engineer', 'x', $2, $2)`, [userId, clock.now()]);
  });
  afterEach(async () => {
    await s.analyses.stop();
    await s.close();
  });

  async function newRecording(over: Partial<StartRecording> = {}): Promise<LiveRecording> {
    const sessionId = randomUUID();
    await s.db.query(
      `INSERT INTO sessions (id, user_id, user_name, target_name, target_login, source, node, started_at, status) VALUES ($1, $2, $3, $4, 'root', '192.0.2.7', $5, $6, 'active')`,
      [sessionId, userId, over.user ?? 'alice', over.target ?? 'db01', s.config.nodeName, clock.now()],
    );
    return s.recordings.start({
      sessionId,
      channelIndex: 1,
      kind: 'terminal',
      user: 'alice',
      target: 'db01',
      login: 'root',
      source: '192.0.2.7',
      sensitivity: 'standard',
      width: 80,
      height: 24,
      term: 'xterm',
      ...over,
    });
  }

  /** A shell session: prompt, each key typed and echoed, Enter, output. */
  function typeCommand(live: LiveRecording, command: string, output: string): void {
    live.recorder.output(Buffer.from('alice@db01:~$ '));
    clock.advance(500);
    for (const ch of command) {
      live.recorder.input(Buffer.from(ch));
      live.recorder.output(Buffer.from(ch));
      clock.advance(50);
    }
    live.recorder.input(Buffer.from('\r'));
    live.recorder.output(Buffer.from('\r\n' + output));
    clock.advance(1000);
  }

  it('analyses sealed recordings, oldest first, and stores commands with their time and risks', async () => {
    expect(await s.analyses.runOnce()).toBe(false);
    const live = await newRecording();
    typeCommand(live, 'uptime', ' 09:30:00 up 3 days\r\n');
    typeCommand(live, 'sudo rm -rf /etc', '');
    typeCommand(live, 'history -c', '');
    // Still recording: not analysed yet.
    expect(await s.analyses.runOnce()).toBe(false);
    await live.finish();
    expect(await s.analyses.runOnce()).toBe(true);
    expect(await s.analyses.runOnce()).toBe(false);

    const row = await s.recordings.get(live.id);
    expect(row).toMatchObject({ analysisStatus: 'done', commandCount: 3, riskCount: 2, analysisError: null });
    expect(row.duration).toBeGreaterThan(5);
    expect(row.outputBytes).toBeGreaterThan(40);
    const commands = await s.analyses.commands(live.id);
    expect(commands.map((c) => c.text)).toEqual(['uptime', 'sudo rm -rf /etc', 'history -c']);
    expect(commands[0]).toMatchObject({ recordingId: live.id, seq: 0, userName: 'alice', targetName: 'db01', risks: [] });
    expect(commands[1]?.risks.length).toBeGreaterThan(0);
    expect(commands[1]?.risks.some((r) => r.severity === 'high')).toBe(true);
    // Wall-clock time: the recording's start plus the time into it.
    expect(commands[0]!.at.getTime()).toBe(row.startedAt.getTime() + Math.round(commands[0]!.t * 1000));
    // The offset points at the frame where Enter was pressed.
    const file = await s.recordings.read(row);
    const at = commands[0]!.castOffset;
    expect([file[at], file.readUInt32BE(at + 6), file[at + 10]]).toEqual([Frame.Input, 1, 0x0d]);

    const audit = (await s.db.query<{ details: { commands: number; risky: Array<{ seq: number; rules: string[] }> } }>("SELECT details FROM audit_events WHERE action = 'recording.analysed'")).rows;
    expect(audit).toHaveLength(1);
    expect(audit[0]?.details.commands).toBe(3);
    expect(audit[0]?.details.risky.map((r) => r.seq)).toEqual([1, 2]);
  });

  it('follows a live recording: its commands are stored and told as they are found, and the analysis at the seal is the live one', async () => {
    await s.analyses.start();
    const told: Array<{ recording: string; text: string; risky: boolean }> = [];
    const unlisten = s.analyses.onLiveCommand((e) => told.push({ recording: e.recording.id, text: e.command.text, risky: e.command.risks.length > 0 }));
    const live = await newRecording();
    await waitFor(async () => (await s.recordings.get(live.id)).analysisStatus === 'live', { message: 'the recording to be followed' });
    typeCommand(live, 'uptime', ' 09:30:00 up 3 days\r\n');
    typeCommand(live, 'history -c', '');
    live.recorder.output(Buffer.from('alice@db01:~$ '));
    await waitFor(
      async () => {
        timers.advance(1000); // the recorder's batch and flush
        return (await s.analyses.commands(live.id)).length === 2;
      },
      { intervalMs: 100, message: 'the live commands' },
    );
    const during = await s.analyses.commands(live.id);
    expect(during.map((c) => [c.seq, c.text, c.risks.length > 0])).toEqual([[0, 'uptime', false], [1, 'history -c', true]]);
    expect(told).toEqual([{ recording: live.id, text: 'uptime', risky: false }, { recording: live.id, text: 'history -c', risky: true }]);
    const flagged = await s.audit.list({ action: 'recording.command_flagged' });
    expect(flagged.map((e) => [e.target, (e.details as { text: string }).text])).toEqual([[live.id, 'history -c']]);
    // Still running: the batch does not touch it.
    expect(await s.analyses.runOnce()).toBe(false);

    typeCommand(live, 'df -h', 'Filesystem\r\n');
    await live.finish();
    await waitFor(async () => (await s.recordings.get(live.id)).analysisStatus === 'done', { message: 'the analysis at the seal' });
    expect(await s.analyses.runOnce()).toBe(false); // nothing left for the batch
    const after = await s.analyses.commands(live.id);
    expect(after.slice(0, 2)).toEqual(during);
    expect(after.map((c) => c.text)).toEqual(['uptime', 'history -c', 'df -h']);
    expect(await s.recordings.get(live.id)).toMatchObject({ commandCount: 3, riskCount: 1 });
    expect(s.analyses.liveCount).toBe(0);
    // Analysed afresh, the same recording gives the same commands and keyframes.
    const keyframes = (await s.db.query('SELECT seq, t, cast_offset, screen FROM recording_keyframes WHERE recording_id = $1 ORDER BY seq', [live.id])).rows;
    await s.db.query("UPDATE recordings SET analysis_status = 'pending' WHERE id = $1", [live.id]);
    expect(await s.analyses.runOnce()).toBe(true);
    expect(await s.analyses.commands(live.id)).toEqual(after);
    expect((await s.db.query('SELECT seq, t, cast_offset, screen FROM recording_keyframes WHERE recording_id = $1 ORDER BY seq', [live.id])).rows).toEqual(keyframes);
    unlisten();
  });

  it('follows an exec only until its command line is found, and analyses the rest after the seal with the same command', async () => {
    await s.analyses.start();
    const live = await newRecording({ kind: 'exec', command: 'history -c; cat /var/backups/db.dump' });
    await waitFor(
      async () => {
        timers.advance(1000);
        return (await s.analyses.commands(live.id)).length === 1 && (await s.recordings.get(live.id)).analysisStatus === 'pending';
      },
      { intervalMs: 100, message: 'the exec command, live, then the recording released' },
    );
    const during = await s.analyses.commands(live.id);
    expect(during.map((c) => [c.text, c.risks.map((r) => r.rule)])).toEqual([['history -c; cat /var/backups/db.dump', ['history-tampering']]]);
    expect(s.analyses.liveCount).toBe(0);
    live.recorder.output(Buffer.alloc(64 * 1024, 'x'));
    await live.finish();
    await waitFor(async () => (await s.recordings.get(live.id)).analysisStatus === 'done', { message: 'the analysis after the seal' });
    expect(await s.analyses.commands(live.id)).toEqual(during);
  });

  it('with live analysis off, or past the seal of a recording it never followed, analyses after the seal', async () => {
    await s.close();
    s = await openTestServices(engine, { clock, scheduler: timers, overrides: { 'recordings.flushBytes': 4096, 'recordings.liveAnalysis': false } });
    await s.db.query(`INSERT INTO users (id, name, role, password_hash, created_at, updated_at) VALUES ($1, 'alice', 'engineer', 'x', $2, $2)`, [userId, clock.now()]);
    await s.analyses.start();
    const live = await newRecording();
    typeCommand(live, 'history -c', '');
    for (let i = 0; i < 5; i++) {
      timers.advance(1000);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await s.analyses.commands(live.id)).toEqual([]);
    expect((await s.recordings.get(live.id)).analysisStatus).toBe('pending');
    await live.finish();
    await waitFor(async () => (await s.recordings.get(live.id)).analysisStatus === 'done', { message: 'the analysis after the seal' });
    expect((await s.analyses.commands(live.id)).map((c) => c.text)).toEqual(['history -c']);
  });

  it('searches commands across recordings by text, user, target, time and risk; LIKE wildcards are literal', async () => {
    const a = await newRecording();
    typeCommand(a, 'grep -c 100% /var/log/syslog', '3\r\n');
    typeCommand(a, 'systemctl stop auditd', '');
    await a.finish();
    clock.advance(3_600_000);
    const b = await newRecording({ target: 'web02' });
    typeCommand(b, 'df -h', 'Filesystem  Size\r\n');
    await b.finish();
    while (await s.analyses.runOnce()) {
      /* all */
    }
    const texts = async (q: Parameters<typeof s.analyses.search>[0]) => (await s.analyses.search(q)).map((c) => c.text);
    expect(await texts({})).toEqual(['df -h', 'systemctl stop auditd', 'grep -c 100% /var/log/syslog']);
    expect(await texts({ text: 'SYSTEMCTL' })).toEqual(['systemctl stop auditd']);
    expect(await texts({ text: '100%' })).toEqual(['grep -c 100% /var/log/syslog']);
    expect(await texts({ text: '%' })).toEqual(['grep -c 100% /var/log/syslog']);
    expect(await texts({ text: '_' })).toEqual([]);
    expect(await texts({ target: 'web02' })).toEqual(['df -h']);
    expect(await texts({ user: 'bob' })).toEqual([]);
    expect(await texts({ risky: true })).toEqual(['systemctl stop auditd']);
    expect(await texts({ since: new Date(clock.now().getTime() - 1_800_000) })).toEqual(['df -h']);
    expect(await texts({ until: new Date(clock.now().getTime() - 1_800_000) })).toEqual(['systemctl stop auditd', 'grep -c 100% /var/log/syslog']);
    expect(await texts({ limit: 1 })).toEqual(['df -h']);
  });

  it('serves replay windows: from the start, from a keyframe, and page by page to the end', async () => {
    const live = await newRecording();
    for (let i = 0; i < 40; i++) typeCommand(live, `echo run-${i}`, `run-${i}\r\n${'x'.repeat(3000)}\r\n`);
    await live.finish();
    // Small keyframe spacing so that there are several.
    const { Analyses } = await import('../../../recordings/analyses.js');
    const { FileRecordingStore } = await import('../../../recordings/store.js');
    const dense = new Analyses({
      db: s.db,
      audit: s.audit,
      clock,
      scheduler: timers,
      logger: s.logger,
      store: new FileRecordingStore(join(s.dataDir, 'recordings')),
      nodeName: s.config.nodeName,
      options: { keyframeBytes: 16 * 1024, keyframeSeconds: 3600 },
    });
    expect(await dense.runOnce()).toBe(true);
    const row = await s.recordings.get(live.id);
    const cast = { events: eventsOf(await s.recordings.read(row)) };
    const frames = (await s.db.query<{ n: number }>('SELECT count(*)::int AS n FROM recording_keyframes WHERE recording_id = $1', [live.id])).rows[0]?.n ?? 0;
    expect(frames).toBeGreaterThan(3);

    const start = await dense.replay(row, { at: 0, window: 1, maxBytes: 1 << 20 });
    expect(start.keyframe).toBeNull();
    expect(start.header).toMatchObject({ version: 2, width: 80, height: 24 });
    expect(start.events[0]).toEqual(cast.events[0]);
    expect(start.events.every((e) => e[0] <= 1) || start.events.length === 1).toBe(true);
    expect(start.end).toBe(false);

    const at = (row.duration ?? 0) * 0.9;
    const seek = await dense.replay(row, { at, window: 2, maxBytes: 1 << 20 });
    expect(seek.keyframe).not.toBeNull();
    expect(seek.keyframe!.t).toBeLessThanOrEqual(at);
    const k = await dense.keyframeAt(row.id, at);
    expect(k?.t).toBe(seek.keyframe!.t);
    // The events continue from the keyframe's frame in the file.
    const file = await s.recordings.read(row);
    const frame: number[] = [];
    new FrameParser(k!.castOffset).push(file.subarray(k!.castOffset), (f) => {
      frame.push(f.time / 1000, f.type);
      return false;
    });
    expect(frame[1]).toBe(Frame.Output);
    expect(seek.events[0]?.[0]).toBe(frame[0]);
    expect(seek.events.at(-1)![0]).toBeLessThanOrEqual(at + 2 + 5);

    // Paging with from= walks every event exactly once, whatever the page size.
    const all: unknown[] = [];
    let from: number | undefined = undefined;
    let end = false;
    for (let pages = 0; !end && pages < 500; pages++) {
      const w = await dense.replay(row, { at: 0, window: 1e9, maxBytes: 8 * 1024, from: from ?? 0 });
      all.push(...w.events);
      from = w.nextOffset;
      end = w.end;
    }
    expect(end).toBe(true);
    expect(all).toEqual(cast.events);
  });

  it('marks a recording it cannot read as failed, audited, and goes on', async () => {
    const live = await newRecording();
    typeCommand(live, 'ls', 'a b\r\n');
    await live.finish();
    const row = await s.recordings.get(live.id);
    rmSync(join(s.dataDir, 'recordings', row.path));
    expect(await s.analyses.runOnce()).toBe(true);
    const after = await s.recordings.get(live.id);
    expect(after.analysisStatus).toBe('failed');
    expect(after.analysisError).toMatch(/ENOENT|no such file/);
    const audit = (await s.db.query<{ action: string }>("SELECT action FROM audit_events WHERE action LIKE 'recording.analysis%'")).rows;
    expect(audit.map((a) => a.action)).toEqual(['recording.analysis_failed']);
    expect(await s.analyses.runOnce()).toBe(false);
  });

  it('analyses a recording torn by a crash up to the torn line', async () => {
    const live = await newRecording();
    typeCommand(live, 'uptime', 'up\r\n');
    typeCommand(live, 'whoami', 'root\r\n');
    await live.finish();
    const row = await s.recordings.get(live.id);
    const path = join(s.dataDir, 'recordings', row.path);
    truncateSync(path, statSync(path).size - 5);
    expect(await s.analyses.runOnce()).toBe(true);
    const after = await s.recordings.get(live.id);
    expect(after.analysisStatus).toBe('done');
    expect(after.analysisError).toMatch(/torn/);
    expect((await s.analyses.commands(live.id)).map((c) => c.text)).toEqual(['uptime', 'whoami']);
  });

  it('takes up work a crash left running, and analyses what is sealed when started', async () => {
    const live = await newRecording();
    typeCommand(live, 'id', 'uid=0(root)\r\n');
    await live.finish();
    await s.db.query("UPDATE recordings SET analysis_status = 'running' WHERE id = $1", [live.id]);
    expect(await s.analyses.runOnce()).toBe(false);
    await s.analyses.start();
    await s.analyses.idle();
    expect((await s.recordings.get(live.id)).analysisStatus).toBe('done');
    // A newly sealed recording is picked up without the poll (whose timer never runs here).
    const next = await newRecording();
    typeCommand(next, 'hostname', 'db01\r\n');
    await next.finish();
    await waitFor(async () => (await s.recordings.get(next.id)).analysisStatus === 'done', { intervalMs: 50, message: 'the sealed recording analysed' });
  });

  it('deletes commands and keyframes with the recording at retention', async () => {
    const live = await newRecording();
    typeCommand(live, 'cat /etc/hostname', 'db01\r\n');
    await live.finish();
    await s.analyses.runOnce();
    expect(await s.analyses.commands(live.id)).toHaveLength(1);
    clock.advance(400 * 86_400_000);
    expect(await s.recordings.prune()).toBe(1);
    expect(await s.analyses.commands(live.id)).toEqual([]);
    expect((await s.db.query<{ n: number }>('SELECT count(*)::int AS n FROM recording_keyframes WHERE recording_id = $1', [live.id])).rows[0]?.n).toBe(0);
    expect(await s.analyses.search({ text: 'hostname' })).toEqual([]);
  });
});
