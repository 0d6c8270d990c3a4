import { Router } from 'express';
import { AirlockError } from '../../core/index.js';
import type { Request } from 'express';
import { z } from 'zod';
import type { Clock } from '../../core/index.js';
import type { WebDeps } from '../deps.js';
import { ROLES } from '../../identity/index.js';
import { listSessionRows } from '../../gateway/index.js';
import type { RecordingRow } from '../../recordings/index.js';
import { bundleFile, evidenceBundle, revealFrames } from '../../recordings/index.js';
import { ReadGate } from '../read-gate.js';
import { send } from '../stream.js';
import { authenticate, requireRole, actorOf } from '../auth.js';
import { fromZod } from '../errors.js';
import { idParam } from '../ids.js';
import { timeSpec } from '../query.js';
import { accessContext } from '../access-context.js';

/**
 * Recordings. Auditors, approvers and admins read all; an engineer reads only
 * their own (never another engineer's). Every read of a recording's content —
 * download, evidence export, verification — is itself an audit event.
 */
const listQuery = (clock: Clock) =>
  z.object({
    user: z.string().max(32).optional(),
    target: z.string().max(63).optional(),
    session: z.string().uuid().optional(),
    since: timeSpec(clock).optional(),
    until: timeSpec(clock).optional(),
    limit: z.coerce.number().int().min(1).max(1000).optional(),
  });

/** The identity travels in the body, never in a URL (which logs and proxies keep). */
const revealBody = z.strictObject({ identity: z.string().min(1).max(200) });

const replayQuery = z.object({
  at: z.coerce.number().min(0).max(10 * 365 * 86_400).optional(),
  window: z.coerce.number().min(0).max(3600).optional(),
  maxBytes: z.coerce.number().int().min(1024).max(16 * 1024 * 1024).optional(),
  from: z.coerce.number().int().min(0).optional(),
});

export function recordingRoutes(s: WebDeps): Router {
  const r = Router();
  r.use(authenticate(s.identity), requireRole(...ROLES));
  const reads = new ReadGate(s.config.recordings.maxConcurrentReads);
  /** A whole-recording read, in one of the caller's places (web/read-gate.ts). */
  const gated = <T>(req: Request, what: string, work: () => Promise<T>): Promise<T> => reads.run(what, req.auth!.user.name, work);

  /** The recording, if this caller may see it; "not found" otherwise (no hint it exists). */
  const visible = async (req: Request): Promise<RecordingRow> => {
    const me = req.auth!.user;
    const id = await idParam(s, req, { table: 'recordings', noun: 'recording', ...(me.role === 'engineer' ? { visible: { column: 'user_name', value: me.name } } : {}) });
    return s.recordings.get(id);
  };
  const audited = (req: Request, action: string, row: RecordingRow, details: Record<string, unknown> = {}) => {
    const actor = actorOf(req);
    return s.audit.record({ action, outcome: 'success', actor: actor.name, source: actor.source, target: row.id, details: { session: row.sessionId, ...details } });
  };

  r.get('/', async (req, res) => {
    const q = listQuery(s.clock).safeParse(req.query);
    if (!q.success) throw fromZod(q.error);
    const me = req.auth!.user;
    const rows = await s.recordings.list({ ...q.data, ...(me.role === 'engineer' ? { user: me.name } : {}) });
    res.json({ recordings: rows });
  });

  r.get('/key', (_req, res) => {
    res.json({ keys: s.recordingKeys.all().map((k) => ({ fingerprint: k.fingerprint, publicKeyPem: k.publicPem })) });
  });

  r.post('/verify-all', requireRole('admin', 'auditor'), async (req, res) => {
    const rows = await s.recordings.list({ limit: 10_000 });
    const results = await gated(req, 'verify-all', async () => {
      const out = [];
      for (const row of rows) {
        const report = await s.recordings.verify(row);
        out.push({ id: row.id, session: row.sessionId, status: row.status, ok: report.ok, summary: report.summary });
      }
      return out;
    });
    const actor = actorOf(req);
    await s.audit.record({
      action: 'recording.verified_all',
      outcome: results.every((x) => x.ok) ? 'success' : 'failure',
      actor: actor.name,
      source: actor.source,
      details: { checked: results.length, failed: results.filter((x) => !x.ok).map((x) => x.id) },
    });
    res.json({ results });
  });

  r.post('/prune', requireRole('admin'), async (req, res) => {
    const deleted = await s.recordings.prune();
    const actor = actorOf(req);
    await s.audit.record({ action: 'recording.pruned', outcome: 'success', actor: actor.name, source: actor.source, details: { deleted } });
    res.json({ deleted });
  });

  r.get('/:id', async (req, res) => {
    const recording = await visible(req);
    const session = (await listSessionRows(s.db, { id: recording.sessionId }))[0];
    res.json({ recording, access: await accessContext(s, session?.requestId ?? null) });
  });

  /** asciicast v2 (converted as it streams, for airlock-format recordings): what asciinema plays. */
  r.get('/:id/cast', async (req, res) => {
    const row = await visible(req);
    await gated(req, 'asciicast export', async () => {
      await audited(req, 'recording.read', row, { as: 'asciicast', stored: row.length });
      res.setHeader('Content-Type', 'application/x-asciicast');
      res.setHeader('Content-Disposition', `attachment; filename="${row.id}.cast"`);
      await send(res, s.recordings.cast(row), s.logger, s.scheduler);
    });
  });

  /** The stored file, byte for byte: the lossless copy the chain covers (recordings/FORMAT.md). */
  r.get('/:id/raw', async (req, res) => {
    const reveal = req.query['purpose'] === 'reveal';
    if (reveal && !['admin', 'auditor'].includes(req.auth!.user.role)) throw new AirlockError('ERR_ROLE_REQUIRED', 'revealing sealed input needs the admin or auditor role');
    const row = await visible(req);
    await gated(req, 'raw export', async () => {
      // purpose=reveal: the CLI takes the file to reveal its sealed input on the auditor's side
      // (admin, auditor): the read is audited with that purpose; it cannot say whether the key fit.
      await audited(req, 'recording.read', row, { as: 'raw', stored: row.length, ...(reveal ? { purpose: 'reveal' } : {}) });
      res.setHeader('Content-Type', row.format === 'airlock-v1' ? 'application/vnd.airlock.recording' : 'application/x-asciicast');
      res.setHeader('Content-Disposition', `attachment; filename="${s.recordings.fileName(row)}"`);
      await send(res, s.recordings.raw(row), s.logger, s.scheduler);
    });
  });

  /**
   * Sealed input (what was typed without echo: recordings/sealing.ts), revealed
   * with the customer's private key supplied in this request. The key is used
   * for this answer and dropped: never stored, never logged. Every reveal is
   * audited, a refused one too (a wrong key). The CLI can instead decrypt on
   * the auditor's machine (`airlock recordings reveal`), from the raw download.
   */
  r.post('/:id/reveal', requireRole('admin', 'auditor'), async (req, res) => {
    const body = revealBody.safeParse(req.body);
    if (!body.success) throw fromZod(body.error);
    const row = await visible(req);
    const report = await gated(req, 'reveal', async () => {
      try {
        return await revealFrames(s.recordings.raw(row), body.data.identity);
      } catch (err) {
        const actor = actorOf(req);
        await s.audit.record({ action: 'recording.revealed', outcome: 'failure', actor: actor.name, source: actor.source, target: row.id, details: { session: row.sessionId, error: (err as { code?: string }).code ?? 'ERR_INTERNAL' } });
        throw err;
      }
    });
    await audited(req, 'recording.revealed', row, { where: 'server', inputs: report.inputs.length, unsealed: report.unsealed });
    res.setHeader('Cache-Control', 'no-store');
    res.json({ recording: row, ...report });
  });

  r.get('/:id/commands', async (req, res) => {
    const row = await visible(req);
    const commands = await s.analyses.commands(row.id);
    await audited(req, 'recording.commands_read', row, { commands: commands.length });
    res.json({ recording: row, commands });
  });

  /**
   * Replay from any point: the keyframe before `at` and the events from there
   * (see Analyses.replay). `from` continues where an earlier answer stopped.
   */
  r.get('/:id/replay', async (req, res) => {
    const q = replayQuery.safeParse(req.query);
    if (!q.success) throw fromZod(q.error);
    const row = await visible(req);
    const window = await s.analyses.replay(row, { at: q.data.at ?? 0, window: q.data.window ?? 30, maxBytes: q.data.maxBytes ?? 2 * 1024 * 1024, from: q.data.from });
    await audited(req, 'recording.replayed', row, { at: q.data.at ?? 0, ...(q.data.from !== undefined ? { from: q.data.from } : {}), events: window.events.length });
    res.json({ recording: row, ...window });
  });

  r.get('/:id/verify', async (req, res) => {
    const row = await visible(req);
    const report = await gated(req, 'verify', () => s.recordings.verify(row));
    await audited(req, 'recording.verified', row, { ok: report.ok, summary: report.summary });
    res.json({ recording: row, report });
  });

  r.get('/:id/evidence', requireRole('admin', 'auditor'), async (req, res) => {
    const row = await visible(req);
    // One place for the whole bundle: verifying, converting and streaming it.
    await gated(req, 'evidence export', async () => {
      const [{ files: recordingFiles, report }, sessions] = await Promise.all([s.recordings.evidence(row), listSessionRows(s.db, { id: row.sessionId })]);
      const key = s.recordingKeys.byFingerprint(row.keyFingerprint);
      const actor = actorOf(req);
      const files = [
        ...recordingFiles,
        bundleFile('recording-key.pem', key?.publicPem ?? ''),
        bundleFile('recording.json', JSON.stringify(row, null, 2) + '\n'),
        bundleFile('session.json', JSON.stringify(sessions[0] ?? null, null, 2) + '\n'),
        bundleFile('verification.json', JSON.stringify(report, null, 2) + '\n'),
      ];
      const meta = { recording: row.id, session: row.sessionId, format: row.format, exportedBy: actor.name, exportedAt: s.clock.now().toISOString(), verified: report.ok, unsignedBytes: report.unsignedBytes };
      await audited(req, 'recording.exported', row, { files: files.map((f) => ({ name: f.name, bytes: f.size })), verified: report.ok });
      res.setHeader('Content-Type', 'application/x-tar');
      res.setHeader('Content-Disposition', `attachment; filename="airlock-evidence-${row.id}.tar"`);
      await send(res, evidenceBundle(files, meta, s.clock.now()), s.logger, s.scheduler);
    });
  });

  return r;
}
