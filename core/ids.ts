import { AirlockError } from './errors.js';
import type { Queryable } from './db.js';

/**
 * Ids are UUIDs, and people type their first characters: the gateway prints
 * "request 8f3a01c2", a table shows a column of them. Wherever an id is taken,
 * any prefix that names exactly one row the caller may see is accepted. A prefix
 * becomes a range of the primary key (8f3a… → 8f3a0000-… to 8f3affff-…), so the
 * lookup uses the index however many rows there are. What is not hex and dashes
 * in UUID positions never reaches the database.
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PREFIX = /^[0-9a-f-]{1,36}$/i;
/** Shorter prefixes would match too much to be useful and hint at how many rows exist. */
export const MIN_ID_PREFIX = 4;

export function isUuid(text: string): boolean {
  return UUID.test(text);
}

const dashed = (hex: string) => `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;

/** The UUID range a prefix covers, or undefined if it is not a prefix of a canonical UUID. */
export function uuidRange(prefix: string): { lo: string; hi: string } | undefined {
  if (!PREFIX.test(prefix)) return undefined;
  // Dashes, if typed, must sit where a UUID has them.
  for (let i = 0; i < prefix.length; i++) {
    const dash = i === 8 || i === 13 || i === 18 || i === 23;
    if ((prefix[i] === '-') !== dash) return undefined;
  }
  const hex = prefix.replaceAll('-', '').toLowerCase();
  return { lo: dashed(hex.padEnd(32, '0')), hi: dashed(hex.padEnd(32, 'f')) };
}

export interface IdLookup {
  /** The table, a constant of the caller's (never user input). */
  table: 'access_requests' | 'recordings' | 'sessions' | 'grants' | 'logins';
  /** What the caller calls it in messages: "request", "recording"… */
  noun: string;
  /** Restricts the match to rows the caller may see: "user_name = $2" with its value. */
  visible?: { column: 'user_id' | 'user_name'; value: string };
}

/** The full id for an id or unambiguous prefix; ERR_NOT_FOUND, ERR_AMBIGUOUS_ID or ERR_INVALID_INPUT otherwise. */
export async function resolveId(db: Queryable, text: string, lookup: IdLookup): Promise<string> {
  const trimmed = text.trim();
  const range = uuidRange(trimmed);
  if (!range) throw new AirlockError('ERR_INVALID_INPUT', `"${trimmed.slice(0, 40)}" is not a ${lookup.noun} id`, { details: { field: 'id' } });
  if (!isUuid(trimmed) && trimmed.replaceAll('-', '').length < MIN_ID_PREFIX) {
    throw new AirlockError('ERR_INVALID_INPUT', `give at least ${MIN_ID_PREFIX} characters of the ${lookup.noun} id`, { details: { field: 'id' } });
  }
  const params: unknown[] = [range.lo, range.hi];
  let where = 'id BETWEEN $1::uuid AND $2::uuid';
  if (lookup.visible) {
    params.push(lookup.visible.value);
    where += ` AND ${lookup.visible.column} = $3`;
  }
  const rows = (await db.query<{ id: string }>(`SELECT id FROM ${lookup.table} WHERE ${where} ORDER BY id LIMIT 2`, params)).rows;
  // The same answer whether the row does not exist or the caller may not see it.
  if (rows.length === 0) throw new AirlockError('ERR_NOT_FOUND', `no ${lookup.noun} with that id`);
  if (rows.length > 1) throw new AirlockError('ERR_AMBIGUOUS_ID', `several ${lookup.noun}s start with ${trimmed}: give more of the id`);
  return (rows[0] as { id: string }).id;
}
