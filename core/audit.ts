import { createHash } from 'node:crypto';
import type { Clock } from './clock.js';
import type { Db, Queryable } from './db.js';
import { canonicalJson } from './canonical-json.js';

/**
 * The audit log: append-only rows, each carrying
 *   hash = SHA-256(previous hash || canonical JSON of the row)
 * so editing, deleting or reordering any row breaks the chain from that row on.
 * An append runs inside the transaction of the change it describes (pass that
 * transaction), and locks the one-row chain head, so appends are totally ordered.
 */
export type AuditOutcome = 'success' | 'failure' | 'info';

export interface AuditInput {
  /** Dotted name: auth.login.failed, user.created, session.start … */
  action: string;
  outcome: AuditOutcome;
  /** Who did it: a user name, "system", or undefined for an unauthenticated party. */
  actor?: string | undefined;
  /** What it was done to: a user, target, session … */
  target?: string | undefined;
  /** Where it came from: a network address. */
  source?: string | undefined;
  details?: Record<string, unknown>;
}

export interface AuditEvent {
  seq: number;
  at: Date;
  actor: string | null;
  action: string;
  target: string | null;
  outcome: AuditOutcome;
  source: string | null;
  details: Record<string, unknown>;
  hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);
const MAX_DETAIL_BYTES = 16 * 1024;

export function hashEvent(prevHash: string, e: Omit<AuditEvent, 'hash'>): string {
  const body = canonicalJson({
    seq: e.seq,
    at: e.at.toISOString(),
    actor: e.actor,
    action: e.action,
    target: e.target,
    outcome: e.outcome,
    source: e.source,
    details: e.details,
  });
  return createHash('sha256').update(prevHash).update(body).digest('hex');
}

export class AuditLog {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  /** Appends inside the given transaction. */
  async append(tx: Queryable, input: AuditInput): Promise<AuditEvent> {
    const head = (await tx.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_head WHERE id FOR UPDATE')).rows[0];
    if (!head) throw new Error('audit_head row missing: the database was not migrated');
    const event: Omit<AuditEvent, 'hash'> = {
      seq: head.seq + 1,
      // Millisecond precision: what PostgreSQL stores (µs) returns unchanged.
      at: this.clock.now(),
      actor: input.actor ?? null,
      action: input.action,
      target: input.target ?? null,
      outcome: input.outcome,
      source: input.source ?? null,
      details: boundDetails(input.details ?? {}),
    };
    const hash = hashEvent(head.hash, event);
    await tx.query(
      `INSERT INTO audit_events (seq, at, actor, action, target, outcome, source, details, hash)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [event.seq, event.at, event.actor, event.action, event.target, event.outcome, event.source, JSON.stringify(event.details), hash],
    );
    await tx.query('UPDATE audit_head SET seq = $1, hash = $2 WHERE id', [event.seq, hash]);
    return { ...event, hash };
  }

  /** Appends in a transaction of its own: for events with no other change to join. */
  record(input: AuditInput): Promise<AuditEvent> {
    return this.db.transaction((tx) => this.append(tx, input));
  }

  async list(options: { afterSeq?: number; limit?: number; action?: string; newest?: boolean } = {}): Promise<AuditEvent[]> {
    const limit = Math.min(Math.max(options.limit ?? 100, 1), 1000);
    const params: unknown[] = [options.afterSeq ?? 0];
    let where = 'seq > $1';
    if (options.action) {
      params.push(options.action.replace(/[\\%_]/g, (c) => '\\' + c) + '%');
      where += ` AND action LIKE $${params.length}`;
    }
    params.push(limit);
    const order = options.newest ? 'DESC' : 'ASC';
    const rows = (
      await this.db.query<AuditEvent>(
        `SELECT seq, at, actor, action, target, outcome, source, details, hash FROM audit_events
         WHERE ${where} ORDER BY seq ${order} LIMIT $${params.length}`,
        params,
      )
    ).rows;
    return options.newest ? rows.reverse() : rows;
  }
}

export interface ChainReport {
  ok: boolean;
  checked: number;
  headSeq: number;
  /** The first row that does not fit, and how. */
  firstBad?: { seq: number; problem: 'hash_mismatch' | 'missing_row' | 'out_of_order' | 'head_mismatch'; detail: string };
}

/**
 * Walks the whole chain in order and names the first row that does not fit:
 *  - missing_row: a sequence number is skipped (a row was deleted);
 *  - hash_mismatch: the row's content or position no longer gives its stored hash
 *    (edited, or reordered: every row hashes its predecessor);
 *  - head_mismatch: the last row is not the recorded head (rows cut off the end).
 * Reads in pages so a large log does not load at once.
 */
export async function verifyAuditChain(db: Queryable, pageSize = 5000): Promise<ChainReport> {
  let prevHash = GENESIS_HASH;
  let expectedSeq = 1;
  let checked = 0;
  for (;;) {
    const rows = (
      await db.query<AuditEvent>(
        `SELECT seq, at, actor, action, target, outcome, source, details, hash FROM audit_events
         WHERE seq >= $1 ORDER BY seq LIMIT $2`,
        [expectedSeq, pageSize],
      )
    ).rows;
    for (const row of rows) {
      if (row.seq !== expectedSeq) {
        return {
          ok: false,
          checked,
          headSeq: expectedSeq - 1,
          firstBad: { seq: expectedSeq, problem: 'missing_row', detail: `row ${expectedSeq} is missing (next present row is ${row.seq})` },
        };
      }
      const { hash, ...rest } = row;
      const expect = hashEvent(prevHash, { ...rest, at: new Date(rest.at) });
      if (expect !== hash) {
        return {
          ok: false,
          checked,
          headSeq: row.seq,
          firstBad: { seq: row.seq, problem: 'hash_mismatch', detail: `row ${row.seq} (${row.action}) was changed or moved: its hash does not follow from its content and the row before it` },
        };
      }
      prevHash = hash;
      expectedSeq++;
      checked++;
    }
    if (rows.length < pageSize) break;
  }
  const head = (await db.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_head WHERE id')).rows[0];
  if (head && (head.seq !== expectedSeq - 1 || head.hash !== prevHash)) {
    return {
      ok: false,
      checked,
      headSeq: expectedSeq - 1,
      firstBad: {
        seq: head.seq,
        problem: 'head_mismatch',
        detail: `the chain ends at row ${expectedSeq - 1} but the recorded head is row ${head.seq}: rows were removed from the end`,
      },
    };
  }
  return { ok: true, checked, headSeq: expectedSeq - 1 };
}

function boundDetails(details: Record<string, unknown>): Record<string, unknown> {
  // JSON round trip drops undefined and functions, so what we hash is what jsonb keeps.
  const text = JSON.stringify(details, (_k, v: unknown) => (typeof v === 'string' ? v.replace(/\u0000/g, '') : v));
  if (text.length <= MAX_DETAIL_BYTES) return JSON.parse(text) as Record<string, unknown>;
  return { truncated: true, preview: text.slice(0, 1024) };
}
