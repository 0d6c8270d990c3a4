import { z } from 'zod';
import { parseTimeSpec, TIME_SPEC_HELP } from '../core/index.js';
import type { Clock } from '../core/index.js';

/**
 * Query parameters people type: `since` and `until` take a date, a time or a
 * duration ago (core/time-spec.ts), checked against the injected clock, with an
 * error that says what is accepted.
 */
export function timeSpec(clock: Clock) {
  return z
    .string()
    .max(64)
    .transform((v, ctx) => {
      const at = parseTimeSpec(v, clock.now());
      if (!at) {
        ctx.addIssue({ code: 'custom', message: `"${v.slice(0, 40)}" is not a time: use ${TIME_SPEC_HELP}` });
        return z.NEVER;
      }
      return at;
    });
}
