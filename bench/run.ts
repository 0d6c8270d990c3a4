import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configureAccess, copyDataDir, initAirlock, startAirlock, waitIdle } from './airlock.js';
import type { AirlockProcess } from './airlock.js';
import { certIdentity } from './cert-client.js';
import { corpusBench } from './corpus/bench.js';
import { keystrokeLatency } from './latency.js';
import type { LatencyResult } from './latency.js';
import { BenchUsageError, parseOptions } from './options.js';
import type { BenchOptions } from './options.js';
import { load1, loadInfo, machineInfo, QUIET_LOAD, roundLoad, versions } from './proc.js';
import { recorderMicro, TEXT_LOG_LINE } from './recorder-micro.js';
import { replayBench } from './replay.js';
import type { RecorderMicroResult } from './recorder-micro.js';
import { buildResults, markdownTable } from './report.js';
import type { Measurements } from './report.js';
import { concurrentSessions } from './sessions.js';
import { buildPaths, CIPHER, sshEnv } from './ssh-paths.js';
import type { PathName, SshPath } from './ssh-paths.js';
import { keygen, startSshd } from './sshd.js';
import type { Sshd } from './sshd.js';
import { download, setupTime, upload, verifyDownload } from './transfer.js';
import type { TransferResult } from './transfer.js';

/**
 * `npm run bench`: airlock against the physical limit (direct ssh to the target)
 * and against what users would pick instead (an OpenSSH bastion with ProxyJump),
 * everything on loopback, started here and stopped at the end. See bench/README.md.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

/**
 * Before a timed round: waits (up to 3 minutes) for the 1-minute load to come
 * down to QUIET_LOAD, so that what the bench itself just did (1,000 sessions, the
 * last round) does not make the next round a figure taken under load. Returns
 * the load the round starts at.
 */
async function quiet(): Promise<number> {
  const end = Date.now() + 180_000;
  let waited = false;
  while (load1() > QUIET_LOAD && Date.now() < end) {
    if (!waited) log(`waiting for the load (${load1()}) to come down to ${QUIET_LOAD}`);
    waited = true;
    await new Promise((r) => setTimeout(r, 2000));
  }
  if (waited) log(`load ${load1()}${load1() > QUIET_LOAD ? ': still above, going on (marked under load)' : ''}`);
  return load1();
}

/** Every path once per round; the order rotates so no path always goes first. */
function rotated<T>(items: readonly T[], round: number): T[] {
  const k = round % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/** Recordings of finished bulk transfers: 200 MiB of NULs is 1.3 GB of asciicast each. */
function removeRecordings(a: AirlockProcess): void {
  const dir = join(a.dataDir, 'recordings');
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory() && /^\d{4}$/.test(entry.name)) rmSync(join(dir, entry.name), { recursive: true, force: true });
  }
}

async function main(o: BenchOptions): Promise<void> {
  const started = Date.now();
  const loadStart = loadInfo();
  log(`mode ${o.quick ? 'quick' : 'full'}; load ${loadStart.loadavg.join(' ')}`);
  const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-'));
  chmodSync(dir, 0o755); // the sshds read authorized_keys below it as the session user
  const cleanup: Array<() => Promise<void>> = [];
  const m: Measurements = { download: [], upload: [], text: [], setup: [], latency: [], recorder: [], loads: { download: [], upload: [], text: [], setup: [], latency: [] } };
  const paths = { root: ROOT, cli: join(ROOT, 'dist/cli/main.js'), norec: join(ROOT, 'dist/bench/airlock-norec.js') };
  const writeResults = () => {
    const results = buildResults(o, m, {
      date: new Date().toISOString(),
      durationS: (Date.now() - started) / 1000,
      loadStart,
      loadEnd: loadInfo(),
      machine: machineInfo(),
      versions: versions(ROOT),
      cipher: CIPHER,
    });
    mkdirSync(dirname(resolve(ROOT, o.out)), { recursive: true });
    writeFileSync(resolve(ROOT, o.out), JSON.stringify(results, null, 2) + '\n');
    process.stdout.write(markdownTable(results) + '\n');
    if (m.corpus) process.stdout.write('\n' + m.corpus.report + '\n');
    log(`results written to ${o.out} (${results.duration_s.toFixed(0)} s)`);
  };
  // The command corpus runs its own airlock serve and target (bench/corpus/bench.ts): alone it needs nothing below.
  const corpus = async () => {
    m.corpus = await corpusBench(paths, join(dir, 'corpus'), { seed: o.corpusSeed, concurrency: 6, log });
  };
  try {
    if ([...o.sections].every((s) => s === 'corpus')) {
      await corpus();
      writeResults();
      return;
    }
    // ------------------------------------------------------------ servers
    const userKey = keygen(join(dir, 'user_key'), 'bench-user');
    const credKey = keygen(join(dir, 'airlock_target_key'), 'airlock-to-target');
    const engKey = keygen(join(dir, 'engineer_key'), 'bench-engineer');
    const target: Sshd = await startSshd(join(dir, 'target'), 'target', [userKey.publicKey, credKey.publicKey]);
    cleanup.push(() => target.stop());
    const bastion: Sshd = await startSshd(join(dir, 'bastion'), 'bastion', [userKey.publicKey]);
    cleanup.push(() => bastion.stop());
    log(`sshd target :${target.port}, bastion :${bastion.port} (sessions as ${target.login})`);

    const onDir = join(dir, 'airlock-on');
    const offDir = join(dir, 'airlock-norec');
    const t0 = performance.now();
    const lap = (what: string) => log(`${what} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    // One `airlock init` (initdb is the slow part), copied before either server opens it:
    // airlock serve and the no-recorder host start from the same data, then part ways.
    const admin = await initAirlock(paths, onDir);
    copyDataDir(onDir, offDir);
    lap('airlock init');
    const profileDir = join(ROOT, 'bench/results/profiles');
    const nodeArgs = (name: string) =>
      o.profile ? (mkdirSync(profileDir, { recursive: true }), ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`]) : [];
    const [on, off] = await Promise.all([startAirlock(paths, 'serve', onDir, nodeArgs('airlock-serve')), startAirlock(paths, 'norec', offDir, nodeArgs('airlock-norec'))]);
    cleanup.push(() => off.stop(), () => on.stop());
    lap(`airlock serve pid ${on.pid} ssh :${on.sshPort}; no-recorder host pid ${off.pid} ssh :${off.sshPort}`);
    const targetSpec = { name: 'bench', port: target.port, login: target.login, hostKey: target.hostKey, key: credKey.privateKey };
    const [access, accessOff] = await Promise.all([
      configureAccess(on.web, admin, targetSpec, engKey.publicKey),
      configureAccess(off.web, admin, targetSpec, engKey.publicKey),
    ]);
    lap('engineer, target, grant and certificate created through the API');

    const certFile = join(dir, 'engineer_cert.pub');
    const certFileOff = join(dir, 'engineer_norec_cert.pub');
    writeFileSync(certFile, access.certificate + '\n');
    writeFileSync(certFileOff, accessOff.certificate + '\n');
    const p = buildPaths({
      dir,
      target: { port: target.port, login: target.login, hostKey: target.hostKey },
      bastion: { port: bastion.port, login: bastion.login, hostKey: bastion.hostKey },
      airlock: { port: on.sshPort, hostKey: on.hostKey, cert: certFile },
      airlockNorec: { port: off.sshPort, hostKey: off.hostKey, cert: certFileOff },
      userKey: userKey.path,
      engineerKey: engKey.path,
      engineer: access.engineer.name,
      targetName: 'bench',
    });
    const env = sshEnv(dir);
    /**
     * After a run through airlock: wait until its session has ended, which is
     * after the recording was sealed (final checkpoint, fdatasync of up to
     * 1.3 GB), so that disk flush does not land on the next path's run; then
     * delete the recording so the disk does not fill.
     */
    const settle = async (path: SshPath) => {
      if (path.name === 'airlock') {
        if (!(await waitIdle(on, access.token, 300_000, { analysed: true }))) throw new Error('airlock did not seal and analyse a recording within 300 s');
        removeRecordings(on);
      } else if (path.name === 'airlock_norec') {
        if (!(await waitIdle(off, accessOff.token, 60_000))) throw new Error('the no-recorder host still had a session after 60 s');
      }
    };
    const three: SshPath[] = [p.direct, p.proxyjump, p.airlock];
    const four: SshPath[] = [...three, p.airlock_norec];

    // Every path must deliver exactly what was sent (200 MiB; 8 MiB with --quick) before
    // anything is timed. This is not timed, so the paths are checked side by side.
    await Promise.all(
      four.map(async (path) => {
        await verifyDownload(path, env, o.checkBytes);
        await upload(path, env, o.checkBytes, { check: true });
        await settle(path);
      }),
    );
    log(`all four paths deliver exactly ${o.checkBytes} bytes both ways`);

    // ------------------------------------------------------------ sessions (fresh airlock process first)
    if (o.sections.has('sessions')) {
      const engPrivate = engKey.privateKey;
      m.sessions = await concurrentSessions({
        levels: o.sessionLevels,
        holdMs: o.sessionHoldMs,
        concurrency: 16,
        port: on.sshPort,
        hostKey: on.hostKey,
        username: `${access.engineer.name}@bench`,
        identity: certIdentity(engPrivate, access.certificate),
        airlockPid: on.pid,
        targetPid: target.pid,
        minAvailableBytes: 3 * 2 ** 30,
        log,
      });
      if (!(await waitIdle(on, access.token, 120_000))) log('warning: airlock still had live sessions 120 s after the sessions test');
      removeRecordings(on);
    }

    // ------------------------------------------------------------ connection setup
    if (o.sections.has('setup')) {
      for (let r = 0; r < o.setupRuns; r++) {
        const row: Partial<Record<PathName, number>> = {};
        const start = await quiet();
        for (const path of rotated(three, r)) {
          row[path.name] = await setupTime(path, env);
          await settle(path);
        }
        m.setup.push(row);
        m.loads.setup.push(roundLoad(start, load1()));
      }
      log(`setup: ${o.setupRuns} rounds`);
    }

    // ------------------------------------------------------------ keystroke latency
    if (o.sections.has('latency')) {
      for (let r = 0; r < o.latencyRuns; r++) {
        const row: Partial<Record<PathName, LatencyResult>> = {};
        const start = await quiet();
        // The no-recorder host too: what the recorder adds to a keystroke.
        for (const path of rotated(four, r)) {
          row[path.name] = await keystrokeLatency(path, env, o.roundTrips);
          await settle(path);
        }
        m.latency.push(row);
        const l = roundLoad(start, load1());
        m.loads.latency.push(l);
        log(`latency round ${r + 1}: ` + four.map((x) => `${x.name} p50 ${row[x.name]?.p50.toFixed(3)} p99 ${row[x.name]?.p99.toFixed(3)} ms`).join(', ') + `; load ${l.start} → ${l.end}${l.under_load ? ' (UNDER LOAD)' : ''}`);
      }
    }

    // ------------------------------------------------------------ bulk transfers
    const bulk = async (name: 'download' | 'upload' | 'text', runs: number, set: SshPath[], run: (path: SshPath) => Promise<TransferResult>) => {
      for (let r = 0; r < runs; r++) {
        const row: Partial<Record<PathName, TransferResult>> = {};
        const start = await quiet();
        for (const path of rotated(set, r)) {
          row[path.name] = await run(path);
          await settle(path);
        }
        m[name].push(row);
        const l = roundLoad(start, load1());
        m.loads[name].push(l);
        log(`${name} round ${r + 1}: ` + set.map((x) => `${x.name} ${row[x.name]?.mbPerS.toFixed(0)}`).join(', ') + ` MB/s; load ${l.start} → ${l.end}${l.under_load ? ' (UNDER LOAD)' : ''}`);
      }
    };
    if (o.sections.has('download')) await bulk('download', o.runs, four, (path) => download(path, env, o.bytes));
    if (o.sections.has('upload')) await bulk('upload', o.runs, four, (path) => upload(path, env, o.bytes));
    if (o.sections.has('text')) {
      // A coloured text log instead of NULs: what a terminal mostly carries (ANSI colours, tabs, UTF-8).
      const remote = `yes "$(printf '${TEXT_LOG_LINE}')" | head -c ${o.bytes}`;
      await bulk('text', Math.max(2, o.runs - 1), [p.proxyjump, p.airlock, p.airlock_norec], (path) => download(path, env, o.bytes, remote));
    }

    // ------------------------------------------------------------ the recorder alone
    if (o.sections.has('recorder')) {
      const microDir = join(dir, 'micro');
      for (const kind of ['zeros', 'text'] as const) {
        const r: RecorderMicroResult = await recorderMicro(microDir, kind, o.recorderBytes);
        m.recorder.push(r);
        rmSync(microDir, { recursive: true, force: true });
        log(`recorder alone, ${kind}: ${r.mb_per_s.toFixed(0)} MB/s of output (${r.recording_mb.toFixed(0)} MB written for ${r.input_mb.toFixed(0)} MB)`);
      }
    }

    // ------------------------------------------------------------ analysis and replay
    if (o.sections.has('replay')) {
      m.replay = await replayBench(paths, join(dir, 'airlock-replay'), { bytes: o.replayBytes, durationS: o.replayDurationS, runs: o.replayRuns, log });
    }

    // ------------------------------------------------------------ command-extraction corpus (last: it loads the machine)
    if (o.sections.has('corpus')) await corpus();

    writeResults();
  } finally {
    for (const stop of cleanup.reverse()) await stop().catch((err: unknown) => log(`cleanup: ${(err as Error).message}`));
    if (o.keep) log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

let options: BenchOptions;
try {
  options = parseOptions(process.argv.slice(2));
} catch (err) {
  const help = err instanceof BenchUsageError && err.help;
  (help ? process.stdout : process.stderr).write(`${(err as Error).message}\n`);
  process.exit(help ? 0 : err instanceof BenchUsageError ? 2 : 1);
}
main(options).catch((err: unknown) => {
  log(`failed: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
