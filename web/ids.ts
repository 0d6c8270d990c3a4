import type { Request } from 'express';
import { resolveId } from '../core/index.js';
import type { IdLookup } from '../core/index.js';
import type { WebDeps } from './deps.js';

/**
 * The `:id` of a route as a full id: a whole UUID or any unambiguous prefix of
 * one (core/ids.ts), among the rows the caller may see when `visible` says so.
 * A malformed id is a 400 here and never reaches a query; an id the caller may
 * not see is "not found", exactly like one that does not exist.
 */
export function idParam(s: Pick<WebDeps, 'db'>, req: Request, lookup: IdLookup): Promise<string> {
  return resolveId(s.db, String(req.params['id'] ?? ''), lookup);
}
