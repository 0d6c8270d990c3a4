import { Worker } from 'node:worker_threads';
import type { AuditLog, Clock, Db, Queryable, Logger, Scheduler, Timer } from '../core/index.js';
import type { AnalysedCommand, AnalysisOptions, AnalysisResult, CommandContext, Keyframe, Risk } from './analysis/index.js';
import { readsCommandsOnStdin } from './analysis/index.js';
import { LiveAnalyses } from './live-analyses.js';
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
 * Live sessions are analysed as they run (recordings/live-analyses.ts): a
 * terminal or exec recording is followed from its start ('live'), each command
 * is stored the moment it is found and told to onLiveCommand listeners (the
 * approvers' event stream, notifications), a risky one is audited at once
 * (recording.command_flagged); at the seal the live analysis reads to the end
 * and its whole result is stored like any other, so the live commands and the
 * final ones are the same. A recording the live thread could not follow (too
 * many at once, its thread died, live analysis off) is analysed after its seal.
 */
export interface LiveCommand {
  recording: RecordingRow;
  command: CommandRow;
}

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
  readonly #live: LiveAnalyses | undefined;
  /** Recordings followed live: their rows, and the chain of their database writes (kept in order). */
  readonly #liveRows = new Map<string, RecordingRow>();
  readonly #liveWrites = new Map<string, Promise<void>>();
  readonly #sealing = new Set<Promise<void>>();
  readonly #liveListeners: Array<(e: LiveCommand) => void> = [];

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
      /** Analyse recordings while they run (config recordings.liveAnalysis). */
      live?: boolean;
    },
  ) {
    if (deps.live) {
      this.#live = new LiveAnalyses({
        logger: deps.logger,
        options: deps.options ?? {},
        listener: {
          command: (id, c) => this.#liveCommand(id, c),
          lost: (id) => this.#liveLost(id),
        },
      });
    }
  }

  /** Takes up work left by a crash, then analyses whatever is pending, now and as recordings are sealed. */
  async start(): Promise<void> {
    this.#stopped = false;
    await this.deps.db.query("UPDATE recordings SET analysis_status = 'pending' WHERE analysis_status IN ('running', 'live') AND node = $1", [this.deps.nodeName]);
    this.#timer = this.deps.scheduler.every(POLL_MS, () => this.kick());
    this.kick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    await this.#live?.stop();
    await Promise.all([...this.#sealing]);
    await this.#worker?.terminate();
    await this.#running;
  }

  /** Told of every command found in a live recording, once it is stored; returns how to stop listening. */
  onLiveCommand(listener: (e: LiveCommand) => void): () => void {
    this.#liveListeners.push(listener);
    return () => {
      const i = this.#liveListeners.indexOf(listener);
      if (i !== -1) this.#liveListeners.splice(i, 1);
    };
  }

  /** Recordings being followed right now. */
  get liveCount(): number {
    return this.#live?.size ?? 0;
  }

  /**
   * A recording started: follow it live, if it can be (Recordings.onStarted). An
   * exec that is not a shell on stdin only until its command line is found.
   */
  follow(row: RecordingRow, command: string | null = null): void {
    const live = this.#live;
    if (!live || this.#stopped || row.kind === 'sftp' || row.node !== this.deps.nodeName) return;
    const firstOnly = row.kind === 'exec' && !readsCommandsOnStdin(command);
    if (!live.follow(row.id, this.deps.store.localPath(row.path), firstOnly)) {
      this.deps.logger.warn({ recording: row.id, live: live.size }, 'not analysing this recording live (too many at once): it is analysed once sealed');
      return;
    }
    this.#liveRows.set(row.id, row);
    this.#queue(row.id, async () => {
      await this.deps.db.query("UPDATE recordings SET analysis_status = 'live' WHERE id = $1 AND analysis_status = 'pending'", [row.id]);
    });
  }

  /**
   * A recording was sealed (Recordings.onSealed): a live one gets its analysis
   * from the live thread, which reads to the end; any other waits for runOnce.
   */
  sealed(id: string): void {
    if (!this.#live?.has(id)) {
      this.kick();
      return;
    }
    const done = this.#finishLive(id)
      .catch((err: unknown) => this.deps.logger.error({ err, recording: id }, 'could not finish a live analysis'))
      .finally(() => {
        this.#sealing.delete(done);
        this.#liveRows.delete(id);
        this.kick(); // a live analysis that failed is pending again
      });
    this.#sealing.add(done);
  }

  async #finishLive(id: string): Promise<void> {
    const live = this.#live as LiveAnalyses;
    await this.#liveWrites.get(id);
    const claimed = (
      await this.deps.db.query<RecordingDbRow>("UPDATE recordings SET analysis_status = 'running' WHERE id = $1 AND analysis_status = 'live' RETURNING *", [id])
    ).rows[0];
    if (!claimed) {
      live.drop(id);
      return;
    }
    const started = performance.now();
    const result = await live.sealed(id);
    await this.#liveWrites.get(id);
    if (!result) {
      await this.deps.db.query("UPDATE recordings SET analysis_status = 'pending' WHERE id = $1 AND analysis_status = 'running'", [id]);
      return;
    }
    await this.#store(toRecordingRow(claimed), result, performance.now() - started);
  }

  /** Runs a live recording's database writes one after another, in the order they came. */
  #queue(id: string, write: () => Promise<void>): void {
    const next: Promise<void> = (this.#liveWrites.get(id) ?? Promise.resolve())
      .then(write)
      .catch((err: unknown) => this.deps.logger.error({ err, recording: id }, 'could not store a live analysis result'))
      .finally(() => {
        if (this.#liveWrites.get(id) === next) this.#liveWrites.delete(id);
      });
    this.#liveWrites.set(id, next);
  }

  #liveCommand(id: string, c: AnalysedCommand): void {
    const row = this.#liveRows.get(id);
    if (!row) return;
    const command = commandRow(row, c);
    this.#queue(id, async () => {
      await this.deps.db.query(`INSERT INTO recording_commands ${COMMAND_COLUMNS} VALUES (${COMMAND_COLUMNS_PARAMS}) ON CONFLICT DO NOTHING`, commandValues(command));
      if (command.risks.length > 0) {
        await this.deps.audit.record({
          action: 'recording.command_flagged',
          outcome: 'info',
          actor: 'system',
          target: id,
          details: { session: row.sessionId, user: row.userName, target: row.targetName, seq: command.seq, t: command.t, text: command.text.slice(0, 1000), rules: command.risks.map((r) => r.rule) },
        });
      }
      for (const listener of [...this.#liveListeners]) {
        try {
          listener({ recording: row, command });
        } catch (err) {
          this.deps.logger.error({ err, recording: id }, 'a live-command listener failed');
        }
      }
    });
  }

  #liveLost(id: string): void {
    this.#queue(id, async () => {
      await this.deps.db.query("UPDATE recordings SET analysis_status = 'pending' WHERE id = $1 AND analysis_status = 'live'", [id]);
    });
    this.#liveRows.delete(id);
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
      await insertRows(tx, `recording_commands ${COMMAND_COLUMNS}`, result.commands.map((c) => commandValues(commandRow(row, c))));
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

const COMMAND_COLUMNS = '(recording_id, seq, session_id, user_name, target_name, t, at, text, cast_offset, risks, risky, context, sealed)';
const COMMAND_COLUMNS_PARAMS = Array.from({ length: 13 }, (_, i) => `$${i + 1}`).join(', ');

function commandRow(row: RecordingRow, c: AnalysedCommand): CommandRow {
  return {
    recordingId: row.id,
    seq: c.seq,
    sessionId: row.sessionId,
    userName: row.userName,
    targetName: row.targetName,
    t: c.t,
    at: new Date(row.startedAt.getTime() + Math.round(c.t * 1000)),
    text: c.text,
    castOffset: c.castOffset,
    risks: c.risks,
    context: c.context,
    sealed: c.sealed,
  };
}

/** A command's values in COMMAND_COLUMNS order. */
function commandValues(c: CommandRow): unknown[] {
  return [c.recordingId, c.seq, c.sessionId, c.userName, c.targetName, c.t, c.at, c.text, c.castOffset, JSON.stringify(c.risks), c.risks.length > 0, c.context, c.sealed];
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
