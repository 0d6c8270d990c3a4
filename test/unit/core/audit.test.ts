import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { AuditLog, verifyAuditChain } from '../../../core/audit.js';
import { ManualClock } from '../../../core/clock.js';
import { engines, openTestDb } from '../../helpers/db.js';
import type { TestDb } from '../../helpers/db.js';

describe.each(engines)('audit chain on %s', (engine) => {
  let t: TestDb;
  let log: AuditLog;
  const clock = new ManualClock();

  beforeEach(async () => {
    t = await openTestDb(engine);
    log = new AuditLog(t.db, clock);
    for (let i = 1; i <= 6; i++) {
      clock.advance(1000);
      await log.record({ action: 'test.event', outcome: 'success', actor: `user${i}`, target: 't', details: { i, nested: { b: 2, a: [1, 'x'] } } });
    }
  });
  afterEach(() => t.close());

  // Tampering needs the append-only trigger out of the way, as a database owner could.
  const tamper = async (sql: string, params: unknown[] = []) => {
    await t.db.exec('ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change');
    await t.db.query(sql, params);
    await t.db.exec('ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_change');
  };

  it('verifies an untouched chain', async () => {
    const report = await verifyAuditChain(t.db);
    expect(report).toEqual({ ok: true, checked: 6, headSeq: 6 });
  });

  it('refuses ordinary updates and deletes', async () => {
    await expect(t.db.query("UPDATE audit_events SET actor = 'x' WHERE seq = 2")).rejects.toThrow(/append-only/);
    await expect(t.db.query('DELETE FROM audit_events WHERE seq = 2')).rejects.toThrow(/append-only/);
  });

  it('names an edited row', async () => {
    await tamper(`UPDATE audit_events SET details = '{"i": 3, "nested": {"a": [1, "x"], "b": 3}}' WHERE seq = 3`);
    const report = await verifyAuditChain(t.db);
    expect(report.ok).toBe(false);
    expect(report.firstBad).toMatchObject({ seq: 3, problem: 'hash_mismatch' });
    expect(report.checked).toBe(2);
  });

  it('names a deleted row', async () => {
    await tamper('DELETE FROM audit_events WHERE seq = 4');
    const report = await verifyAuditChain(t.db);
    expect(report.firstBad).toMatchObject({ seq: 4, problem: 'missing_row' });
  });

  it('names reordered rows', async () => {
    // Swap the contents of rows 2 and 5, hashes included: each still carries a hash,
    // but neither follows from its new predecessor.
    await tamper(`UPDATE audit_events SET seq = -2 WHERE seq = 2`);
    await tamper(`UPDATE audit_events SET seq = 2 WHERE seq = 5`);
    await tamper(`UPDATE audit_events SET seq = 5 WHERE seq = -2`);
    const report = await verifyAuditChain(t.db);
    expect(report.firstBad).toMatchObject({ seq: 2, problem: 'hash_mismatch' });
  });

  it('notices rows cut off the end', async () => {
    await tamper('DELETE FROM audit_events WHERE seq >= 5');
    const report = await verifyAuditChain(t.db);
    expect(report.firstBad).toMatchObject({ problem: 'head_mismatch', seq: 6 });
  });

  it('orders concurrent appends into one chain', async () => {
    await Promise.all(Array.from({ length: 20 }, (_, i) => log.record({ action: 'test.concurrent', outcome: 'info', details: { i } })));
    expect(await verifyAuditChain(t.db)).toMatchObject({ ok: true, checked: 26 });
  });

  it('walks a chain longer than one page', async () => {
    for (let i = 0; i < 12; i++) await log.record({ action: 'test.more', outcome: 'info' });
    expect(await verifyAuditChain(t.db, 5)).toMatchObject({ ok: true, checked: 18 });
    await tamper(`UPDATE audit_events SET action = 'test.other' WHERE seq = 16`);
    expect((await verifyAuditChain(t.db, 5)).firstBad).toMatchObject({ seq: 16 });
  });
});
