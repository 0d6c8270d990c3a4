import { randomUUID } from 'node:crypto';
import { validRecipient } from './sealing.js';
import type { AuditLog, Clock, Config, Db, Logger, Scheduler, Timer } from '../core/index.js';
import { AirlockError } from '../core/index.js';
import { verifyChain } from './integrity.js';
import type { VerifyReport } from './integrity.js';
import type { RecordingKeys } from './keys.js';
import { Recorder } from './recorder.js';
import { castFromFrames } from './cast-export.js';
import { bundleFile } from './evidence.js';
import type { BundleFile } from './evidence.js';
import type { RecordingReader, RecordingStore } from './store.js';
import { recordingPath } from './store.js';

/**
 * Recordings as a whole: starting and sealing them, their database rows, storage
 * health (fail closed), verification, listing and retention.
 *
 * Fail closed: when storage fails (at start, or any write of a live recording),
 * airlock is unhealthy: live sessions whose recording failed are ended, new
 * sessions are refused, /readyz says why, and a probe every few seconds brings
 * it back once the store is writable again. Every transition is audited.
 */
export type RecordingKind = 'terminal' | 'exec' | 'sftp';
export type RecordingStatus = 'recording' | 'complete' | 'interrupted' | 'failed';

export interface RecordingRow {
  id: string;
  sessionId: string;
  channelIndex: number;
  kind: RecordingKind;
  path: string;
  node: string | null;
  userName: string;
  targetName: string;
  sensitivity: string;
  startedAt: Date;
  endedAt: Date | null;
  status: RecordingStatus;
  length: number | null;
  chainHead: string | null;
  chainEntries: number | null;
  keyFingerprint: string;
  retainUntil: Date;
  deletedAt: Date | null;
  /** Session analysis (recordings/analyses.ts): commands, risks, keyframes for seeking. */
  analysisStatus: AnalysisStatus;
  analysedAt: Date | null;
  analysisError: string | null;
  /** Seconds from the first to the last event, once analysed. */
  duration: number | null;
  outputBytes: number | null;
  commandCount: number | null;
  riskCount: number | null;
  /** airlock-v1: the lossless framed format (recordings/FORMAT.md); asciicast-v2: recordings made before it. */
  format: RecordingFormat;
  /** The last signed checkpoint seen on disk while the recording was open. */
  checkpointLength: number | null;
  checkpointHead: string | null;
}

export type RecordingFormat = 'airlock-v1' | 'asciicast-v2';

/** live: followed while it runs (commands appear as they are typed); running: the analysis is being finished or made. */
export type AnalysisStatus = 'pending' | 'live' | 'running' | 'done' | 'failed';

export interface RecordingDbRow {
  id: string;
  session_id: string;
  channel_index: number;
  kind: RecordingKind;
  path: string;
  node: string | null;
  user_name: string;
  target_name: string;
  sensitivity: string;
  started_at: Date;
  ended_at: Date | null;
  status: RecordingStatus;
  length: number | null;
  chain_head: string | null;
  chain_entries: number | null;
  key_fingerprint: string;
  retain_until: Date;
  deleted_at: Date | null;
  analysis_status: AnalysisStatus;
  analysed_at: Date | null;
  analysis_error: string | null;
  duration: number | null;
  output_bytes: number | null;
  command_count: number | null;
  risk_count: number | null;
  format: RecordingFormat;
  checkpoint_length: number | null;
  checkpoint_head: string | null;
}

export const toRecordingRow = (r: RecordingDbRow): RecordingRow => ({
  id: r.id,
  sessionId: r.session_id,
  channelIndex: r.channel_index,
  kind: r.kind,
  path: r.path,
  node: r.node,
  userName: r.user_name,
  targetName: r.target_name,
  sensitivity: r.sensitivity,
  startedAt: r.started_at,
  endedAt: r.ended_at,
  status: r.status,
  length: r.length,
  chainHead: r.chain_head,
  chainEntries: r.chain_entries,
  keyFingerprint: r.key_fingerprint,
  retainUntil: r.retain_until,
  deletedAt: r.deleted_at,
  analysisStatus: r.analysis_status,
  analysedAt: r.analysed_at,
  analysisError: r.analysis_error,
  duration: r.duration,
  outputBytes: r.output_bytes,
  commandCount: r.command_count,
  riskCount: r.risk_count,
  format: r.format,
  checkpointLength: r.checkpoint_length,
  checkpointHead: r.checkpoint_head,
});

export interface StartRecording {
  sessionId: string;
  channelIndex: number;
  kind: RecordingKind;
  user: string;
  target: string;
  login: string;
  source: string;
  sensitivity: string;
  width: number;
  height: number;
  term?: string | undefined;
  command?: string | undefined;
  approvalId?: string | undefined;
}

export interface LiveRecording {
  id: string;
  recorder: Recorder;
  /** The channel's bytes are recorded; false for SFTP without file content capture (its operations are markers). */
  bytes: boolean;
  /** Seals the recording: final checkpoint, row completed, audited. */
  finish(): Promise<void>;
}

export class Recordings {
  readonly #sealed: Array<(id: string) => void> = [];
  readonly #started: Array<(row: RecordingRow, command: string | null) => void> = [];
  #healthy = true;
  #problem: string | undefined;
  #probe: Timer | undefined;

  constructor(
    private readonly deps: { db: Db; audit: AuditLog; clock: Clock; scheduler: Scheduler; logger: Logger; keys: RecordingKeys; store: RecordingStore; config: Config },
  ) {
    // A recipient with a typo would fail every session at its first hidden key: refuse it at start-up.
    for (const r of deps.config.recordings.revealRecipients) {
      if (!validRecipient(r)) throw new AirlockError('ERR_CONFIG_INVALID', `recordings.revealRecipients: ${r} is not an age recipient (its checksum does not match)`);
    }
  }

  /** Called with a recording's id once it is sealed (analysis picks it up). */
  onSealed(listener: (id: string) => void): void {
    this.#sealed.push(listener);
  }

  /** Called with a recording's row (and an exec's command line) once it is started (live analysis follows it). */
  onStarted(listener: (row: RecordingRow, command: string | null) => void): void {
    this.#started.push(listener);
  }

  get healthy(): boolean {
    return this.#healthy;
  }

  get problem(): string | undefined {
    return this.#problem;
  }

  /** Readiness: recording storage must be writable for airlock to take sessions. */
  readiness(): { ok: boolean; message?: string } {
    return this.#healthy ? { ok: true } : { ok: false, message: `recording storage failed: ${this.#problem}` };
  }

  /** Refuses while storage is unhealthy: nothing may run unrecorded. */
  assertHealthy(): void {
    if (!this.#healthy) {
      throw new AirlockError('ERR_RECORDING_UNAVAILABLE', 'airlock cannot record sessions right now, so it is not starting any; try again later');
    }
  }

  async start(s: StartRecording): Promise<LiveRecording> {
    this.assertHealthy();
    const { db, clock, scheduler, keys, store, config, audit } = this.deps;
    const id = randomUUID();
    const startedAt = clock.now();
    const path = recordingPath(startedAt, s.sessionId, s.channelIndex);
    const key = keys.current();
    let files;
    try {
      files = await store.create(path);
    } catch (err) {
      await this.#unhealthy(err as Error, { recording: id, path });
      throw new AirlockError('ERR_RECORDING_UNAVAILABLE', 'airlock cannot record this session, so it will not run it', { cause: err });
    }
    const tier = s.sensitivity as 'standard' | 'sensitive' | 'critical';
    const days = config.recordings.retentionDays[tier] ?? 365;
    // SFTP: operations always (markers); file contents only where the policy says so.
    const sftpContent = config.recordings.captureFileContent[tier] ?? false;
    const recorder = new Recorder({
      file: files.file,
      chain: files.chain,
      ids: { session: s.sessionId, recording: id },
      key,
      clock,
      scheduler,
      input: s.kind === 'terminal' ? 'redacted' : s.kind === 'exec' || sftpContent ? 'raw' : 'none',
      output: s.kind !== 'sftp' || sftpContent,
      flushBytes: config.recordings.flushBytes,
      revealRecipients: config.recordings.revealRecipients,
      flushMs: config.recordings.flushInterval,
      checkpointMs: config.recordings.checkpointInterval,
      header: {
        recording: id,
        session: s.sessionId,
        kind: s.kind,
        user: s.user,
        target: s.target,
        login: s.login,
        source: s.source,
        cols: s.width || 80,
        rows: s.height || 24,
        term: s.term ?? (s.kind === 'terminal' ? 'xterm' : 'dumb'),
        command: s.command ?? null,
        approval: s.approvalId ?? null,
        title: `${s.user}@${s.target}${s.kind === 'exec' ? ': ' + (s.command ?? '').slice(0, 200) : s.kind === 'sftp' ? ' (sftp)' : ''}`,
      },
    });
    recorder.once('failed', (err: Error) => void this.#recordingFailed(id, path, err));
    // The last signed checkpoint on disk, kept so that a file cut back to an earlier one is noticed.
    recorder.on('checkpoint', (length: number, head: string) => {
      void db
        .query("UPDATE recordings SET checkpoint_length = $2, checkpoint_head = $3 WHERE id = $1 AND status = 'recording'", [id, length, head])
        .catch((err: unknown) => this.deps.logger.error({ err, recording: id }, 'could not record a checkpoint in the database'));
    });
    const inserted = await db.query<RecordingDbRow>(
      `INSERT INTO recordings (id, session_id, channel_index, kind, path, node, user_name, target_name, sensitivity, started_at, status, key_fingerprint, retain_until, format)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'recording', $11, $12, 'airlock-v1') RETURNING *`,
      [id, s.sessionId, s.channelIndex, s.kind, path, config.nodeName, s.user, s.target, s.sensitivity, startedAt, key.fingerprint, new Date(startedAt.getTime() + days * 86_400_000)],
    );
    if (s.command !== undefined) recorder.marker(`exec: ${s.command}`);
    const row = toRecordingRow(inserted.rows[0] as RecordingDbRow);
    for (const listener of this.#started) listener(row, s.command ?? null);
    let finished: Promise<void> | undefined;
    return {
      id,
      recorder,
      bytes: s.kind !== 'sftp' || sftpContent,
      finish: () =>
        (finished ??= (async () => {
          const result = await recorder.close();
          const status: RecordingStatus = recorder.failed ? 'failed' : 'complete';
          await db.transaction(async (tx) => {
            await tx.query('UPDATE recordings SET ended_at = $2, status = $3, length = $4, chain_head = $5, chain_entries = $6 WHERE id = $1', [
              id,
              clock.now(),
              status,
              result.length,
              result.head,
              result.entries,
            ]);
            await audit.append(tx, {
              action: status === 'complete' ? 'recording.sealed' : 'recording.failed',
              outcome: status === 'complete' ? 'success' : 'failure',
              actor: 'system',
              target: id,
              details: { session: s.sessionId, path, length: result.length, head: result.head, entries: result.entries },
            });
          });
          for (const listener of this.#sealed) listener(id);
        })()),
    };
  }

  async #recordingFailed(id: string, path: string, err: Error): Promise<void> {
    await this.#unhealthy(err, { recording: id, path });
    await this.deps.db.query("UPDATE recordings SET status = 'failed', ended_at = $2 WHERE id = $1", [id, this.deps.clock.now()]).catch(() => {});
  }

  async #unhealthy(err: Error, details: Record<string, unknown>): Promise<void> {
    const first = this.#healthy;
    this.#healthy = false;
    // Node's fs errors already start with their code ("EACCES: permission denied, open …").
    const code = (err as NodeJS.ErrnoException).code;
    this.#problem = code && !err.message.startsWith(code) ? `${code}: ${err.message}` : err.message;
    this.deps.logger.error({ err, ...details }, 'recording storage failed: refusing sessions');
    if (first) {
      await this.deps.audit
        .record({ action: 'recording.storage.failed', outcome: 'failure', actor: 'system', details: { error: this.#problem, location: this.deps.store.location, ...details } })
        .catch(() => {});
    }
    this.#startProbe();
  }

  #startProbe(): void {
    if (this.#probe) return;
    this.#probe = this.deps.scheduler.every(3000, () => void this.checkHealth());
  }

  /** Probes the store; recovers health if it is writable again. */
  async checkHealth(): Promise<boolean> {
    try {
      await this.deps.store.probe();
    } catch (err) {
      if (this.#healthy) await this.#unhealthy(err as Error, { probe: true });
      return false;
    }
    if (!this.#healthy) {
      this.#healthy = true;
      const was = this.#problem;
      this.#problem = undefined;
      this.#probe?.cancel();
      this.#probe = undefined;
      this.deps.logger.warn({ was }, 'recording storage is writable again: accepting sessions');
      await this.deps.audit.record({ action: 'recording.storage.recovered', outcome: 'info', actor: 'system', details: { was } }).catch(() => {});
    }
    return true;
  }

  stop(): void {
    this.#probe?.cancel();
    this.#probe = undefined;
  }

  /** At start-up: recordings this node left open in a crash are interrupted. */
  async markInterrupted(): Promise<number> {
    const res = await this.deps.db.query(
      `UPDATE recordings SET status = 'interrupted', ended_at = COALESCE(ended_at, $2) WHERE status = 'recording' AND node = $1`,
      [this.deps.config.nodeName, this.deps.clock.now()],
    );
    if (res.rowCount) {
      await this.deps.audit.record({ action: 'recording.interrupted', outcome: 'info', actor: 'system', details: { recordings: res.rowCount } });
    }
    return res.rowCount;
  }

  async list(filter: { id?: string; session?: string; user?: string; target?: string; since?: Date; until?: Date; limit?: number } = {}): Promise<RecordingRow[]> {
    const rows = (
      await this.deps.db.query<RecordingDbRow>(
        `SELECT * FROM recordings WHERE deleted_at IS NULL AND ($1::uuid IS NULL OR id = $1) AND ($2::uuid IS NULL OR session_id = $2)
           AND ($3::text IS NULL OR user_name = $3) AND ($4::text IS NULL OR target_name = $4)
           AND ($5::timestamptz IS NULL OR started_at >= $5) AND ($6::timestamptz IS NULL OR started_at < $6)
         ORDER BY started_at DESC, channel_index LIMIT $7`,
        [filter.id ?? null, filter.session ?? null, filter.user ?? null, filter.target ?? null, filter.since ?? null, filter.until ?? null, Math.min(filter.limit ?? 100, 10_000)],
      )
    ).rows;
    return rows.map(toRecordingRow);
  }

  async get(id: string): Promise<RecordingRow> {
    const row = /^[0-9a-f-]{36}$/i.test(id) ? (await this.list({ id }))[0] : undefined;
    if (!row) throw new AirlockError('ERR_NOT_FOUND', `no recording ${id}`);
    return row;
  }

  /** The whole stored file (tests, small recordings); readers of real recordings stream (raw(), cast()). */
  async read(row: RecordingRow): Promise<Buffer> {
    return this.deps.store.read(row.path);
  }

  /**
   * The stored file as it is, streamed: for airlock-format recordings the
   * lossless copy. `size` stops at that many bytes (a recording still being
   * written keeps growing; an export takes what was there when it began).
   */
  raw(row: RecordingRow, size?: number): AsyncIterable<Buffer> {
    return this.deps.store.stream(row.path, 0, size);
  }

  /** asciicast v2, streamed: converted from the frames, or the file itself for older recordings. */
  cast(row: RecordingRow, size?: number): AsyncIterable<Buffer> {
    return row.format === 'airlock-v1' ? castFromFrames(this.raw(row, size)) : this.raw(row, size);
  }

  /** The file name an export of the stored file gets. */
  fileName(row: RecordingRow): string {
    return `${row.id}${row.format === 'airlock-v1' ? '.alr' : '.cast'}`;
  }

  /**
   * The recording's part of an evidence bundle: the stored file and its chain,
   * and for airlock-format recordings the asciicast export beside them (marked
   * as derived: it is not what the chain covers), with the verification of
   * exactly those bytes and that chain. Sizes are taken now, so for a live
   * recording the bundle, and its report, hold what was on disk when the export
   * began.
   */
  async evidence(row: RecordingRow): Promise<{ files: BundleFile[]; report: VerifyReport }> {
    // The chain first: the writer puts bytes in the file before the chain entry covering them, so the
    // file's size read after it covers everything the chain vouches for.
    const chain = await this.deps.store.readChain(row.path);
    const size = await this.deps.store.size(row.path);
    const name = this.fileName(row);
    const files: BundleFile[] = [
      { name, size, data: () => this.raw(row, size) },
      bundleFile(`${name}.chain`, chain),
    ];
    if (row.format === 'airlock-v1') {
      // A damaged file may not convert (a frame that claims too much, bad magic):
      // the evidence is the stored file, its chain and the report, so the bundle
      // goes out without the derived export and says why.
      try {
        let castSize = 0;
        for await (const chunk of this.cast(row, size)) castSize += chunk.length;
        files.push({ name: `${row.id}.export.cast`, size: castSize, data: () => this.cast(row, size) });
      } catch (err) {
        files.push(bundleFile(`${row.id}.export-missing.txt`, `The asciicast export could not be made from this recording: ${(err as Error).message}\nThe stored file (${name}) and its chain are in the bundle as they are on disk; verification.json says what of them is signed.\n`));
      }
    }
    return { files, report: await this.verify(row, { chainText: chain, size }) };
  }

  async readChain(row: RecordingRow): Promise<string> {
    return this.deps.store.readChain(row.path);
  }

  /**
   * Re-hashes the file range by range (never holding it whole), follows the
   * chain, checks the signatures, that they were made for this recording, and
   * the database's final head, or for an open or interrupted recording the last
   * checkpoint it saw on disk. `snapshot`: verify this chain text and the
   * file's first `size` bytes (what an evidence bundle holds) rather than what
   * is on disk now.
   */
  async verify(row: RecordingRow, snapshot?: { chainText: string; size: number }): Promise<VerifyReport> {
    let reader: RecordingReader;
    let chainText: string;
    try {
      // The chain first (see evidence): a live recording's file then covers all of it.
      chainText = snapshot?.chainText ?? (await this.deps.store.readChain(row.path));
      reader = await this.deps.store.openReader(row.path);
    } catch (err) {
      return {
        ok: false,
        verifiedLength: 0,
        fileLength: 0,
        checkpoints: 0,
        final: false,
        problems: [{ kind: 'unreadable', detail: `cannot read the recording: ${(err as Error).message}` }],
        unsignedBytes: 0,
        summary: `cannot read the recording: ${(err as Error).message}`,
      };
    }
    const keys = new Map(this.deps.keys.all().map((k) => [k.fingerprint, k.publicKey]));
    try {
      return await verifyChain({
        source: snapshot ? { size: Math.min(snapshot.size, reader.size), read: (offset, length) => reader.read(offset, length) } : reader,
        chainText,
        keys,
        expect: row.status === 'complete' && row.chainHead !== null && row.length !== null ? { length: row.length, head: row.chainHead } : undefined,
        ids: { recording: row.id, session: row.sessionId },
        lastCheckpoint: row.status !== 'complete' && row.checkpointLength !== null && row.checkpointHead !== null ? { length: row.checkpointLength, head: row.checkpointHead } : undefined,
        allowUnfinished: row.status !== 'complete',
      });
    } finally {
      await reader.close();
    }
  }

  /** Deletes recordings past their retention (files, then the row is marked). Audited. */
  async prune(): Promise<number> {
    const due = (
      await this.deps.db.query<RecordingDbRow>("SELECT * FROM recordings WHERE deleted_at IS NULL AND retain_until <= $1 AND status <> 'recording' ORDER BY retain_until LIMIT 10000", [
        this.deps.clock.now(),
      ])
    ).rows.map(toRecordingRow);
    for (const row of due) {
      await this.deps.store.remove(row.path);
      await this.deps.db.transaction(async (tx) => {
        // What analysis drew from the recording (commands, screens) goes with it.
        await tx.query('DELETE FROM recording_commands WHERE recording_id = $1', [row.id]);
        await tx.query('DELETE FROM recording_keyframes WHERE recording_id = $1', [row.id]);
        await tx.query('UPDATE recordings SET deleted_at = $2 WHERE id = $1', [row.id, this.deps.clock.now()]);
        await this.deps.audit.append(tx, {
          action: 'recording.deleted',
          outcome: 'success',
          actor: 'system',
          target: row.id,
          details: { reason: 'retention', session: row.sessionId, path: row.path, retainUntil: row.retainUntil.toISOString(), length: row.length, head: row.chainHead },
        });
      });
    }
    return due.length;
  }
}
