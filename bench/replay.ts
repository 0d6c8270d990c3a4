import { randomUUID } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { once } from 'node:events';
import { ManualClock, loadConfig, parseListen, silentLogger } from '../core/index.js';
import { openServices } from '../server/index.js';
import type { Services } from '../server/index.js';
import type { RecordingRow } from '../recordings/index.js';
import { createApp, startWebServer } from '../web/index.js';
import type { AirlockPaths } from './airlock.js';
import { initAirlock, login } from './airlock.js';
import { median } from './stats.js';

/**
 * Analysis speed and replay latency on a long recording, as an auditor meets it:
 * a recording of `durationS` seconds and `bytes` of terminal output (a shell:
 * prompt, typed commands echoed key by key, log-like and coloured output) is
 * made through airlock's own recorder with a clock moved forward, sealed, and
 * analysed (commands, keyframes) — timed. Then airlock's HTTP API serves it: the
 * first frame (`/replay?at=0`) and a seek to 90 % of its length, each timed from
 * request to parsed answer, alternating, median of several.
 *
 * This runs airlock's services in the bench process (its own data directory and
 * embedded database), because a recording an hour long cannot be made in real
 * time; the web server is the same createApp/startWebServer as `airlock serve`.
 */
export interface ReplayResult {
  recording_mb: number;
  output_mb: number;
  duration_s: number;
  commands: number;
  keyframes: number;
  analysis_s: number;
  analysis_mb_per_s: number;
  first_frame_ms: number;
  seek_ms: number;
  first_frame_runs_ms: number[];
  seek_runs_ms: number[];
  first_frame_bytes: number;
  seek_bytes: number;
  /** The long recording's sizes, stored and as asciicast. */
  size: RecordingSizes;
  /** An hour of a typical interactive session. */
  typical_hour: RecordingSizes & { output_bytes: number };
}

const COMMANDS = [
  'tail -n 400 /var/log/app/access.log',
  'journalctl -u nginx --since today --no-pager',
  'ls -la --color=always /var/www/releases',
  'grep -R "timeout" /etc/app/ --color=always',
  'df -h',
  'systemctl status app --no-pager',
];

/** One command's worth of terminal: prompt, typed keys and their echo, then output. */
function* shellSession(outputPerCommand: number): Generator<{ kind: 'o' | 'i'; data: Buffer; pauseMs: number }> {
  for (let n = 0; ; n++) {
    const command = COMMANDS[n % COMMANDS.length] as string;
    yield { kind: 'o', data: Buffer.from(`\x1b[32mbench@db01\x1b[0m:\x1b[34m~\x1b[0m$ `), pauseMs: 800 };
    for (const ch of command) {
      yield { kind: 'i', data: Buffer.from(ch), pauseMs: 0 };
      yield { kind: 'o', data: Buffer.from(ch), pauseMs: 90 };
    }
    yield { kind: 'i', data: Buffer.from('\r'), pauseMs: 0 };
    yield { kind: 'o', data: Buffer.from('\r\n'), pauseMs: 50 };
    let written = 0;
    for (let line = 0; written < outputPerCommand; line++) {
      const text =
        line % 7 === 0
          ? `\x1b[1;31mERROR\x1b[0m 2026-11-29T04:${String(line % 60).padStart(2, '0')}:00Z worker[${n}] request ${line} failed: upstream timed out after 30000 ms\r\n`
          : `2026-11-29T04:${String(line % 60).padStart(2, '0')}:00Z 10.0.${n % 256}.${line % 256} "GET /api/items?page=${line} HTTP/1.1" 200 ${1000 + line} "-" "curl/8.5"\r\n`;
      // Output arrives in chunks of a few KiB, as a program writes it.
      yield { kind: 'o', data: Buffer.from(text), pauseMs: 0 };
      written += text.length;
    }
  }
}

/** Output of a typical interactive hour: typed commands and their answers, not a log dump. */
const TYPICAL_HOUR_BYTES = 4 * 1000 * 1000;

/** A terminal recording of `durationS` seconds with `bytes` of shell output, made by airlock's recorder with the clock moved; sealed. */
async function makeRecording(s: Services, clock: ManualClock, user: string, bytes: number, durationS: number): Promise<{ id: string; output: number }> {
  const sessionId = randomUUID();
  const userRow = (await s.db.query<{ id: string }>('SELECT id FROM users WHERE name = $1', [user])).rows[0];
  await s.db.query(
    `INSERT INTO sessions (id, user_id, user_name, target_name, target_login, source, node, started_at, status) VALUES ($1, $2, $3, 'db01', 'bench', '127.0.0.1', $4, $5, 'active')`,
    [sessionId, userRow?.id, user, s.config.nodeName, clock.now()],
  );
  const live = await s.recordings.start({
    sessionId,
    channelIndex: 1,
    kind: 'terminal',
    user,
    target: 'db01',
    login: 'bench',
    source: '127.0.0.1',
    sensitivity: 'standard',
    width: 160,
    height: 48,
    term: 'xterm-256color',
  });
  const commandsWanted = Math.max(10, Math.round(durationS / 30));
  const perCommand = Math.ceil(bytes / commandsWanted);
  // Pauses are scaled so that the whole recording spans durationS.
  const scale = (durationS * 1000) / (commandsWanted * (800 + 60 * 90 + 50));
  let output = 0;
  let pending = 0;
  const started = clock.now().getTime();
  for (const step of shellSession(perCommand)) {
    if (step.kind === 'i') {
      live.recorder.input(step.data);
    } else {
      live.recorder.output(step.data);
      output += step.data.length;
    }
    pending += step.pauseMs * scale;
    if (pending >= 1) {
      clock.advance(Math.floor(pending));
      pending -= Math.floor(pending);
    }
    if (live.recorder.backlogged) await once(live.recorder, 'drain');
    if (output >= bytes) break;
  }
  clock.set(started + durationS * 1000);
  live.recorder.output(Buffer.from('logout\r\n'));
  await live.finish();
  return { id: live.id, output };
}

export interface RecordingSizes {
  /** The stored file (airlock's format). */
  stored_bytes: number;
  /** The same recording as asciicast v2: what airlock stored before, and what the export gives. */
  asciicast_bytes: number;
  /** The stored file gzipped (level 6), and how long that took: what compression at rest would save. */
  gzip_bytes: number;
  gzip_s: number;
}

async function sizes(s: Services, row: RecordingRow): Promise<RecordingSizes> {
  let asciicast = 0;
  for await (const chunk of s.recordings.cast(row)) asciicast += chunk.length;
  let gzipped = 0;
  const t0 = performance.now();
  await pipeline(Readable.from(s.recordings.raw(row)), createGzip({ level: 6 }), new Writable({ write: (chunk: Buffer, _e, done) => ((gzipped += chunk.length), done()) }));
  return { stored_bytes: row.length ?? 0, asciicast_bytes: asciicast, gzip_bytes: gzipped, gzip_s: (performance.now() - t0) / 1000 };
}

export async function replayBench(paths: AirlockPaths, dataDir: string, o: { bytes: number; durationS: number; runs: number; log: (line: string) => void }): Promise<ReplayResult> {
  const admin = await initAirlock(paths, dataDir);
  const config = loadConfig({ env: { AIRLOCK_DATA_DIR: dataDir, AIRLOCK_LOG_LEVEL: 'warn' } });
  const clock = new ManualClock(Date.now());
  const s = await openServices({ config, logger: silentLogger(), clock });
  try {
    // ------------------------------------------------------------ a long recording
    const { id: recordingId, output } = await makeRecording(s, clock, admin.name, o.bytes, o.durationS);
    const recording = await s.recordings.get(recordingId);
    o.log(`replay: made a ${((recording.length ?? 0) / 1e6).toFixed(0)} MB recording of ${o.durationS} s with ${(output / 1e6).toFixed(0)} MB of output`);
    const size = await sizes(s, recording);
    o.log(`replay: stored ${(size.stored_bytes / 1e6).toFixed(1)} MB; as asciicast ${(size.asciicast_bytes / 1e6).toFixed(1)} MB; gzip ${(size.gzip_bytes / 1e6).toFixed(1)} MB in ${size.gzip_s.toFixed(1)} s`);
    // A typical interactive hour: a few MB of output, mostly typing and short answers.
    const typical = await makeRecording(s, clock, admin.name, TYPICAL_HOUR_BYTES, 3600);
    const typicalSize = await sizes(s, await s.recordings.get(typical.id));
    o.log(`replay: a typical hour (${(TYPICAL_HOUR_BYTES / 1e6).toFixed(0)} MB of output): stored ${(typicalSize.stored_bytes / 1e6).toFixed(2)} MB, as asciicast ${(typicalSize.asciicast_bytes / 1e6).toFixed(2)} MB`);
    const live = { id: recordingId };

    // ------------------------------------------------------------ analysis, timed
    const t0 = performance.now();
    if (!(await s.analyses.runOnce())) throw new Error('the recording was not picked up for analysis');
    const analysisS = (performance.now() - t0) / 1000;
    const analysed = await s.recordings.get(live.id);
    if (analysed.commandCount === 0) throw new Error('the analysis found no commands');
    if (analysed.analysisStatus !== 'done') throw new Error(`analysis ended ${analysed.analysisStatus}: ${analysed.analysisError ?? ''}`);
    const keyframes = (await s.db.query<{ n: number }>('SELECT count(*)::int AS n FROM recording_keyframes WHERE recording_id = $1', [live.id])).rows[0]?.n ?? 0;
    o.log(`replay: analysed in ${analysisS.toFixed(1)} s: ${analysed.commandCount} commands, ${keyframes} keyframes`);

    // ------------------------------------------------------------ replay through the API
    clock.set(Date.now()); // the login's TOTP is checked against this clock
    const app = createApp(s, { version: 'bench' });
    const web = await startWebServer(app, parseListen('127.0.0.1:0') as NonNullable<ReturnType<typeof parseListen>>);
    try {
      const { token } = await login(web.url, admin);
      const fetchWindow = async (at: number): Promise<{ ms: number; bytes: number; events: number }> => {
        const t = performance.now();
        const res = await fetch(`${web.url}/api/v1/recordings/${live.id}/replay?at=${at}&window=10`, { headers: { authorization: `Bearer ${token}` } });
        const text = await res.text();
        if (res.status !== 200) throw new Error(`replay at ${at}: HTTP ${res.status} ${text.slice(0, 200)}`);
        const body = JSON.parse(text) as { events: unknown[]; keyframe: unknown };
        const ms = performance.now() - t;
        if (at > 0 && !body.keyframe) throw new Error(`replay at ${at}: no keyframe to start from`);
        return { ms, bytes: text.length, events: body.events.length };
      };
      const duration = analysed.duration ?? o.durationS;
      await fetchWindow(0); // warm-up: connection, JIT
      const first: number[] = [];
      const seek: number[] = [];
      let firstBytes = 0;
      let seekBytes = 0;
      for (let i = 0; i < o.runs; i++) {
        const a = await fetchWindow(0);
        const b = await fetchWindow(duration * 0.9);
        first.push(a.ms);
        seek.push(b.ms);
        firstBytes = a.bytes;
        seekBytes = b.bytes;
      }
      o.log(`replay: first frame ${median(first).toFixed(1)} ms, seek to 90 % ${median(seek).toFixed(1)} ms (medians of ${o.runs})`);
      return {
        recording_mb: (analysed.length ?? 0) / 1e6,
        output_mb: (analysed.outputBytes ?? output) / 1e6,
        duration_s: duration,
        commands: analysed.commandCount ?? 0,
        keyframes,
        analysis_s: analysisS,
        analysis_mb_per_s: (analysed.outputBytes ?? output) / 1e6 / analysisS,
        first_frame_ms: median(first),
        seek_ms: median(seek),
        first_frame_runs_ms: first,
        seek_runs_ms: seek,
        first_frame_bytes: firstBytes,
        seek_bytes: seekBytes,
        size,
        typical_hour: { output_bytes: typical.output, ...typicalSize },
      };
    } finally {
      await web.close();
    }
  } finally {
    await s.close();
  }
}
