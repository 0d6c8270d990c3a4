import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { ManualClock } from '../../../core/clock.js';
import { AirlockError } from '../../../core/errors.js';
import { Recordings } from '../../../recordings/recordings.js';
import type { StartRecording } from '../../../recordings/recordings.js';
import { FileRecordingStore } from '../../../recordings/store.js';
import type { RecordingStore } from '../../../recordings/store.js';
import { parseCast } from '../../../recordings/asciicast.js';
import { Frame } from '../../../recordings/frame-format.js';
import { bytesOf, eventsOf, framesOf } from '../../helpers/frames.js';
import type { ChainEntry, RangeEntry } from '../../../recordings/integrity.js';
import { engines } from '../../helpers/db.js';
import { openTestServices } from '../../helpers/services.js';
import type { TestServices } from '../../helpers/services.js';
import { waitFor } from '../../helpers/wait.js';

const DAY = 86_400_000;

async function toArray(chunks: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of chunks) out.push(c);
  return out;
}

/** A store that can be made to fail like a full or read-only disk. */
class FlakyStore implements RecordingStore {
  broken: NodeJS.ErrnoException | undefined;
  /** Recordings created while this is set write to /dev/full: every write fails with ENOSPC. */
  failWrites = false;
  probes = 0;
  constructor(readonly inner: FileRecordingStore) {}
  get location() {
    return this.inner.location;
  }
  async create(relPath: string) {
    if (this.broken) throw this.broken;
    const files = await this.inner.create(relPath);
    if (!this.failWrites) return files;
    await Promise.all([files.file.close(), files.chain.close()]);
    return { file: await open('/dev/full', 'w'), chain: await open('/dev/full', 'w') };
  }
  read(relPath: string) {
    return this.inner.read(relPath);
  }
  readRange(relPath: string, offset: number, length: number) {
    return this.inner.readRange(relPath, offset, length);
  }
  openReader(relPath: string) {
    return this.inner.openReader(relPath);
  }
  stream(relPath: string, start?: number, end?: number) {
    return this.inner.stream(relPath, start, end);
  }
  localPath(relPath: string) {
    return this.inner.localPath(relPath);
  }
  readChain(relPath: string) {
    return this.inner.readChain(relPath);
  }
  size(relPath: string) {
    return this.inner.size(relPath);
  }
  remove(relPath: string) {
    return this.inner.remove(relPath);
  }
  async probe() {
    this.probes++;
    if (this.broken) throw this.broken;
    return this.inner.probe();
  }
}

const errno = (code: string, message: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: ${message}`), { code });

describe.each(engines)('Recordings on %s', (engine) => {
  let s: TestServices;
  let clock: ManualClock;
  /**
   * The timers (recorders' flushes and checkpoints, the storage probe) run on a
   * clock of their own: these tests move the date by minutes and days (a crash,
   * retention) without meaning the recorders to tick through them.
   */
  let timers: ManualClock;
  let recordingsDir: string;
  let userId: string;
  const extra: Recordings[] = [];

  beforeEach(async () => {
    clock = new ManualClock(Date.UTC(2026, 0, 10, 9, 30));
    timers = new ManualClock();
    s = await openTestServices(engine, {
      clock,
      scheduler: timers,
      overrides: { 'recordings.retentionDays': { standard: 365, sensitive: 30, critical: 730 }, 'recordings.flushBytes': 4096 },
    });
    recordingsDir = join(s.dataDir, 'recordings');
    userId = randomUUID();
    await s.db.query(`INSERT INTO users (id, name, role, password_hash, created_at, updated_at) VALUES ($1, 'alice', 'engineer', 'x', $2, $2)`, [userId, clock.now()]);
  });
  afterEach(async () => {
    for (const r of extra.splice(0)) r.stop();
    await s.close();
  });

  async function newSession(): Promise<string> {
    const id = randomUUID();
    await s.db.query(
      `INSERT INTO sessions (id, user_id, user_name, target_name, target_login, source, node, started_at, status) VALUES ($1, $2, 'alice', 'db01', 'root', '192.0.2.7', $3, $4, 'active')`,
      [id, userId, s.config.nodeName, clock.now()],
    );
    return id;
  }

  const startOf = (sessionId: string, over: Partial<StartRecording> = {}): StartRecording => ({
    sessionId,
    channelIndex: 1,
    kind: 'terminal',
    user: 'alice',
    target: 'db01',
    login: 'root',
    source: '192.0.2.7',
    sensitivity: 'standard',
    width: 100,
    height: 30,
    term: 'xterm-256color',
    ...over,
  });

  const chainOf = (path: string) =>
    readFileSync(join(recordingsDir, path + '.chain'), 'utf8')
      .split('\n')
      .filter((l) => l)
      .map((l) => JSON.parse(l) as ChainEntry);

  const auditActions = async (prefix: string) => (await s.audit.list({ action: prefix, limit: 1000 })).filter((e) => e.action.startsWith(prefix));

  it('start and finish write a complete row that matches the file', async () => {
    const sessionId = await newSession();
    const started = clock.now();
    const live = await s.recordings.start(startOf(sessionId, { approvalId: 'apr-1' }));
    const during = await s.recordings.get(live.id);
    expect(during.status).toBe('recording');
    expect(during.length).toBeNull();
    live.recorder.output(Buffer.from('alice@db01:~$ '));
    clock.advance(2000);
    live.recorder.output(Buffer.alloc(6000, 'y'));
    clock.advance(1000);
    await live.finish();
    await live.finish(); // once only

    const row = await s.recordings.get(live.id);
    expect(row).toMatchObject({
      sessionId,
      channelIndex: 1,
      kind: 'terminal',
      path: `2026/01/10/${sessionId}.alr`,
      node: s.config.nodeName,
      userName: 'alice',
      targetName: 'db01',
      sensitivity: 'standard',
      status: 'complete',
      keyFingerprint: s.recordingKeys.current().fingerprint,
      deletedAt: null,
    });
    expect(row.startedAt.getTime()).toBe(started.getTime());
    expect(row.endedAt?.getTime()).toBe(started.getTime() + 3000);
    expect(row.retainUntil.getTime()).toBe(started.getTime() + 365 * DAY);

    const file = readFileSync(join(recordingsDir, row.path));
    const ranges = chainOf(row.path).filter((e): e is RangeEntry => e.t === 'range');
    expect(row.length).toBe(file.length);
    expect(row.chainEntries).toBe(ranges.length);
    expect(row.chainHead).toBe(ranges.at(-1)?.head);
    const last = chainOf(row.path).at(-1);
    expect(last).toMatchObject({ t: 'checkpoint', body: { final: true, length: file.length, head: row.chainHead, session: sessionId, recording: live.id } });

    const { header } = framesOf(file);
    expect(header).toEqual({
      format: 'airlock-recording',
      version: 1,
      start: started.getTime(),
      recording: live.id,
      session: sessionId,
      kind: 'terminal',
      user: 'alice',
      target: 'db01',
      login: 'root',
      source: '192.0.2.7',
      cols: 100,
      rows: 30,
      term: 'xterm-256color',
      command: null,
      approval: 'apr-1',
      title: 'alice@db01',
    });
    expect(row.format).toBe('airlock-v1');
    expect(bytesOf(file, Frame.Output).toString()).toBe('alice@db01:~$ ' + 'y'.repeat(6000));
    // The asciicast export of it, streamed.
    const exported = parseCast(Buffer.concat(await toArray(s.recordings.cast(row))).toString('utf8'));
    expect(exported.header).toMatchObject({
      version: 2,
      width: 100,
      height: 30,
      title: 'alice@db01',
      env: { TERM: 'xterm-256color', SHELL: '/bin/sh' },
      airlock: { recording: live.id, session: sessionId, kind: 'terminal', user: 'alice', target: 'db01', login: 'root', source: '192.0.2.7', approval: 'apr-1' },
    });
    expect(exported.events.map((e) => e[2]).join('')).toBe('alice@db01:~$ ' + 'y'.repeat(6000));
    expect(Buffer.concat(await toArray(s.recordings.raw(row))).equals(file)).toBe(true);

    const sealed = await auditActions('recording.sealed');
    expect(sealed).toHaveLength(1);
    expect(sealed[0]).toMatchObject({ outcome: 'success', actor: 'system', target: live.id, details: { session: sessionId, path: row.path, length: file.length, head: row.chainHead, entries: ranges.length } });

    const report = await s.recordings.verify(row);
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ ok: true, verifiedLength: file.length, final: true });
  });

  it('records an exec with its command as a marker and in the title', async () => {
    const sessionId = await newSession();
    const live = await s.recordings.start(startOf(sessionId, { kind: 'exec', channelIndex: 2, command: 'uptime', term: undefined }));
    live.recorder.output(Buffer.from(' 09:30 up 1 day\n'));
    live.recorder.input(Buffer.from('stdin, as sent\n'));
    live.recorder.stderr(Buffer.from('a warning\n'));
    await live.finish();
    const row = await s.recordings.get(live.id);
    expect(row.path).toBe(`2026/01/10/${sessionId}-2.alr`);
    const file = readFileSync(join(recordingsDir, row.path));
    expect(framesOf(file).header).toMatchObject({ kind: 'exec', command: 'uptime', title: 'alice@db01: uptime', term: 'dumb' });
    expect(eventsOf(file).map((e) => [e[1], e[2]])).toEqual([
      ['m', 'exec: uptime'],
      ['o', ' 09:30 up 1 day\n'],
      ['i', 'stdin, as sent\n'],
      ['m', 'stderr'],
      ['o', 'a warning\n'],
    ]);
  });

  it('replays an exec whose command line is longer than the first read of the header, and refuses a from that is not a frame', async () => {
    const command = `echo ${'x'.repeat(100_000)}`;
    const live = await s.recordings.start(startOf(await newSession(), { kind: 'exec', channelIndex: 2, command, term: undefined }));
    live.recorder.output(Buffer.from('first\n'));
    clock.advance(5000);
    live.recorder.output(Buffer.from('second\n'));
    await live.finish();
    const row = await s.recordings.get(live.id);
    const w = await s.analyses.replay(row, { at: 0, window: 1e9, maxBytes: 1 << 20 });
    expect(w.header).toMatchObject({ title: expect.stringContaining('alice@db01: echo xxx') });
    // (The marker may shorten the command; the header keeps it whole.)
    expect(w.events.map((e) => e[2].slice(0, 20))).toEqual(['exec: echo xxxxxxxxx', 'first\n', 'second\n']);
    // Continuing from where an answer ended works; from the middle of a frame is a 4xx, not a 4 GiB read.
    const first = await s.analyses.replay(row, { at: 0, window: 0, maxBytes: 1 << 20 });
    expect(first.end).toBe(false);
    await expect(s.analyses.replay(row, { at: 0, window: 1e9, maxBytes: 1 << 20, from: first.nextOffset })).resolves.toMatchObject({ end: true });
    await expect(s.analyses.replay(row, { at: 0, window: 1e9, maxBytes: 1 << 20, from: first.nextOffset + 3 })).rejects.toMatchObject({
      code: 'ERR_INVALID_INPUT',
      message: expect.stringContaining('is not the start of a frame'),
    });
  });

  it("bundles a damaged recording's file, chain and report without the export it cannot make, and says why", async () => {
    const live = await s.recordings.start(startOf(await newSession()));
    live.recorder.output(Buffer.from('hello\r\n'));
    await live.finish();
    const row = await s.recordings.get(live.id);
    // A frame that claims 4 GiB: no reader can convert the file.
    const path = join(recordingsDir, row.path);
    const file = readFileSync(path);
    const lastFrame = file.length - 10 - 'hello\r\n'.length;
    file.writeUInt32BE(0xffffffff, lastFrame + 6);
    writeFileSync(path, file);
    const { files, report } = await s.recordings.evidence(row);
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.kind)).toContain('range_changed');
    expect(files.map((f) => f.name)).toEqual([`${row.id}.alr`, `${row.id}.alr.chain`, `${row.id}.export-missing.txt`]);
    const note = Buffer.concat([...(files[2]?.data() as Iterable<Uint8Array>)]);
    expect(note.toString()).toContain('The asciicast export could not be made from this recording');
  });

  it('verify() detects a flipped byte, a truncation and a missing file', async () => {
    const live = await s.recordings.start(startOf(await newSession()));
    for (let i = 0; i < 5; i++) live.recorder.output(Buffer.alloc(3000, 'a'.charCodeAt(0) + i));
    await live.finish();
    const row = await s.recordings.get(live.id);
    const path = join(recordingsDir, row.path);
    const original = readFileSync(path);
    const ranges = chainOf(row.path).filter((e): e is RangeEntry => e.t === 'range');
    expect(ranges.length).toBeGreaterThanOrEqual(3);
    const victim = ranges[1] as RangeEntry;

    const flipped = Buffer.from(original);
    flipped[victim.off + 100] = (flipped[victim.off + 100] as number) ^ 0x04;
    writeFileSync(path, flipped);
    const r1 = await s.recordings.verify(row);
    expect(r1.ok).toBe(false);
    expect(r1.problems).toEqual([{ kind: 'range_changed', index: 1, offset: victim.off, length: victim.len }]);
    expect(r1.summary).toBe(`bytes ${victim.off}–${victim.off + victim.len - 1} (range #1) were changed`);

    writeFileSync(path, original);
    expect((await s.recordings.verify(row)).ok).toBe(true);

    truncateSync(path, original.length - 1);
    const r2 = await s.recordings.verify(row);
    expect(r2.problems).toEqual([{ kind: 'truncated', expected: original.length, actual: original.length - 1 }]);

    writeFileSync(path, original);
    const chain = readFileSync(path + '.chain');
    rmSync(path + '.chain');
    const r3 = await s.recordings.verify(row);
    expect(r3.ok).toBe(false);
    expect(r3.problems).toEqual([{ kind: 'unreadable', detail: expect.stringMatching(/^cannot read the recording: ENOENT/) }]);
    writeFileSync(path + '.chain', chain);
    expect((await s.recordings.verify(row)).ok).toBe(true);
  });

  it('markInterrupted marks only this node\'s open recordings, which verify to their last checkpoint', async () => {
    const a = await s.recordings.start(startOf(await newSession()));
    const b = await s.recordings.start(startOf(await newSession()));
    const c = await s.recordings.start(startOf(await newSession()));
    const done = await s.recordings.start(startOf(await newSession()));
    await done.finish();
    await s.db.query(`UPDATE recordings SET node = 'other-node' WHERE id = $1`, [c.id]);
    try {
      a.recorder.output(Buffer.from('before the checkpoint\r\n'));
      await a.recorder.checkpoint(false);
      const checkpointed = a.recorder.length;
      a.recorder.output(Buffer.alloc(5000, 'z')); // flushed, after the checkpoint
      await waitFor(() => a.recorder.length > checkpointed, { message: 'the flush after the checkpoint' });

      clock.advance(60_000);
      expect(await s.recordings.markInterrupted()).toBe(2);
      const rowA = await s.recordings.get(a.id);
      expect(rowA.status).toBe('interrupted');
      expect(rowA.endedAt?.getTime()).toBe(clock.now().getTime());
      expect((await s.recordings.get(b.id)).status).toBe('interrupted');
      expect((await s.recordings.get(c.id)).status).toBe('recording');
      expect((await s.recordings.get(done.id)).status).toBe('complete');
      const audits = await auditActions('recording.interrupted');
      expect(audits).toHaveLength(1);
      expect(audits[0]).toMatchObject({ outcome: 'info', actor: 'system', details: { recordings: 2 } });
      // Nothing left to mark.
      expect(await s.recordings.markInterrupted()).toBe(0);
      expect(await auditActions('recording.interrupted')).toHaveLength(1);

      const report = await s.recordings.verify(rowA);
      expect(report.problems).toEqual([]);
      expect(report).toMatchObject({ ok: true, final: false, verifiedLength: checkpointed, checkpoints: 1 });
      expect(report.fileLength).toBeGreaterThan(checkpointed);
    } finally {
      await Promise.all([a, b, c].map((l) => l.recorder.close()));
    }
  });

  it('prune deletes recordings past retention, marks and audits them', async () => {
    const sensitive = await s.recordings.start(startOf(await newSession(), { sensitivity: 'sensitive' }));
    sensitive.recorder.output(Buffer.from('secret stuff'));
    await sensitive.finish();
    const standard = await s.recordings.start(startOf(await newSession()));
    await standard.finish();
    const open = await s.recordings.start(startOf(await newSession(), { sensitivity: 'sensitive' }));
    const sRow = await s.recordings.get(sensitive.id);
    expect(sRow.retainUntil.getTime()).toBe(clock.now().getTime() + 30 * DAY);
    const sPath = join(recordingsDir, sRow.path);
    expect(existsSync(sPath)).toBe(true);

    clock.advance(29 * DAY);
    expect(await s.recordings.prune()).toBe(0);
    expect(existsSync(sPath)).toBe(true);

    clock.advance(1 * DAY + 1);
    expect(await s.recordings.prune()).toBe(1);
    expect(existsSync(sPath)).toBe(false);
    expect(existsSync(sPath + '.chain')).toBe(false);
    const raw = (await s.db.query<{ deleted_at: Date | null }>('SELECT deleted_at FROM recordings WHERE id = $1', [sensitive.id])).rows[0];
    expect(raw?.deleted_at?.getTime()).toBe(clock.now().getTime());
    await expect(s.recordings.get(sensitive.id)).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    expect((await s.recordings.list()).map((r) => r.id).sort()).toEqual([standard.id, open.id].sort());
    const deleted = await auditActions('recording.deleted');
    expect(deleted).toHaveLength(1);
    expect(deleted[0]).toMatchObject({
      outcome: 'success',
      actor: 'system',
      target: sensitive.id,
      details: { reason: 'retention', session: sRow.sessionId, path: sRow.path, retainUntil: sRow.retainUntil.toISOString(), length: sRow.length, head: sRow.chainHead },
    });
    // An open recording is never pruned; the standard one goes after a year.
    expect((await s.recordings.get(open.id)).status).toBe('recording');
    clock.advance(336 * DAY);
    expect(await s.recordings.prune()).toBe(1);
    expect(await s.recordings.prune()).toBe(0);
    expect((await s.recordings.list()).map((r) => r.id)).toEqual([open.id]);
    expect(await auditActions('recording.deleted')).toHaveLength(2);
    await open.recorder.close();
  });

  describe('storage health', () => {
    let flaky: FlakyStore;
    let recordings: Recordings;

    beforeEach(() => {
      flaky = new FlakyStore(new FileRecordingStore(recordingsDir));
      recordings = new Recordings({ db: s.db, audit: s.audit, clock, scheduler: timers, logger: s.logger, keys: s.recordingKeys, store: flaky, config: s.config });
      extra.push(recordings);
    });

    it('fails closed when the store cannot create a recording, and recovers', async () => {
      flaky.broken = errno('EACCES', `permission denied, open '${recordingsDir}/2026/01/10/x.cast'`);
      expect(recordings.readiness()).toEqual({ ok: true });
      const sessionId = await newSession();
      const err = await recordings.start(startOf(sessionId)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(AirlockError);
      expect(err).toMatchObject({ code: 'ERR_RECORDING_UNAVAILABLE', status: 503, message: 'airlock cannot record this session, so it will not run it' });
      expect((err as Error).cause).toBe(flaky.broken);
      expect(recordings.healthy).toBe(false);
      expect(recordings.readiness()).toEqual({ ok: false, message: `recording storage failed: EACCES: permission denied, open '${recordingsDir}/2026/01/10/x.cast'` });
      expect(() => recordings.assertHealthy()).toThrow(expect.objectContaining({ code: 'ERR_RECORDING_UNAVAILABLE' }));
      // While unhealthy, new sessions are refused before touching the store.
      await expect(recordings.start(startOf(await newSession()))).rejects.toMatchObject({ code: 'ERR_RECORDING_UNAVAILABLE', message: expect.stringContaining('cannot record sessions right now') });
      expect((await s.db.query('SELECT id FROM recordings')).rows).toEqual([]);
      const failed = await auditActions('recording.storage.failed');
      expect(failed).toHaveLength(1);
      expect(failed[0]).toMatchObject({ outcome: 'failure', actor: 'system', details: { error: expect.stringMatching(/^EACCES: permission denied/), location: recordingsDir } });

      // Still broken: the probe says so and nothing changes.
      expect(await recordings.checkHealth()).toBe(false);
      expect(recordings.healthy).toBe(false);
      expect(await auditActions('recording.storage')).toHaveLength(1);

      flaky.broken = undefined;
      expect(await recordings.checkHealth()).toBe(true);
      expect(recordings.healthy).toBe(true);
      expect(recordings.problem).toBeUndefined();
      expect(recordings.readiness()).toEqual({ ok: true });
      expect(() => recordings.assertHealthy()).not.toThrow();
      const recovered = await auditActions('recording.storage.recovered');
      expect(recovered).toHaveLength(1);
      expect(recovered[0]).toMatchObject({ outcome: 'info', actor: 'system', details: { was: expect.stringMatching(/^EACCES: permission denied/) } });
      // Healthy stays quiet.
      expect(await recordings.checkHealth()).toBe(true);
      expect(await auditActions('recording.storage.recovered')).toHaveLength(1);

      const live = await recordings.start(startOf(sessionId));
      live.recorder.output(Buffer.from('works again'));
      await live.finish();
      expect((await recordings.get(live.id)).status).toBe('complete');
    });

    it('probes a failed store every 3 s until it is writable again, then stops', async () => {
      flaky.broken = errno('ENOSPC', 'no space left on device');
      await expect(recordings.start(startOf(await newSession()))).rejects.toMatchObject({ code: 'ERR_RECORDING_UNAVAILABLE' });
      flaky.broken = undefined;
      timers.advance(2999);
      expect(flaky.probes).toBe(0);
      expect(recordings.healthy).toBe(false);
      timers.advance(1);
      expect(flaky.probes).toBe(1);
      await waitFor(() => recordings.healthy, { message: 'the probe to find the store writable' });
      expect(await auditActions('recording.storage.recovered')).toHaveLength(1);
      timers.advance(60_000);
      expect(flaky.probes).toBe(1);
    });

    it('a write error in a live recording makes airlock unhealthy and the recording failed', async () => {
      flaky.failWrites = true;
      const live = await recordings.start(startOf(await newSession()));
      const failedEvent = new Promise((resolve) => live.recorder.once('failed', resolve));
      live.recorder.output(Buffer.alloc(5000, 'f')); // past flushBytes: written now
      expect(await failedEvent).toMatchObject({ code: 'ENOSPC', message: 'ENOSPC: no space left on device, write' });
      // The failure handler updates health, then the audit, then the row.
      await waitFor(async () => (await recordings.get(live.id)).status === 'failed', { message: 'the recording row marked failed' });
      expect(recordings.healthy).toBe(false);
      expect(recordings.readiness()).toEqual({ ok: false, message: 'recording storage failed: ENOSPC: no space left on device, write' });
      expect((await recordings.get(live.id)).status).toBe('failed');
      await expect(recordings.start(startOf(await newSession()))).rejects.toMatchObject({ code: 'ERR_RECORDING_UNAVAILABLE' });
      await live.finish();
      const row = await recordings.get(live.id);
      expect(row.status).toBe('failed');
      const audits = (await auditActions('recording.')).map((e) => e.action);
      expect(audits).toEqual(['recording.storage.failed', 'recording.failed']);
      flaky.failWrites = false;
      expect(await recordings.checkHealth()).toBe(true);
    });
  });
});
