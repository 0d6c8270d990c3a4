import { parseDuration } from './duration.js';

/**
 * A point in time as people type it for --since and --until: an ISO date or
 * date-time ("2026-12-01", "2026-12-01T09:30:00Z"), a duration ago ("90m",
 * "1h", "2d", "1h30m"), or "now", "today", "yesterday" (midnight UTC). Returns
 * undefined for anything else, so the caller can say what it accepts.
 */
export const TIME_SPEC_HELP = 'an ISO date or time (2026-12-01, 2026-12-01T09:30Z), a duration ago (30m, 1h, 2d), today, yesterday or now';

const ISO = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;
const DAY_MS = 86_400_000;

export function parseTimeSpec(text: string, now: Date): Date | undefined {
  const t = text.trim().toLowerCase();
  if (t === 'now') return now;
  if (t === 'today' || t === 'yesterday') {
    const midnight = Math.floor(now.getTime() / DAY_MS) * DAY_MS;
    return new Date(t === 'today' ? midnight : midnight - DAY_MS);
  }
  if (ISO.test(t)) {
    const date = new Date(/^\d{4}-\d{2}-\d{2}$/.test(t) ? `${t}T00:00:00Z` : t.toUpperCase().replace(' ', 'T'));
    return Number.isNaN(date.getTime()) ? undefined : date;
  }
  if (/^\d+$/.test(t)) return undefined; // a bare number is ambiguous (ms? epoch?): refuse it
  const ago = parseDuration(t);
  return ago === undefined ? undefined : new Date(now.getTime() - ago);
}
