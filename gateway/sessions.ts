import { randomUUID } from 'node:crypto';
import type { FileOperation } from './sftp-observer.js';
import type { AuditLog, Clock, Db } from '../core/index.js';

/**
 * The live sessions of this node, and their rows in the database. A session is one
 * engineer connection to one target (it may carry several channels: a shell, an
 * exec, SFTP, forwards). The row is written when the target connection is made and
 * completed when it ends; a row still "active" when its node starts again was cut
 * off by a crash and is marked "interrupted".
 */
export type SessionStatus = 'active' | 'closed' | 'terminated' | 'failed' | 'interrupted';

export interface ChannelRecord {
  kind: 'shell' | 'exec' | 'sftp' | 'direct-tcpip' | 'forwarded-tcpip';
  at: string;
  command?: string;
  detail?: string;
}

/**
 * One SFTP file operation on the session row (sftp-observer.ts's, with its
 * time); paths as gateway/stored-path.ts keeps them. `op` and `ok` are loose
 * because rows written by earlier versions are read back too.
 */
export type FileOp = Omit<FileOperation, 'op' | 'ok'> & { op: string; ok?: boolean; at: string };

export interface SessionInfo {
  userId: string;
  userName: string;
  targetId: string;
  targetName: string;
  login: string;
  source: string;
  /** The airlock login (certificate or per-connection) the session runs under. */
  loginId: string;
  /** api: `airlock login` (a certificate); ssh: password + code on this connection. */
  loginKind: 'api' | 'ssh';
  /** When access ends: the login's expiry, or the approval's end if sooner. */
  expiresAt: Date;
  /** Which of the two expiresAt is: what the engineer must do to get access again differs. */
  expiresWith: 'login' | 'approval';
  /** The approved break-glass request the session runs under, if any. */
  requestId?: string;
}

/** How the registry (and the session watch) reach the connection that carries a session. */
export interface SessionControl {
  /** Ends the session from outside: message to the engineer, then disconnect. */
  terminate(reason: string): void;
  /** Writes a line to the engineer's terminal(s). */
  notify(message: string): void;
}

export interface LiveSession extends SessionInfo {
  id: string;
  startedAt: Date;
  bytesIn: number;
  bytesOut: number;
  channels: ChannelRecord[];
  /** The first ssh.maxStoredFileOps file operations … */
  fileOps: FileOp[];
  /** … and how many came after them (not on the row; in the recording and the log). */
  fileOpsOmitted: number;
  /** Ends the session from outside: message to the engineer, then disconnect. */
  terminate(reason: string): void;
  /** Writes a line to the engineer's terminal(s). */
  notify(message: string): void;
  /** Expiry warnings already given (ms before expiry). */
  warned: Set<number>;
}

export class SessionRegistry {
  readonly #live = new Map<string, LiveSession>();

  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    readonly node: string,
    /** File operations one session row keeps (ssh.maxStoredFileOps); the rest are counted. */
    private readonly maxFileOps = 1000,
  ) {}

  async start(info: SessionInfo, control: SessionControl): Promise<LiveSession> {
    const session: LiveSession = {
      ...info,
      id: randomUUID(),
      startedAt: this.clock.now(),
      bytesIn: 0,
      bytesOut: 0,
      channels: [],
      fileOps: [],
      fileOpsOmitted: 0,
      terminate: (reason) => control.terminate(reason),
      notify: (message) => control.notify(message),
      warned: new Set(),
    };
    await this.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO sessions (id, user_id, user_name, target_id, target_name, target_login, source, node, started_at, status, login_id, request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'active', $10, $11)`,
        [session.id, info.userId, info.userName, info.targetId, info.targetName, info.login, info.source, this.node, session.startedAt, info.loginId, info.requestId ?? null],
      );
      await this.audit.append(tx, {
        action: 'session.start',
        outcome: 'success',
        actor: info.userName,
        target: `${info.targetName}:${info.login}`,
        source: info.source,
        details: { sessionId: session.id, loginId: info.loginId, expiresAt: info.expiresAt.toISOString(), requestId: info.requestId ?? null },
      });
    });
    this.#live.set(session.id, session);
    return session;
  }

  addFileOp(session: LiveSession, op: Omit<FileOp, 'at'>): void {
    if (session.fileOps.length < this.maxFileOps) session.fileOps.push({ ...op, at: this.clock.now().toISOString() });
    else session.fileOpsOmitted++;
  }

  async finish(
    session: LiveSession,
    end: { status: Exclude<SessionStatus, 'active'>; reason: string; exitCode?: number | null; exitSignal?: string | null },
  ): Promise<void> {
    if (!this.#live.delete(session.id)) return;
    const endedAt = this.clock.now();
    await this.db.transaction(async (tx) => {
      await tx.query(
        `UPDATE sessions SET ended_at = $2, status = $3, end_reason = $4, exit_code = $5, exit_signal = $6,
           bytes_in = $7, bytes_out = $8, channels = $9, file_ops = $10, file_ops_omitted = $11 WHERE id = $1`,
        [
          session.id,
          endedAt,
          end.status,
          end.reason,
          end.exitCode ?? null,
          end.exitSignal ?? null,
          session.bytesIn,
          session.bytesOut,
          JSON.stringify(session.channels),
          JSON.stringify(session.fileOps),
          session.fileOpsOmitted,
        ],
      );
      await this.audit.append(tx, {
        action: 'session.end',
        outcome: end.status === 'closed' ? 'success' : 'info',
        actor: session.userName,
        target: `${session.targetName}:${session.login}`,
        source: session.source,
        details: {
          sessionId: session.id,
          status: end.status,
          reason: end.reason,
          exitCode: end.exitCode ?? null,
          exitSignal: end.exitSignal ?? null,
          bytesIn: session.bytesIn,
          bytesOut: session.bytesOut,
          durationMs: endedAt.getTime() - session.startedAt.getTime(),
          fileOps: session.fileOps.length + session.fileOpsOmitted,
          fileOpsOmitted: session.fileOpsOmitted,
        },
      });
    });
  }

  list(): LiveSession[] {
    return [...this.#live.values()];
  }

  get(id: string): LiveSession | undefined {
    return this.#live.get(id);
  }

  count(): number {
    return this.#live.size;
  }

  countFor(userId: string): number {
    let n = 0;
    for (const s of this.#live.values()) if (s.userId === userId) n++;
    return n;
  }

  /** Ends one live session; false if it is not live on this node. */
  terminate(id: string, reason: string): boolean {
    const s = this.#live.get(id);
    if (!s) return false;
    s.terminate(reason);
    return true;
  }

  /** Ends every live session of a user (revocation, disable). Returns how many. */
  terminateUser(userId: string, reason: string): number {
    let n = 0;
    for (const s of this.#live.values()) {
      if (s.userId === userId) {
        s.terminate(reason);
        n++;
      }
    }
    return n;
  }

  /** At start-up: this node's sessions left active by a crash are interrupted. */
  async markInterrupted(): Promise<number> {
    const res = await this.db.query(
      `UPDATE sessions SET status = 'interrupted', end_reason = 'airlock stopped unexpectedly', ended_at = COALESCE(ended_at, $2)
       WHERE status = 'active' AND node = $1`,
      [this.node, this.clock.now()],
    );
    if (res.rowCount) {
      await this.audit.record({ action: 'session.interrupted', outcome: 'info', actor: 'system', details: { node: this.node, sessions: res.rowCount } });
    }
    return res.rowCount;
  }
}

export interface SessionRow {
  id: string;
  userName: string;
  targetName: string;
  login: string;
  source: string | null;
  node: string | null;
  startedAt: Date;
  endedAt: Date | null;
  status: SessionStatus;
  endReason: string | null;
  exitCode: number | null;
  exitSignal: string | null;
  bytesIn: number;
  bytesOut: number;
  channels: ChannelRecord[];
  fileOps: FileOp[];
  /** File operations after the ones in fileOps, not kept on the row (in the recording and the log). */
  fileOpsOmitted: number;
  /** The break-glass request the session ran under, if any. */
  requestId: string | null;
}

interface DbSessionRow {
  id: string;
  user_name: string;
  target_name: string;
  target_login: string;
  source: string | null;
  node: string | null;
  started_at: Date;
  ended_at: Date | null;
  status: SessionStatus;
  end_reason: string | null;
  exit_code: number | null;
  exit_signal: string | null;
  bytes_in: number;
  bytes_out: number;
  channels: ChannelRecord[];
  file_ops: FileOp[];
  file_ops_omitted: number;
  request_id: string | null;
}

const toRow = (r: DbSessionRow): SessionRow => ({
  id: r.id,
  userName: r.user_name,
  targetName: r.target_name,
  login: r.target_login,
  source: r.source,
  node: r.node,
  startedAt: r.started_at,
  endedAt: r.ended_at,
  status: r.status,
  endReason: r.end_reason,
  exitCode: r.exit_code,
  exitSignal: r.exit_signal,
  bytesIn: r.bytes_in,
  bytesOut: r.bytes_out,
  channels: r.channels,
  fileOps: r.file_ops,
  fileOpsOmitted: r.file_ops_omitted,
  requestId: r.request_id,
});

/** Session history from the database (all nodes), newest first. */
export async function listSessionRows(
  db: Db,
  filter: { id?: string; user?: string; target?: string; active?: boolean; limit?: number } = {},
): Promise<SessionRow[]> {
  const rows = (
    await db.query<DbSessionRow>(
      `SELECT * FROM sessions WHERE ($1::uuid IS NULL OR id = $1) AND ($2::text IS NULL OR user_name = $2)
         AND ($3::text IS NULL OR target_name = $3) AND (NOT $4 OR status = 'active')
       ORDER BY started_at DESC LIMIT $5`,
      [filter.id ?? null, filter.user ?? null, filter.target ?? null, filter.active ?? false, Math.min(Math.max(filter.limit ?? 100, 1), 1000)],
    )
  ).rows;
  return rows.map(toRow);
}
