import type { CorpusBenchResult } from './corpus/bench.js';
import type { LatencyResult } from './latency.js';
import type { BenchOptions } from './options.js';
import { QUIET_LOAD } from './proc.js';
import type { LoadInfo, MachineInfo, RoundLoad, Versions } from './proc.js';
import type { RecorderMicroResult } from './recorder-micro.js';
import type { ReplayResult } from './replay.js';
import type { SessionsResult } from './sessions.js';
import type { PathName } from './ssh-paths.js';
import { median, round } from './stats.js';
import type { TransferResult } from './transfer.js';

/**
 * bench/results/latest.json and the Markdown table. Every figure is the median
 * over rounds; every ratio is the median of per-round ratios (both paths measured
 * back to back in the same round), so machine-wide noise cancels as far as it can.
 */
type Row<T> = Partial<Record<PathName, T>>;

export interface Measurements {
  download: Array<Row<TransferResult>>;
  upload: Array<Row<TransferResult>>;
  text: Array<Row<TransferResult>>;
  setup: Array<Row<number>>;
  latency: Array<Row<LatencyResult>>;
  recorder: RecorderMicroResult[];
  sessions?: SessionsResult;
  replay?: ReplayResult;
  /** The command-extraction corpus (bench/corpus/). */
  corpus?: CorpusBenchResult;
  /** The 1-minute load at the start and end of each round, per section, in round order. */
  loads: Record<'download' | 'upload' | 'text' | 'setup' | 'latency', RoundLoad[]>;
}

export interface RunInfo {
  date: string;
  durationS: number;
  loadStart: LoadInfo;
  loadEnd: LoadInfo;
  machine: MachineInfo;
  versions: Versions;
  cipher: string;
}


function perPath<T>(rows: Array<Row<T>>, pick: (v: T) => number): Partial<Record<PathName, number | null>> {
  const out: Partial<Record<PathName, number | null>> = {};
  for (const name of ['direct', 'proxyjump', 'airlock', 'airlock_norec'] as const) {
    const values = rows.map((r) => r[name]).filter((v): v is T => v !== undefined).map(pick);
    if (values.length) out[name] = round(median(values), 3);
  }
  return out;
}

function ratio<T>(rows: Array<Row<T>>, a: PathName, b: PathName, pick: (v: T) => number): number | null {
  const values = rows.filter((r) => r[a] !== undefined && r[b] !== undefined).map((r) => pick(r[a] as T) / pick(r[b] as T));
  return values.length ? round(median(values), 3) : null;
}

function added(rows: Array<Row<LatencyResult>>, path: PathName, pick: (v: LatencyResult) => number): number | null {
  const values = rows.filter((r) => r[path] && r.direct).map((r) => pick(r[path] as LatencyResult) - pick(r.direct as LatencyResult));
  return values.length ? round(median(values), 3) : null;
}

export interface TargetCheck {
  figure: string;
  target: string;
  value: number | null;
  met: boolean | null;
  note?: string;
}

/**
 * The rounds taken on a quiet machine (1-minute load at most QUIET_LOAD when the
 * round began), if there are any; otherwise all of them, marked as under load.
 * Figures taken under load flatter airlock (the bastion and the client suffer
 * more from a busy machine than airlock's threads), so they are never mixed in.
 */
function quietRounds<T>(rows: Array<Row<T>>, loads: RoundLoad[]): { rows: Array<Row<T>>; underLoad: boolean; quiet: number; total: number } {
  const quiet = rows.filter((_, i) => loads[i] === undefined || !loads[i]?.under_load);
  return quiet.length ? { rows: quiet, underLoad: false, quiet: quiet.length, total: rows.length } : { rows, underLoad: rows.length > 0, quiet: 0, total: rows.length };
}

export function buildResults(o: BenchOptions, all: Measurements, info: RunInfo) {
  const mbps = (t: TransferResult) => t.mbPerS;
  const sections = {
    download: quietRounds(all.download, all.loads.download),
    upload: quietRounds(all.upload, all.loads.upload),
    text: quietRounds(all.text, all.loads.text),
    setup: quietRounds(all.setup, all.loads.setup),
    latency: quietRounds(all.latency, all.loads.latency),
  };
  const m = { ...all, download: sections.download.rows, upload: sections.upload.rows, text: sections.text.rows, setup: sections.setup.rows, latency: sections.latency.rows };
  const load = Object.fromEntries(
    Object.entries(sections).map(([name, x]) => [name, { rounds: x.total, quiet_rounds: x.quiet, under_load: x.underLoad, by_round: all.loads[name as keyof typeof all.loads] }]),
  );
  const ratios = {
    throughput_vs_proxyjump: ratio(m.download, 'airlock', 'proxyjump', mbps),
    throughput_vs_direct: ratio(m.download, 'airlock', 'direct', mbps),
    upload_vs_proxyjump: ratio(m.upload, 'airlock', 'proxyjump', mbps),
    upload_vs_direct: ratio(m.upload, 'airlock', 'direct', mbps),
    /** airlock's `ssh … true` time over ProxyJump's: lower is better. */
    setup_vs_proxyjump: ratio(m.setup, 'airlock', 'proxyjump', (v) => v),
    recording_overhead: ratio(m.download, 'airlock', 'airlock_norec', mbps),
    recording_overhead_text: ratio(m.text, 'airlock', 'airlock_norec', mbps),
    throughput_text_vs_proxyjump: ratio(m.text, 'airlock', 'proxyjump', mbps),
    proxyjump_vs_direct: ratio(m.download, 'proxyjump', 'direct', mbps),
  };
  const s = m.sessions;
  const figures = {
    throughput_mb_per_s: perPath(m.download, mbps),
    throughput_wall_mb_per_s: perPath(m.download, (t) => t.wallMbPerS),
    upload_mb_per_s: perPath(m.upload, mbps),
    text_throughput_mb_per_s: perPath(m.text, mbps),
    setup_ms: perPath(m.setup, (v) => v),
    latency_p50_ms: perPath(m.latency, (l) => l.p50),
    latency_p99_ms: perPath(m.latency, (l) => l.p99),
    latency_p50_added_ms: added(m.latency, 'airlock', (l) => l.p50),
    latency_p99_added_ms: added(m.latency, 'airlock', (l) => l.p99),
    proxyjump_latency_p99_added_ms: added(m.latency, 'proxyjump', (l) => l.p99),
    norec_latency_p99_added_ms: added(m.latency, 'airlock_norec', (l) => l.p99),
    rss_per_session_mib: s?.rss_per_session_mib === null || s === undefined ? null : round(s.rss_per_session_mib, 4),
    rss_slope_mib_per_session: s ? round(s.rss_slope_mib_per_session, 4) : null,
    max_sessions_ok: s ? s.max_sessions_ok : null,
    sessions: s ?? null,
    recorder_alone_mb_per_s: Object.fromEntries(m.recorder.map((r) => [r.payload, round(r.mb_per_s, 1)])),
    recorder_alone: m.recorder,
    analysis_mb_per_s: m.replay ? round(m.replay.analysis_mb_per_s, 1) : null,
    seek_ms: m.replay ? round(m.replay.seek_ms, 1) : null,
    first_frame_ms: m.replay ? round(m.replay.first_frame_ms, 1) : null,
    replay: m.replay ?? null,
    /** Stored size of a typical interactive hour over the same hour as asciicast (lower is better). */
    typical_hour_vs_asciicast: m.replay ? round(m.replay.typical_hour.stored_bytes / m.replay.typical_hour.asciicast_bytes, 3) : null,
    long_recording_vs_asciicast: m.replay ? round(m.replay.size.stored_bytes / m.replay.size.asciicast_bytes, 3) : null,
    corpus_precision: m.corpus ? round(m.corpus.precision, 3) : null,
    corpus_recall: m.corpus ? round(m.corpus.recall, 3) : null,
    corpus_wrongly_hidden_bytes: m.corpus ? m.corpus.wrongly_hidden_bytes : null,
    corpus_secrets_in_clear: m.corpus ? m.corpus.secrets_in_clear : null,
    corpus: m.corpus ? { ...m.corpus, report: undefined } : null,
  };
  const check = (figure: string, target: string, value: number | null, pass: (v: number) => boolean, note?: string): TargetCheck => ({
    figure,
    target,
    value,
    met: value === null ? null : pass(value),
    ...(note ? { note } : {}),
  });
  const triedAll = s ? s.levels.some((l) => l.sessions >= 1000) || s.max_sessions_ok >= 1000 : false;
  const targets: TargetCheck[] = [
    check('throughput_vs_proxyjump', '>= 1.0', ratios.throughput_vs_proxyjump, (v) => v >= 1.0),
    check('upload_vs_proxyjump', '>= 1.0', ratios.upload_vs_proxyjump, (v) => v >= 1.0),
    check('latency_p99_added_ms', '<= 0.5', figures.latency_p99_added_ms, (v) => v <= 0.5),
    check('setup_vs_proxyjump', '<= 1.5', ratios.setup_vs_proxyjump, (v) => v <= 1.5),
    {
      ...check('max_sessions_ok', '>= 1000, no failures', figures.max_sessions_ok, (v) => v >= 1000),
      ...(s && !triedAll && s.max_sessions_ok > 0 && s.levels.every((l) => l.ok) ? { met: null, note: `only ${s.max_sessions_ok} tried (${o.quick ? '--quick' : '--sessions'})` } : {}),
    },
    check('rss_per_session_mib', '<= 1.0', figures.rss_per_session_mib, (v) => v <= 1.0),
    check('recording_overhead', '>= 0.9', ratios.recording_overhead, (v) => v >= 0.9),
    check('throughput_text_vs_proxyjump', '>= 1.0', ratios.throughput_text_vs_proxyjump, (v) => v >= 1.0),
    check('recording_overhead_text', '>= 0.9', ratios.recording_overhead_text, (v) => v >= 0.9),
    check('typical_hour_vs_asciicast', '<= 1.0', figures.typical_hour_vs_asciicast, (v) => v <= 1.0),
    check('analysis_mb_per_s', '>= 30 per core', figures.analysis_mb_per_s, (v) => v >= 30),
    check('first_frame_ms', '<= 200', figures.first_frame_ms, (v) => v <= 200),
    check('seek_ms', '<= 200', figures.seek_ms, (v) => v <= 200),
    check('corpus_precision', '= 1.0', figures.corpus_precision, (v) => v === 1),
    check('corpus_recall', '= 1.0', figures.corpus_recall, (v) => v === 1),
    check('corpus_wrongly_hidden_bytes', '= 0', figures.corpus_wrongly_hidden_bytes, (v) => v === 0),
    check('corpus_secrets_in_clear', '= 0', figures.corpus_secrets_in_clear, (v) => v === 0),
  ];
  return {
    schema: 1,
    date: info.date,
    mode: o.quick ? 'quick' : 'full',
    duration_s: info.durationS,
    machine: { ...info.machine, load_start: info.loadStart, load_end: info.loadEnd },
    versions: info.versions,
    settings: {
      transfer_bytes: o.bytes,
      throughput_rounds: o.runs,
      latency_rounds: o.latencyRuns,
      round_trips_per_latency_run: o.roundTrips,
      setup_rounds: o.setupRuns,
      session_levels: o.sessionLevels,
      session_hold_ms: o.sessionHoldMs,
      recorder_bytes: o.recorderBytes,
      replay_output_bytes: o.replayBytes,
      replay_duration_s: o.replayDurationS,
      replay_runs: o.replayRuns,
      client_cipher: info.cipher,
      mb: '10^6 bytes',
    },
    /** Rounds begun above this 1-minute load are set aside when there are quiet ones (see quietRounds). */
    quiet_load: QUIET_LOAD,
    load,
    ratios,
    figures,
    targets,
    notes: {
      throughput:
        "download: ssh … 'head -c N /dev/zero', bytes counted on arrival, rate from first to last byte (throughput_wall_mb_per_s includes connection setup); upload: head -c N /dev/zero | ssh … 'printf R; exec cat > /dev/null', rate from the remote's first byte to exit",
      proxyjump: "ProxyCommand 'ssh -W [%h]:%p user@bastion' with the same explicit options: what -J runs, without it reading ~/.ssh",
      recording_overhead:
        'airlock serve (recording on) / the same build and config with Recordings.start replaced by a no-op recorder (bench/airlock-norec.ts), download MB/s, median of per-round ratios; the relay shows every chunk to the recorder in both',
      recording_overhead_text: 'the same with a coloured text log (ANSI colours, tabs, UTF-8: yes "$(printf …)" | head -c N) instead of NUL bytes',
      recorder_alone: 'recordings/Recorder fed 32 KiB chunks in the bench process (framing, hashing and writing on its recording thread), into real files, with back-pressure, closed with a final checkpoint: the ceiling the recorder puts on one session',
      load: 'the 1-minute load average at the start and end of every round; rounds begun above quiet_load are left out of figures and ratios when quiet rounds exist, and a section with none is marked under_load',
      sizes: 'replay.size: the long recording stored, as asciicast (the export: what airlock stored before), and gzipped; replay.typical_hour: the same for an hour with a few MB of output',
      latency: '1,000 single-byte round trips through ssh -tt … cat (echo from the remote pty), p50/p99 per run, median over runs; added = per-run difference from direct; the no-recorder host is timed too',
      sessions:
        'ssh2 clients in the bench process with the engineer certificate, each running cat on a pty and typing a line a second; RSS/CPU from /proc/<airlock pid>; rss_per_session_mib = (RSS at the largest OK step - RSS after a warm-up with no session open) / sessions',
      analysis_mb_per_s:
        'a recording spanning replay_duration_s with replay_output_bytes of shell output (prompt, echoed keys, log lines, colour), made by airlock\'s recorder with a moved clock, then Analyses.runOnce timed: headless terminal in one worker thread, commands, risks and keyframes stored; MB of output / seconds',
      first_frame_ms: 'GET /api/v1/recordings/:id/replay?at=0&window=10 on the same airlock (in the bench process), request to parsed JSON, median of replay_runs',
      seek_ms: 'the same with at = 90 % of the duration: nearest keyframe from the database, events from its byte offset read from the file',
      corpus:
        'scripted sessions (bash, zsh, dash, a shell on stdin) typed into the real ssh client in tmux through airlock serve; the commands analysis found compared in order and by exact text with what each shell says ran (its history, or for dash what it read from its terminal under strace); precision and recall over all commands; wrongly hidden: bytes of hidden frames on typed lines beyond what was typed without echo; in clear: secrets typed found as bytes in a stored recording or the analysis rows (bench/corpus/)',
    },
  };
}

export type Results = ReturnType<typeof buildResults>;

const fmt = (v: number | null | undefined, digits = 0): string => (v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits));

export function markdownTable(r: Results): string {
  const f = r.figures;
  const t = (name: string) => r.targets.find((x) => x.figure === name);
  const met = (name: string) => {
    const x = t(name);
    if (!x) return '';
    return x.met === null ? `— (${x.note ?? 'not measured'})` : x.met ? 'met' : 'missed';
  };
  const ul = (section: string) => (r.load[section]?.under_load ? ' **(under load)**' : '');
  const lines = [
    `airlock bench, ${r.mode}, ${r.date} — ${r.machine.cpus} × ${r.machine.cpu_model}, ${r.machine.mem_gib} GiB; load ${r.machine.load_start.loadavg.join(' ')} → ${r.machine.load_end.loadavg.join(' ')}`,
    `${r.versions.openssh}; node ${r.versions.node}; ssh2 ${r.versions.ssh2}; client cipher ${r.settings.client_cipher}; ${(r.settings.transfer_bytes / 2 ** 20).toFixed(0)} MiB transfers`,
    '',
    `Rounds begun at a 1-minute load above ${r.quiet_load} are left out where quiet ones exist: ` +
      Object.entries(r.load).map(([name, l]) => `${name} ${l.quiet_rounds}/${l.rounds} quiet`).join(', ') + '.',
    '',
    '| figure | direct | ProxyJump | airlock | airlock, no recorder | airlock ratio | target | |',
    '|---|---|---|---|---|---|---|---|',
    `| download MB/s | ${fmt(f.throughput_mb_per_s.direct)} | ${fmt(f.throughput_mb_per_s.proxyjump)} | ${fmt(f.throughput_mb_per_s.airlock)} | ${fmt(f.throughput_mb_per_s.airlock_norec)} | ${fmt(r.ratios.throughput_vs_proxyjump, 2)} × PJ, ${fmt(r.ratios.throughput_vs_direct, 2)} × direct | ≥ 1.0 × PJ | ${met('throughput_vs_proxyjump')}${ul('download')} |`,
    `| upload MB/s | ${fmt(f.upload_mb_per_s.direct)} | ${fmt(f.upload_mb_per_s.proxyjump)} | ${fmt(f.upload_mb_per_s.airlock)} | ${fmt(f.upload_mb_per_s.airlock_norec)} | ${fmt(r.ratios.upload_vs_proxyjump, 2)} × PJ | ≥ 1.0 × PJ | ${met('upload_vs_proxyjump')}${ul('upload')} |`,
    `| coloured text log MB/s | — | ${fmt(f.text_throughput_mb_per_s.proxyjump)} | ${fmt(f.text_throughput_mb_per_s.airlock)} | ${fmt(f.text_throughput_mb_per_s.airlock_norec)} | ${fmt(r.ratios.throughput_text_vs_proxyjump, 2)} × PJ | ≥ 1.0 × PJ | ${met('throughput_text_vs_proxyjump')}${ul('text')} |`,
    `| recording overhead (on / off) | | | | | ${fmt(r.ratios.recording_overhead, 2)} (text ${fmt(r.ratios.recording_overhead_text, 2)}) | ≥ 0.9 both | ${met('recording_overhead')} / ${met('recording_overhead_text')}${ul('download')} |`,
    `| keystroke p50 ms | ${fmt(f.latency_p50_ms.direct, 3)} | ${fmt(f.latency_p50_ms.proxyjump, 3)} | ${fmt(f.latency_p50_ms.airlock, 3)} | ${fmt(f.latency_p50_ms.airlock_norec, 3)} | +${fmt(f.latency_p50_added_ms, 3)} | | |`,
    `| keystroke p99 ms | ${fmt(f.latency_p99_ms.direct, 3)} | ${fmt(f.latency_p99_ms.proxyjump, 3)} | ${fmt(f.latency_p99_ms.airlock, 3)} | ${fmt(f.latency_p99_ms.airlock_norec, 3)} | +${fmt(f.latency_p99_added_ms, 3)} (no recorder +${fmt(f.norec_latency_p99_added_ms, 3)}) | ≤ +0.5 | ${met('latency_p99_added_ms')}${ul('latency')} |`,
    `| setup \`ssh … true\` ms | ${fmt(f.setup_ms.direct)} | ${fmt(f.setup_ms.proxyjump)} | ${fmt(f.setup_ms.airlock)} | | ${fmt(r.ratios.setup_vs_proxyjump, 2)} × PJ | ≤ 1.5 × PJ | ${met('setup_vs_proxyjump')} |`,
    `| concurrent sessions OK | | | ${fmt(f.max_sessions_ok)} | | ${f.sessions?.stopped ?? ''} | 1,000 | ${met('max_sessions_ok')} |`,
    `| RSS per recorded session MiB | | | ${fmt(f.rss_per_session_mib, 3)} | | baseline ${fmt(f.sessions?.baseline_rss_mib)} MiB; marginal ${fmt((f.rss_slope_mib_per_session ?? Number.NaN) * 1024)} KiB/session | ≤ 1 | ${met('rss_per_session_mib')} |`,
    `| recorder alone MB/s (NULs / text) | | | ${fmt(f.recorder_alone_mb_per_s['zeros'])} / ${fmt(f.recorder_alone_mb_per_s['text'])} | | bench process + its recording thread | | |`,
    `| analysis MB/s | | | ${fmt(f.analysis_mb_per_s, 1)} | | one worker thread, ${fmt(f.replay?.output_mb)} MB of output over ${fmt(f.replay?.duration_s)} s | ≥ 30 / core | ${met('analysis_mb_per_s')} |`,
    `| size of a typical hour, stored / as asciicast MB | | | ${fmt((f.replay?.typical_hour.stored_bytes ?? Number.NaN) / 1e6, 2)} / ${fmt((f.replay?.typical_hour.asciicast_bytes ?? Number.NaN) / 1e6, 2)} | | ${fmt(f.typical_hour_vs_asciicast, 2)} × asciicast; gzip ${fmt((f.replay?.typical_hour.gzip_bytes ?? Number.NaN) / 1e6, 2)} MB; long recording ${fmt(f.long_recording_vs_asciicast, 2)} × | ≤ 1.0 | ${met('typical_hour_vs_asciicast')} |`,
    `| first frame / seek to 90 % ms | | | ${fmt(f.first_frame_ms, 1)} / ${fmt(f.seek_ms, 1)} | | through the HTTP API | ≤ 200 each | ${met('first_frame_ms')} / ${met('seek_ms')} |`,
    `| command corpus precision / recall | | | ${fmt(f.corpus_precision, 3)} / ${fmt(f.corpus_recall, 3)} | | ${f.corpus ? `${f.corpus.exact_sessions}/${f.corpus.sessions - f.corpus.skipped.length} sessions exact, seed ${f.corpus.seed}` : ''} | 1.0 each | ${met('corpus_precision')} / ${met('corpus_recall')} |`,
    `| command corpus: echoed bytes hidden / secrets in clear | | | ${fmt(f.corpus_wrongly_hidden_bytes)} / ${fmt(f.corpus_secrets_in_clear)} | | | 0 each | ${met('corpus_wrongly_hidden_bytes')} / ${met('corpus_secrets_in_clear')} |`,
  ];
  if (f.sessions) {
    lines.push(
      '',
      '| sessions | ok | late echoes (hold / opening) | airlock RSS MiB | per session KiB | airlock CPU % of a core | bench clients CPU % | target sshd CPU % | machine busy % | echo p50 / p99 ms |',
      '|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const l of f.sessions.levels) {
      lines.push(
        `| ${l.sessions} | ${l.ok ? 'yes' : 'no'} | ${l.echo_failures} / ${l.ramp_echo_failures} | ${l.rss_mib.toFixed(0)} | ${(l.rss_per_session_mib * 1024).toFixed(0)} | ${l.cpu_percent_of_one_core.toFixed(0)} | ` +
          `${l.bench_cpu_percent_of_one_core.toFixed(0)} | ${l.target_cpu_percent_of_one_core.toFixed(0)} | ${l.machine_busy_percent.toFixed(0)} | ${fmt(l.echo_p50_ms, 1)} / ${fmt(l.echo_p99_ms, 1)} |`,
      );
    }
  }
  return lines.join('\n');
}
