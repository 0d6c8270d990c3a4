/**
 * Command-line options of `npm run bench [-- OPTIONS]`, checked at the door.
 * Two profiles: the full one (the sizes) and --quick (under 2 minutes).
 */
export const SECTIONS = ['sessions', 'setup', 'latency', 'download', 'upload', 'text', 'recorder', 'replay', 'corpus'] as const;
export type Section = (typeof SECTIONS)[number];

export interface BenchOptions {
  quick: boolean;
  /** Bytes per bulk transfer (head -c). */
  bytes: number;
  /** Bytes of the exact-count check each path passes before anything is timed. */
  checkBytes: number;
  /** Rounds of the throughput comparisons (every path once per round, order rotated). */
  runs: number;
  latencyRuns: number;
  roundTrips: number;
  setupRuns: number;
  sessionLevels: number[];
  sessionHoldMs: number;
  recorderBytes: number;
  /** The long recording analysed and replayed: bytes of output, seconds it spans, timed fetches. */
  replayBytes: number;
  replayDurationS: number;
  replayRuns: number;
  /** The command corpus's typing seed (bench/corpus/rng.ts): given to repeat a run, else random. */
  corpusSeed: number;
  /** Run airlock with node --cpu-prof; profiles go to bench/results/profiles/. */
  profile: boolean;
  keep: boolean;
  sections: Set<Section>;
  out: string;
}

export class BenchUsageError extends Error {
  readonly code = 'ERR_BENCH_USAGE';
  constructor(
    message: string,
    /** --help: the message is the usage, and asking for it is not an error. */
    readonly help = false,
  ) {
    super(message);
  }
}

const MIB = 2 ** 20;

export function parseOptions(argv: string[]): BenchOptions {
  const known = ['quick', 'profile', 'keep', 'help', 'size-mib', 'runs', 'sessions', 'only', 'out', 'seed'];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith('--')) throw new BenchUsageError(`unexpected argument ${a}`);
    const [k, v] = a.slice(2).split('=', 2) as [string, string | undefined];
    if (!known.includes(k)) throw new BenchUsageError(`unknown option --${k} (known: ${known.map((x) => '--' + x).join(' ')})`);
    if (v !== undefined) flags.set(k, v);
    else if (['quick', 'profile', 'keep', 'help'].includes(k)) flags.set(k, true);
    else {
      const next = argv[++i];
      if (next === undefined) throw new BenchUsageError(`--${k} needs a value`);
      flags.set(k, next);
    }
  }
  if (flags.has('help')) throw new BenchUsageError(usage(), true);
  const quick = flags.get('quick') === true;
  const int = (name: string, dflt: number, min: number, max: number): number => {
    const raw = flags.get(name);
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new BenchUsageError(`--${name} must be an integer from ${min} to ${max}`);
    return n;
  };
  const maxSessions = int('sessions', quick ? 50 : 1000, 1, 5000);
  const steps = quick ? [maxSessions] : [50, 100, 250, 500, 750, 1000, 1500, 2000, 3000, 5000].filter((n) => n < maxSessions).concat(maxSessions);
  const only = flags.get('only');
  const sections = new Set<Section>(
    typeof only === 'string'
      ? only.split(',').map((s) => {
          if (!(SECTIONS as readonly string[]).includes(s)) throw new BenchUsageError(`--only: unknown section ${s} (known: ${SECTIONS.join(',')})`);
          return s as Section;
        })
      : SECTIONS,
  );
  const out = flags.get('out');
  return {
    quick,
    bytes: int('size-mib', quick ? 32 : 200, 1, 4096) * MIB,
    checkBytes: (quick ? 8 : 200) * MIB,
    runs: int('runs', quick ? 3 : 5, 1, 50),
    latencyRuns: quick ? 3 : 5,
    roundTrips: 1000,
    setupRuns: quick ? 5 : 11,
    sessionLevels: steps,
    sessionHoldMs: quick ? 4000 : 15_000,
    recorderBytes: (quick ? 32 : 200) * MIB,
    replayBytes: (quick ? 8 : 200) * MIB,
    replayDurationS: 3600,
    replayRuns: quick ? 3 : 7,
    corpusSeed: flags.has('seed') ? int('seed', 0, 0, 2 ** 31 - 1) : Math.floor(Math.random() * 2 ** 31),
    profile: flags.get('profile') === true,
    keep: flags.get('keep') === true,
    sections,
    out: typeof out === 'string' ? out : 'bench/results/latest.json',
  };
}

export function usage(): string {
  return [
    'usage: npm run bench [-- OPTIONS]',
    '  --quick           smaller transfers, fewer runs, 50 sessions (under 2 minutes)',
    '  --size-mib N      bytes per bulk transfer, in MiB (default 200, quick 32)',
    '  --runs N          rounds of each throughput comparison (default 5, quick 3)',
    '  --sessions N      most concurrent sessions to try (default 1000, quick 50)',
    `  --only LIST       sections to run: ${SECTIONS.join(',')}`,
    '  --seed N          the command corpus\'s typing seed (printed by every run), to type a run again',
    '  --profile         run airlock under node --cpu-prof (bench/results/profiles/)',
    '  --keep            keep the temporary directory',
    '  --out FILE        results file (default bench/results/latest.json)',
  ].join('\n');
}
