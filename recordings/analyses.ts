import { Worker } from 'node:worker_threads';
import type { AuditLog, Clock, Db, Queryable, Logger, Scheduler, Timer } from '../core/index.js';
import type { AnalysisOptions, AnalysisResult, CommandContext, Keyframe, Risk } from './analysis/index.js';
import { toRecordingRow } from './recordings.js';
import type { RecordingDbRow, RecordingRow } from './recordings.js';
import type { RecordingStore } from './store.js';
import { workerFile } from './worker-file.js';
import { replayWindow } from './replay.js';
import type { ReplayOptions, ReplayWindow } from './replay.js';

export type { ReplayOptions, ReplayWindow } from './replay.js';

/**
 * Session analysis, after the fact: once a recording is sealed, it is replayed
 * through a headless terminal (recordings/analysis/) in a worker thread, and
 * what it yields is stored: the commands that ran (with risk flags), searchable
 * across sessions, and keyframes (terminal snapshots) so that replay can start
 * anywhere without playing everything before it.
 *
 * One recording at a time per node, oldest first; recordings of this node only
 * (their files are in its store). Work left 'running' by a crash is taken up
 * again at start. Every analysis is audited with what it found.
 *
 * Live sessions are not analysed while they run: their commands appear once the
 * recording is sealed.
 */
export interface CommandRow {
  recordingId: string;
  seq: number;
  sessionId: string;
  userName: string;
  targetName: string;
  t: number;
  at: Date;
  text: string;
  castOffset: number;
  risks: Risk[];
  context: CommandContext;
  sealed: boolean;
}

interface CommandDbRow {
  recording_id: string;
  seq: number;
  session_id: string;
  user_name: string;
  target_name: string;
  t: number;
  at: Date;
  text: string;
  cast_offset: number;
  risks: Risk[];
  context: CommandContext;
  sealed: boolean;
}

const toCommand = (r: CommandDbRow): CommandRow => ({
  recordingId: r.recording_id,
  seq: r.seq,
  sessionId: r.session_id,
  userName: r.user_name,
  targetName: r.target_name,
  t: r.t,
  at: r.at,
  text: r.text,
  castOffset: Number(r.cast_offset),
  risks: r.risks,
  context: r.context,
  sealed: r.sealed,
});

/** A keyframe as stored: the same fields analysis produced. */
export type KeyframeRow = Keyframe;

export interface CommandSearch {
  /** Text the command contains (case-insensitive). */
  text?: string | undefined;
  user?: string | undefined;
  target?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  /** Only commands that matched a risk rule. */
  risky?: boolean | undefined;
  limit?: number | undefined;
}

const POLL_MS = 10_000;

export class Analyses {
  #timer: Timer | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = true;
  #worker: Worker | undefined;

  constructor(
    private readonly deps: {
      db: Db;
      audit: AuditLog;
      clock: Clock;
      /** Runs the poll for pending work. */
      scheduler: Scheduler;
      logger: Logger;
      store: RecordingStore;
      nodeName: string;
      options?: AnalysisOptions;
    },
  ) {}

  /** Takes up work left by a crash, then analyses whatever is pending, now and as recordings are sealed. */
  async start(): Promise<void> {
    this.#stopped = false;
    await this.deps.db.query("UPDATE recordings SET analysis_status = 'pending' WHERE analysis_status = 'running' AND node = $1", [this.deps.nodeName]);
    this.#timer = this.deps.scheduler.every(POLL_MS, () => this.kick());
    this.kick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    await this.#worker?.terminate();
    await this.#running;
  }

  /** There may be new work. */
  kick(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = (async () => {
      try {
        do {
          this.#again = false;
          while (!this.#stopped && (await this.runOnce())) {
            /* next */
          }
        } while (this.#again && !this.#stopped);
      } catch (err) {
        this.deps.logger.error({ err }, 'session analysis failed');
      } finally {
        this.#running = undefined;
      }
    })();
  }

  /** Resolves once nothing is pending or running (tests, and the bench). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** Claims the oldest pending recording of this node and analyses it. False when there is none. */
  async runOnce(): Promise<boolean> {
    const claimed = (
      await this.deps.db.query<RecordingDbRow>(
        `UPDATE recordings SET analysis_status = 'running', analysis_error = NULL
          WHERE id = (SELECT id FROM recordings
                       WHERE analysis_status = 'pending' AND status <> 'recording' AND deleted_at IS NULL AND node = $1
                       ORDER BY started_at LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING *`,
        [this.deps.nodeName],
      )
    ).rows[0];
    if (!claimed) return false;
    const row = toRecordingRow(claimed);
    const started = performance.now();
    let result: AnalysisResult;
    try {
      result = await this.#analyseInWorker(this.deps.store.localPath(row.path));
    } catch (err) {
      const message = (err as Error).message;
      this.deps.logger.error({ err, recording: row.id }, 'could not analyse a recording');
      await this.deps.db.transaction(async (tx) => {
        await tx.query("UPDATE recordings SET analysis_status = 'failed', analysis_error = $2, analysed_at = $3 WHERE id = $1", [row.id, message.slice(0, 1000), this.deps.clock.now()]);
        await this.deps.audit.append(tx, { action: 'recording.analysis_failed', outcome: 'failure', actor: 'system', target: row.id, details: { session: row.sessionId, error: message } });
      });
      return true;
    }
    await this.#store(row, result, performance.now() - started);
    return true;
  }

  async #store(row: RecordingRow, result: AnalysisResult, ms: number): Promise<void> {
    const risky = result.commands.filter((c) => c.risks.length > 0);
    await this.deps.db.transaction(async (tx) => {
      await tx.query('DELETE FROM recording_commands WHERE recording_id = $1', [row.id]);
      await tx.query('DELETE FROM recording_keyframes WHERE recording_id = $1', [row.id]);
      const start = row.startedAt.getTime();
      await insertRows(
        tx,
        'recording_commands (recording_id, seq, session_id, user_name, target_name, t, at, text, cast_offset, risks, risky, context, sealed)',
        result.commands.map((c) => [
          row.id,
          c.seq,
          row.sessionId,
          row.userName,
          row.targetName,
          c.t,
          new Date(start + Math.round(c.t * 1000)),
          c.text,
          c.castOffset,
          JSON.stringify(c.risks),
          c.risks.length > 0,
          c.context,
          c.sealed,
        ]),
      );
      await insertRows(
        tx,
        'recording_keyframes (recording_id, seq, t, cast_offset, cols, rows, screen)',
        result.keyframes.map((k) => [row.id, k.seq, k.t, k.castOffset, k.cols, k.rows, k.screen]),
      );
      await tx.query(
        `UPDATE recordings SET analysis_status = 'done', analysed_at = $2, duration = $3, output_bytes = $4, command_count = $5, risk_count = $6, analysis_error = $7
          WHERE id = $1`,
        [row.id, this.deps.clock.now(), result.duration, result.outputBytes, result.commands.length, risky.length, result.truncated ? 'the recording ends in a torn line: analysed up to it' : null],
      );
      await this.deps.audit.append(tx, {
        action: 'recording.analysed',
        outcome: risky.length ? 'info' : 'success',
        actor: 'system',
        target: row.id,
        details: {
          session: row.sessionId,
          commands: result.commands.length,
          risky: risky.map((c) => ({ seq: c.seq, rules: c.risks.map((r) => r.rule) })),
          keyframes: result.keyframes.length,
          outputBytes: result.outputBytes,
          duration: result.duration,
          truncated: result.truncated,
          ms: Math.round(ms),
        },
      });
    });
    this.deps.logger.info({ recording: row.id, commands: result.commands.length, risky: risky.length, ms: Math.round(ms) }, 'recording analysed');
  }

  #analyseInWorker(path: string): Promise<AnalysisResult> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(workerFile('analysis-worker.js'), { workerData: { path, options: this.deps.options ?? {} } });
      this.#worker = worker;
      let settled = false;
      worker.once('message', (m: { ok: true; result: AnalysisResult } | { ok: false; message: string }) => {
        settled = true;
        if (m.ok) resolve(m.result);
        else reject(new Error(m.message));
      });
      worker.once('error', (err) => {
        settled = true;
        reject(err);
      });
      worker.once('exit', (code) => {
        this.#worker = undefined;
        if (!settled) reject(new Error(`the analysis thread stopped (exit code ${code})`));
      });
    });
  }

  async commands(recordingId: string): Promise<CommandRow[]> {
    const rows = (await this.deps.db.query<CommandDbRow>('SELECT * FROM recording_commands WHERE recording_id = $1 ORDER BY seq', [recordingId])).rows;
    return rows.map(toCommand);
  }

  /** Commands across sessions, newest first, of recordings not deleted. */
  async search(q: CommandSearch): Promise<CommandRow[]> {
    const like = q.text ? `%${q.text.replace(/[\\%_]/g, (c) => '\\' + c)}%` : null;
    const rows = (
      await this.deps.db.query<CommandDbRow>(
        `SELECT c.* FROM recording_commands c JOIN recordings r ON r.id = c.recording_id
          WHERE r.deleted_at IS NULL
            AND ($1::text IS NULL OR c.text ILIKE $1) AND ($2::text IS NULL OR c.user_name = $2) AND ($3::text IS NULL OR c.target_name = $3)
            AND ($4::timestamptz IS NULL OR c.at >= $4) AND ($5::timestamptz IS NULL OR c.at < $5) AND (NOT $6::boolean OR c.risky)
          ORDER BY c.at DESC, c.recording_id, c.seq LIMIT $7`,
        [like, q.user ?? null, q.target ?? null, q.since ?? null, q.until ?? null, q.risky ?? false, Math.min(q.limit ?? 100, 1000)],
      )
    ).rows;
    return rows.map(toCommand);
  }

  /** The last keyframe at or before t seconds. */
  async keyframeAt(recordingId: string, t: number): Promise<KeyframeRow | undefined> {
    const row = (
      await this.deps.db.query<{ seq: number; t: number; cast_offset: number; cols: number; rows: number; screen: string }>(
        'SELECT seq, t, cast_offset, cols, rows, screen FROM recording_keyframes WHERE recording_id = $1 AND t <= $2 ORDER BY t DESC, seq DESC LIMIT 1',
        [recordingId, t],
      )
    ).rows[0];
    return row && { seq: row.seq, t: row.t, castOffset: Number(row.cast_offset), cols: row.cols, rows: row.rows, screen: row.screen };
  }

  /**
   * What a player needs to show the recording at `at` seconds: the nearest
   * keyframe before it and the events from there to `at + window`, reading at
   * most maxBytes of the file (recordings/replay.ts). Without analysis (yet),
   * from the start.
   */
  async replay(row: RecordingRow, o: ReplayOptions): Promise<ReplayWindow> {
    const k = o.from === undefined && o.at > 0 ? await this.keyframeAt(row.id, o.at) : undefined;
    return replayWindow(this.deps.store, row, o, k);
  }
}

/** Inserts rows in batches of multi-row VALUES. */
async function insertRows(tx: Queryable, into: string, rows: unknown[][]): Promise<void> {
  const width = rows[0]?.length ?? 0;
  const batch = Math.max(1, Math.floor(5000 / Math.max(1, width)));
  for (let i = 0; i < rows.length; i += batch) {
    const part = rows.slice(i, i + batch);
    const values = part.map((_, r) => `(${Array.from({ length: width }, (_, c) => `$${r * width + c + 1}`).join(', ')})`).join(', ');
    await tx.query(`INSERT INTO ${into} VALUES ${values}`, part.flat());
  }
}
