import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';

/**
 * What the kernel says about a process and the machine: resident memory and CPU
 * time from /proc (Linux only), load, versions. Nothing here is estimated.
 */
const TICKS_PER_SECOND = 100; // USER_HZ; getconf CLK_TCK is 100 on every Linux we run

export interface ProcSample {
  /** VmRSS in bytes. */
  rss: number;
  /** utime + stime in milliseconds. */
  cpuMs: number;
  /** When the sample was taken (performance.now()). */
  at: number;
}

export function sampleProcess(pid: number): ProcSample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN);
  // Fields after the command name (which may hold spaces) start at field 3 ("state").
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return { rss: rssKb * 1024, cpuMs: ((utime + stime) * 1000) / TICKS_PER_SECOND, at: performance.now() };
}

/** CPU used between two samples, as a percentage of one core. */
export function cpuPercent(a: ProcSample, b: ProcSample): number {
  return ((b.cpuMs - a.cpuMs) / (b.at - a.at)) * 100;
}

export function memAvailableBytes(): number {
  const info = readFileSync('/proc/meminfo', 'utf8');
  return Number(/^MemAvailable:\s+(\d+) kB/m.exec(info)?.[1] ?? 0) * 1024;
}

export interface MachineInfo {
  cpus: number;
  cpu_model: string;
  mem_gib: number;
  kernel: string;
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return { cpus: list.length, cpu_model: list[0]?.model ?? 'unknown', mem_gib: Math.round((totalmem() / 2 ** 30) * 10) / 10, kernel: release() };
}

export interface LoadInfo {
  loadavg: number[];
  uptime: string;
  at: string;
}

/** The 1-minute load average, two decimals. */
export function load1(): number {
  return Math.round((loadavg()[0] ?? 0) * 100) / 100;
}

/** Above this 1-minute load at the start of a round, its figures are marked as taken under load (they flatter airlock). */
export const QUIET_LOAD = 1.5;

export interface RoundLoad {
  start: number;
  end: number;
  under_load: boolean;
}

export function roundLoad(start: number, end: number): RoundLoad {
  return { start, end, under_load: start > QUIET_LOAD };
}

export function loadInfo(): LoadInfo {
  let uptime = '';
  try {
    uptime = execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    uptime = '(uptime unavailable)';
  }
  return { loadavg: loadavg().map((l) => Math.round(l * 100) / 100), uptime, at: new Date().toISOString() };
}

export interface Versions {
  node: string;
  openssh: string;
  ssh2: string;
  airlock: string;
}

export function versions(root: string): Versions {
  let openssh = 'unknown';
  try {
    // `ssh -V` prints to stderr and exits 0.
    openssh = execFileSync('ssh', ['-V'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (err) {
    openssh = String((err as { stderr?: string }).stderr ?? 'unknown').trim();
  }
  if (openssh === '') openssh = execFileSync('sh', ['-c', 'ssh -V 2>&1'], { encoding: 'utf8' }).trim();
  const pkg = (path: string) => (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
  return { node: process.version, openssh, ssh2: pkg(`${root}/node_modules/ssh2/package.json`), airlock: pkg(`${root}/package.json`) };
}

/** Whole-machine CPU counters from /proc/stat (all cores): busy and total jiffies. */
export interface MachineCpu {
  busy: number;
  total: number;
}

export function machineCpu(): MachineCpu {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

/** Share of all cores busy between two readings, in percent. */
export function machineBusyPercent(a: MachineCpu, b: MachineCpu): number {
  return ((b.busy - a.busy) / Math.max(1, b.total - a.total)) * 100;
}

/**
 * CPU time (ms) of a process and all its descendants alive now: for the target
 * sshd, whose per-session children do the target's share of the work.
 */
export function treeCpuMs(root: number): number {
  const parent = new Map<number, number>();
  const cpu = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parent.set(Number(name), Number(rest[1]));
      cpu.set(Number(name), ((Number(rest[11]) + Number(rest[12])) * 1000) / TICKS_PER_SECOND);
    } catch {
      // gone meanwhile
    }
  }
  let total = 0;
  for (const [pid, ms] of cpu) {
    for (let p: number | undefined = pid, hops = 0; p !== undefined && p > 1 && hops < 64; p = parent.get(p), hops++) {
      if (p === root) {
        total += ms;
        break;
      }
    }
  }
  return total;
}
