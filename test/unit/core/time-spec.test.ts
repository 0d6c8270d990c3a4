import { describe, expect, it } from 'vitest';
import { parseTimeSpec } from '../../../core/index.js';

describe('times as people type them', () => {
  const now = new Date('2026-12-02T10:30:00Z');
  it('takes durations ago, dates, times and words', () => {
    expect(parseTimeSpec('1h', now)?.toISOString()).toBe('2026-12-02T09:30:00.000Z');
    expect(parseTimeSpec('90m', now)?.toISOString()).toBe('2026-12-02T09:00:00.000Z');
    expect(parseTimeSpec('2d', now)?.toISOString()).toBe('2026-11-30T10:30:00.000Z');
    expect(parseTimeSpec('1h30m', now)?.toISOString()).toBe('2026-12-02T09:00:00.000Z');
    expect(parseTimeSpec('2026-12-01', now)?.toISOString()).toBe('2026-12-01T00:00:00.000Z');
    expect(parseTimeSpec('2026-12-01T09:15Z', now)?.toISOString()).toBe('2026-12-01T09:15:00.000Z');
    expect(parseTimeSpec('2026-12-01 09:15:30+01:00', now)?.toISOString()).toBe('2026-12-01T08:15:30.000Z');
    expect(parseTimeSpec('today', now)?.toISOString()).toBe('2026-12-02T00:00:00.000Z');
    expect(parseTimeSpec('yesterday', now)?.toISOString()).toBe('2026-12-01T00:00:00.000Z');
    expect(parseTimeSpec('now', now)).toEqual(now);
  });

  it('refuses anything else', () => {
    for (const bad of ['', 'soon', '1 hour', '1y', '3600', '2026-13-45', '2026-12-01T25:00Z', 'h1']) expect(parseTimeSpec(bad, now), bad).toBeUndefined();
  });
});
