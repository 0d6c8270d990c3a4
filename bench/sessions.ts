import type { ClientChannel } from 'ssh2';
import type ssh2 from 'ssh2';
import { openPtySession } from './cert-client.js';
import type { CertIdentity } from './cert-client.js';
import { cpuPercent, machineBusyPercent, machineCpu, memAvailableBytes, sampleProcess, treeCpuMs } from './proc.js';
import { percentile, median } from './stats.js';

/**
 * Concurrent interactive sessions through airlock: ssh2 clients in the bench
 * process (a thousand OpenSSH processes would cost the two cores more than
 * airlock does), each logging in with the engineer's certificate, running `cat`
 * on a pty (recorded as a terminal session, typed input included) and typing one
 * line a second. Sessions are added in steps; at each step, after a hold, the
 * kernel's figures for the airlock process are read: VmRSS and CPU time.
 *
 * A step is OK when every session opened, none closed, and every line typed
 * during the hold came back within 5 s. Lines late while the step's sessions
 * were still being opened (16 logins at a time: a login storm, not the steady
 * state the figure is about) are counted and reported apart.
 * The ramp stops at the first failure, or before a step when the machine has
 * less than `minAvailableBytes` of memory left (the target's sshd spends more per
 * session than airlock does), and says which.
 */
export interface SessionsOptions {
  levels: number[];
  holdMs: number;
  concurrency: number;
  port: number;
  hostKey: string;
  username: string;
  identity: CertIdentity;
  airlockPid: number;
  /** The target sshd listener: its descendants' CPU is the target's share. */
  targetPid: number;
  minAvailableBytes: number;
  log(line: string): void;
}

export interface SessionLevel {
  sessions: number;
  ok: boolean;
  open_failures: number;
  /** Lines not echoed within 5 s during the hold (the steady state judged). */
  echo_failures: number;
  /** The same while this step's sessions were being opened (a login storm; reported, not judged). */
  ramp_echo_failures: number;
  lines_echoed: number;
  rss_mib: number;
  rss_per_session_mib: number;
  cpu_percent_of_one_core: number;
  /** The bench process itself (all the ssh2 clients), % of one core. */
  bench_cpu_percent_of_one_core: number;
  /** The target's sshd and its session processes (sshd, cat), % of one core. */
  target_cpu_percent_of_one_core: number;
  /** The whole machine (every process, ours and others'), % of all cores. */
  machine_busy_percent: number;
  echo_p50_ms: number | null;
  echo_p99_ms: number | null;
  open_p50_ms: number | null;
  mem_available_gib: number;
  first_error?: string;
}

export interface SessionsResult {
  baseline_rss_mib: number;
  levels: SessionLevel[];
  max_sessions_ok: number;
  /** (RSS at the largest OK step - baseline) / its sessions. */
  rss_per_session_mib: number | null;
  /** RSS growth per session between the smallest and the largest OK step (the marginal cost). */
  rss_slope_mib_per_session: number | null;
  stopped: string;
}

const ECHO_TIMEOUT_MS = 5000;
const MIB = 2 ** 20;

class TypingSession {
  #tail = '';
  #token: string | undefined;
  #sentAt = 0;
  #n = 0;
  #timer: NodeJS.Timeout | undefined;
  closed = false;
  /** Late echoes and errors since the counters were last reset. */
  failures = 0;
  firstError: string | undefined;
  readonly echoes: number[] = [];

  constructor(
    readonly index: number,
    readonly client: ssh2.Client,
    readonly channel: ClientChannel,
  ) {
    channel.on('data', (d: Buffer) => this.#onData(d));
    channel.on('close', () => {
      this.closed = true;
      if (this.#timer) this.#fail('channel closed');
    });
    client.on('error', (err: Error) => this.#fail(err.message));
  }

  start(): void {
    // Spread the typing over the second so the load is even.
    this.#timer = setTimeout(() => this.#type(), Math.floor(Math.random() * 1000));
  }

  #type(): void {
    if (this.#token !== undefined && performance.now() - this.#sentAt > ECHO_TIMEOUT_MS) this.#fail('no echo within 5 s');
    if (this.#token === undefined) {
      this.#token = `s${this.index}n${++this.#n}`;
      this.#sentAt = performance.now();
      this.channel.write(`${this.#token} hello\n`);
    }
    this.#timer = setTimeout(() => this.#type(), 1000);
  }

  #onData(d: Buffer): void {
    if (this.#token === undefined) return;
    this.#tail = (this.#tail + d.toString('latin1')).slice(-512);
    if (this.#tail.includes(this.#token)) {
      this.echoes.push(performance.now() - this.#sentAt);
      this.#token = undefined;
      this.#tail = '';
    }
  }

  #fail(why: string): void {
    this.failures++;
    this.firstError ??= why;
    this.#token = undefined;
  }

  /** Starts a new counting window (the hold), returning what the last one saw. */
  resetCounters(): number {
    const n = this.failures;
    this.failures = 0;
    this.firstError = undefined;
    return n;
  }

  /** Checks the outstanding line one last time, then stops typing. */
  stop(): void {
    if (this.#token !== undefined && performance.now() - this.#sentAt > ECHO_TIMEOUT_MS) this.#fail('no echo within 5 s');
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  end(): void {
    this.stop();
    this.client.end();
  }
}

export async function concurrentSessions(o: SessionsOptions): Promise<SessionsResult> {
  const live: TypingSession[] = [];
  const levels: SessionLevel[] = [];
  let stopped = 'reached the last step';
  const open = async (index: number): Promise<number> => {
    const t0 = performance.now();
    const s = await openPtySession(o.port, o.hostKey, o.username, o.identity, 'cat', 60_000);
    const t = new TypingSession(index, s.client, s.channel);
    live.push(t);
    t.start();
    return performance.now() - t0;
  };

  // Warm-up: a few sessions opened and closed so the baseline is a process that has served sessions.
  await Promise.all([1, 2, 3].map((i) => open(-i)));
  await new Promise((r) => setTimeout(r, 1500));
  for (const s of live.splice(0)) s.end();
  await new Promise((r) => setTimeout(r, 2000));
  const baseline = sampleProcess(o.airlockPid);
  o.log(`sessions: baseline RSS ${(baseline.rss / MIB).toFixed(1)} MiB`);

  let maxOk = 0;
  let next = 0;
  for (const level of o.levels) {
    const available = memAvailableBytes();
    if (available < o.minAvailableBytes) {
      stopped = `stopped before ${level}: only ${(available / 2 ** 30).toFixed(1)} GiB of memory available`;
      break;
    }
    const opens: number[] = [];
    let openFailures = 0;
    let firstError: string | undefined;
    const want = level - live.length;
    let cursor = 0;
    const worker = async () => {
      while (cursor < want && openFailures === 0) {
        cursor++;
        try {
          opens.push(await open(next++));
        } catch (err) {
          openFailures++;
          firstError ??= (err as Error).message;
        }
      }
    };
    await Promise.all(Array.from({ length: o.concurrency }, worker));
    // Let the last sessions settle, then hold: everyone types, we measure.
    await new Promise((r) => setTimeout(r, 2000));
    const echoStart = live.map((s) => s.echoes.length);
    const rampFailures = live.reduce((n, s) => n + s.resetCounters(), 0);
    const a = sampleProcess(o.airlockPid);
    const ma = machineCpu();
    const ba = { cpu: process.cpuUsage(), at: performance.now() };
    const ta = treeCpuMs(o.targetPid);
    await new Promise((r) => setTimeout(r, o.holdMs));
    const b = sampleProcess(o.airlockPid);
    const mb = machineCpu();
    const bc = process.cpuUsage(ba.cpu);
    const elapsed = performance.now() - ba.at;
    const benchCpu = ((bc.user + bc.system) / 1000 / elapsed) * 100;
    const targetCpu = ((treeCpuMs(o.targetPid) - ta) / elapsed) * 100;
    const echoes = live.flatMap((s, i) => s.echoes.slice(echoStart[i] ?? 0));
    for (const s of live) s.stop();
    const echoFailures = live.reduce((n, s) => n + s.failures, 0);
    const closed = live.filter((s) => s.closed).length;
    firstError ??= live.find((s) => s.firstError)?.firstError ?? (closed ? `${closed} sessions closed` : undefined);
    const ok = openFailures === 0 && echoFailures === 0 && closed === 0 && live.length === level;
    const row: SessionLevel = {
      sessions: live.length,
      ok,
      open_failures: openFailures,
      echo_failures: echoFailures,
      ramp_echo_failures: rampFailures,
      lines_echoed: echoes.length,
      rss_mib: b.rss / MIB,
      rss_per_session_mib: (b.rss - baseline.rss) / MIB / Math.max(1, live.length),
      cpu_percent_of_one_core: cpuPercent(a, b),
      bench_cpu_percent_of_one_core: benchCpu,
      target_cpu_percent_of_one_core: targetCpu,
      machine_busy_percent: machineBusyPercent(ma, mb),
      echo_p50_ms: echoes.length ? percentile(echoes, 50) : null,
      echo_p99_ms: echoes.length ? percentile(echoes, 99) : null,
      open_p50_ms: opens.length ? median(opens) : null,
      mem_available_gib: memAvailableBytes() / 2 ** 30,
      ...(firstError ? { first_error: firstError } : {}),
    };
    levels.push(row);
    o.log(
      `sessions: ${row.sessions} open, ${ok ? 'ok' : 'FAILED'}; RSS ${row.rss_mib.toFixed(1)} MiB (+${(row.rss_per_session_mib * 1024).toFixed(0)} KiB/session), ` +
        `airlock CPU ${row.cpu_percent_of_one_core.toFixed(0)}% of a core (bench clients ${benchCpu.toFixed(0)}%, target sshd ${targetCpu.toFixed(0)}%, machine ${row.machine_busy_percent.toFixed(0)}% busy), ` +
        `${echoFailures} late echoes (${rampFailures} while opening), echo p99 ${row.echo_p99_ms?.toFixed(1)} ms, open p50 ${row.open_p50_ms?.toFixed(0)} ms` +
        (firstError ? `; first error: ${firstError}` : ''),
    );
    if (!ok) {
      stopped = `failed at ${level}: ${firstError ?? 'unknown'}`;
      break;
    }
    maxOk = level;
    for (const s of live) s.start();
  }
  for (const s of live.splice(0)) s.end();
  const okLevels = levels.filter((l) => l.ok);
  const best = okLevels.at(-1);
  const first = okLevels[0];
  const slope = best && first && best.sessions > first.sessions ? (best.rss_mib - first.rss_mib) / (best.sessions - first.sessions) : null;
  return {
    baseline_rss_mib: baseline.rss / MIB,
    levels,
    max_sessions_ok: maxOk,
    rss_per_session_mib: best ? best.rss_per_session_mib : null,
    rss_slope_mib_per_session: slope,
    stopped,
  };
}
