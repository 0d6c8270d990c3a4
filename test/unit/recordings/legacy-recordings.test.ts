import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManualClock } from '../../../core/clock.js';
import { SigningKeyStore } from '../../../core/signing-keys.js';
import { parseCast } from '../../../recordings/asciicast.js';
import type { RecordingRow } from '../../../recordings/recordings.js';
import { engines } from '../../helpers/db.js';
import { openTestServices } from '../../helpers/services.js';
import type { TestServices } from '../../helpers/services.js';

/**
 * Recordings stored as asciicast v2, before the lossless format: a fixture made
 * by the old writer (test/fixtures/recordings/asciicast-v2/README.md) keeps
 * verifying, replaying, exporting and analysing, and damage to it is still found.
 */
const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/recordings/asciicast-v2');
const ROW = JSON.parse(readFileSync(join(FIXTURE, 'row.json'), 'utf8')) as { id: string; session: string; startedAt: string; length: number; head: string; entries: number; keyFingerprint: string };

describe.each(engines)('recordings stored as asciicast v2, on %s', (engine) => {
  let s: TestServices;
  let row: RecordingRow;
  let path: string;

  beforeEach(async () => {
    const clock = new ManualClock(Date.parse('2026-11-21T00:00:00Z'));
    s = await openTestServices(engine, { clock, scheduler: new ManualClock() });
    // The key that signed it, retired since: airlock verifies old recordings with every key it has had.
    const keys = new SigningKeyStore(s.db, s.vault, clock);
    const privateText = readFileSync(join(FIXTURE, 'recording-key.pem'), 'utf8');
    const publicJwk = createPublicKey(createPrivateKey(privateText)).export({ format: 'jwk' }) as Record<string, unknown>;
    await keys.rotate('recording', { kid: 'fixture', alg: 'Ed25519', publicJwk, privateText });
    const { privateKey } = generateKeyPairSync('ed25519');
    await keys.rotate('recording', {
      kid: 'signs-now',
      alg: 'Ed25519',
      publicJwk: createPublicKey(privateKey).export({ format: 'jwk' }) as Record<string, unknown>,
      privateText: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    });
    await s.recordingKeys.init();
    expect(s.recordingKeys.byFingerprint(ROW.keyFingerprint)).toBeDefined();
    expect(s.recordingKeys.current().fingerprint).not.toBe(ROW.keyFingerprint);

    path = `2026/11/20/${ROW.session}.cast`;
    const dir = join(s.dataDir, 'recordings', dirname(path));
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(FIXTURE, 'recording.cast'), join(s.dataDir, 'recordings', path));
    copyFileSync(join(FIXTURE, 'recording.cast.chain'), join(s.dataDir, 'recordings', path + '.chain'));
    const started = new Date(ROW.startedAt);
    const userId = randomUUID();
    await s.db.query(`INSERT INTO users (id, name, role, password_hash, created_at, updated_at) VALUES ($1, 'alice', 'engineer', 'x', $2, $2)`, [userId, started]);
    await s.db.query(
      `INSERT INTO sessions (id, user_id, user_name, target_name, target_login, source, node, started_at, status) VALUES ($1, $2, 'alice', 'db01', 'root', '127.0.0.1', $3, $4, 'closed')`,
      [ROW.session, userId, s.config.nodeName, started],
    );
    await s.db.query(
      `INSERT INTO recordings (id, session_id, channel_index, kind, path, node, user_name, target_name, sensitivity, started_at, ended_at, status, length, chain_head, chain_entries,
         key_fingerprint, retain_until, format)
       VALUES ($1, $2, 1, 'terminal', $3, $4, 'alice', 'db01', 'standard', $5, $6, 'complete', $7, $8, $9, $10, $11, 'asciicast-v2')`,
      [ROW.id, ROW.session, path, s.config.nodeName, started, new Date(started.getTime() + 9000), ROW.length, ROW.head, ROW.entries, ROW.keyFingerprint, new Date(started.getTime() + 365 * 86_400_000)],
    );
    row = await s.recordings.get(ROW.id);
  });
  afterEach(async () => {
    await s.analyses.stop();
    await s.close();
  });

  const collect = async (chunks: AsyncIterable<Buffer>) => {
    const out: Buffer[] = [];
    for await (const c of chunks) out.push(c);
    return Buffer.concat(out);
  };

  it('verifies as intact, and a changed byte is still named', async () => {
    expect(row.format).toBe('asciicast-v2');
    const report = await s.recordings.verify(row);
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ ok: true, final: true, checkpoints: 4, verifiedLength: ROW.length, summary: `intact: ${ROW.length} bytes, signed` });
    const file = join(s.dataDir, 'recordings', path);
    const bytes = readFileSync(file);
    bytes[600] = (bytes[600] as number) ^ 0x01;
    writeFileSync(file, bytes);
    const damaged = await s.recordings.verify(row);
    expect(damaged.ok).toBe(false);
    expect(damaged.problems.map((p) => p.kind)).toEqual(['range_changed']);
  });

  it('exports as itself: the cast and the raw file are the stored bytes; evidence holds it with its chain', async () => {
    const stored = readFileSync(join(FIXTURE, 'recording.cast'));
    expect((await collect(s.recordings.cast(row))).equals(stored)).toBe(true);
    expect((await collect(s.recordings.raw(row))).equals(stored)).toBe(true);
    const { files, report } = await s.recordings.evidence(row);
    expect(report).toMatchObject({ ok: true, unsignedBytes: 0 });
    expect(files.map((f) => [f.name, f.size])).toEqual([
      [`${ROW.id}.cast`, stored.length],
      [`${ROW.id}.cast.chain`, readFileSync(join(FIXTURE, 'recording.cast.chain')).length],
    ]);
  });

  it('replays, from the start and page by page', async () => {
    const cast = parseCast(readFileSync(join(FIXTURE, 'recording.cast'), 'utf8'));
    const all: unknown[] = [];
    let from = 0;
    for (let end = false, pages = 0; !end && pages < 100; pages++) {
      const w = await s.analyses.replay(row, { at: 0, window: 1e9, maxBytes: 1024, from });
      if (pages === 0) expect(w.header).toMatchObject({ version: 2, width: 80, height: 24, title: 'alice@db01' });
      all.push(...w.events);
      from = w.nextOffset;
      end = w.end;
    }
    expect(all).toEqual(cast.events);
    expect(all).toContainEqual([expect.any(Number), 'o', '\r\ndonnées → ok\r\n\x1b[1;32mroot@db01\x1b[0m:~# ']);
  });

  it('is analysed: its commands are found', async () => {
    expect(await s.analyses.runOnce()).toBe(true);
    expect((await s.analyses.commands(ROW.id)).map((c) => c.text)).toEqual(['echo données → ok', 'uptime', 'exit']);
    expect((await s.recordings.get(ROW.id)).analysisStatus).toBe('done');
  });
});
