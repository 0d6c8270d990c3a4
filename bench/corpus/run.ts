import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CorpusReader, RecordingInfo } from './api.js';
import { hiddenByLine, scenarioOf } from './frames.js';
import { rngFor } from './rng.js';
import type { Scenario, ScenarioContext } from './scenario.js';
import { PROMPT } from './scenario.js';
import { scoreSession, totals } from './score.js';
import type { CorpusTotals, SessionScore } from './score.js';
import { checkSealed } from './seal-check.js';
import type { RevealKeys, SealCheck } from './seal-check.js';
import type { CorpusTarget } from './target.js';
import { TmuxTerminal } from './terminal.js';
import { readTruth } from './truth-files.js';
import type { SessionTruth } from './truth-files.js';
import { Typist } from './typist.js';

/**
 * Runs the corpus: every scenario as a real session through airlock (OpenSSH
 * `ssh -tt` in tmux, or `ssh -T` / `ssh … 'bash -s'` fed a script), several at
 * once; then reads what the shells say ran (truth-files.ts), waits for airlock
 * to analyse every recording, reads the analysis and the stored files back
 * (api.ts) and scores each session (score.ts).
 *
 * Logins go one at a time, each until its first prompt: a login storm is not
 * what the corpus measures, and a client whose login takes a one-time code
 * must use it before the next one is made.
 */
export interface CorpusClient {
  /** ssh options before the destination, and the environment, for one login. */
  login(): { args: string[]; env: NodeJS.ProcessEnv };
  /** What is typed after `ssh`: the engineer and the corpus target, user@target@host. */
  destination: string;
}

export interface CorpusOptions {
  client: CorpusClient;
  reader: CorpusReader;
  target: CorpusTarget;
  scenarios: readonly Scenario[];
  seed: number;
  /** Sessions at a time. */
  concurrency: number;
  /** Scratch space (tmux sockets, scripts). */
  workDir: string;
  /** Keys of `recordings.revealRecipients`, when the config took them; else why not. */
  reveal: RevealKeys | undefined;
  revealMissing: string;
  log(line: string): void;
  analysisTimeoutMs?: number;
  /** Keep each session's stored recording, analysis rows and ground truth here (to look into a failure). */
  keepDir?: string | undefined;
}

export interface SessionRun {
  scenario: Scenario;
  skipped?: string;
  /** What went wrong driving it or reading it back: the session counts as failed. */
  error?: string;
  truth?: SessionTruth;
  recordingId?: string;
  score?: SessionScore;
  seal?: SealCheck;
  /** Enters the driver typed, and the recording holds. */
  enters?: { typed: number; recorded: number };
  unknownFrameTypes?: number[];
  transcript?: string[];
  ms: number;
}

export interface CorpusResult {
  seed: number;
  sessions: SessionRun[];
  totals: CorpusTotals;
  durationS: number;
}

class Mutex {
  #tail: Promise<unknown> = Promise.resolve();
  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(work);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}

function context(s: Scenario, seed: number, target: CorpusTarget): ScenarioContext {
  const rng = rngFor(seed, `${s.id}/secrets`);
  return {
    password: target.password ?? '',
    login: target.login,
    rng,
    token: (prefix) => `${prefix}-${Math.floor(rng.next() * 2 ** 32).toString(16).padStart(8, '0')}`,
  };
}

function runSsh(args: string[], env: NodeJS.ProcessEnv, input: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', args, { env, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

export async function runCorpus(o: CorpusOptions): Promise<CorpusResult> {
  const started = performance.now();
  const before = new Set((await o.reader.recordings()).map((r) => r.id));
  const logins = new Mutex();
  const exclusive = new Mutex();
  const runs: SessionRun[] = o.scenarios.map((scenario) => ({ scenario, ms: 0 }));
  const typists = new Map<string, Typist>();
  let connected = 0;

  const drive = async (run: SessionRun): Promise<void> => {
    const s = run.scenario;
    if (s.privileged && o.target.unprivileged) {
      run.skipped = o.target.unprivileged;
      return;
    }
    const t0 = performance.now();
    o.target.prepare(s);
    const ctx = context(s, o.seed, o.target);
    const setEnv = ['-o', `SetEnv=LC_CORPUS=${s.id}`];
    let term: TmuxTerminal | undefined;
    let typist: Typist | undefined;
    try {
      if (s.stdin) {
        const stdin = s.stdin;
        const r = await logins.run(() => {
          const { args, env } = o.client.login();
          return runSsh([...args, ...setEnv, ...(stdin.remote === undefined ? ['-T', o.client.destination] : [o.client.destination, stdin.remote])], env, stdin.script);
        });
        connected++;
        // 255: ssh itself failed (login refused, connection lost); anything else is the script's own status.
        if (r.code === 255 || r.code === null) throw new Error(`ssh exited ${r.code ?? 'on a signal'}: ${r.stderr.trim()}`);
      } else {
        const opened = await logins.run(async () => {
          const { args, env } = o.client.login();
          const t = await TmuxTerminal.start({ dir: o.workDir, name: s.id, width: s.width ?? 100, height: s.height ?? 30, command: ['ssh', ...args, ...setEnv, '-tt', o.client.destination], env });
          const ty = new Typist(t, rngFor(o.seed, s.id), PROMPT[s.shell === 'stdin' ? 'bash' : s.shell]);
          term = t;
          await ty.atPrompt(45_000);
          connected++;
          return { term: t, typist: ty };
        });
        term = opened.term;
        typist = opened.typist;
        if (!typist || !s.run) throw new Error('an interactive scenario needs run()');
        await s.run(typist, ctx);
        run.transcript = typist.transcript;
      }
      run.truth = readTruth(s, o.target.home(s.id));
    } catch (err) {
      run.error = (err as Error).message;
      if (term) run.error += `\n--- screen and scrollback ---\n${await term.scrollback()}`;
      run.transcript = typist?.transcript;
    } finally {
      await term?.kill();
      run.ms = performance.now() - t0;
      o.log(`${s.id}: ${run.error ? 'FAILED to drive' : 'done'} in ${(run.ms / 1000).toFixed(1)} s`);
    }
    if (typist) typists.set(s.id, typist);
  };

  // A pool of `concurrency` workers; exclusive sessions also wait for each other.
  const queue = [...runs];
  await Promise.all(
    Array.from({ length: Math.max(1, o.concurrency) }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const run = next;
        await (run.scenario.exclusive ? exclusive.run(() => drive(run)) : drive(run));
      }
    }),
  );
  o.log(`${connected} sessions driven; waiting for airlock to seal and analyse their recordings`);

  // Every new recording sealed and analysed (or failed), and as many as sessions connected.
  const deadline = Date.now() + (o.analysisTimeoutMs ?? 180_000);
  let mine: RecordingInfo[] = [];
  for (;;) {
    mine = (await o.reader.recordings()).filter((r) => !before.has(r.id));
    const settled = mine.every((r) => r.status !== 'recording' && (r.analysisStatus === 'done' || r.analysisStatus === 'failed'));
    if (settled && mine.length >= connected) break;
    if (Date.now() > deadline) {
      o.log(`analysis not finished after ${o.analysisTimeoutMs ?? 180_000} ms: ${mine.length} recordings, ${mine.filter((r) => r.analysisStatus === 'done').length} analysed`);
      break;
    }
    await sleep(500);
  }

  const byScenario = new Map<string, { info: RecordingInfo; file: Buffer }>();
  for (const info of mine) {
    const file = await o.reader.file(info.id);
    const id = scenarioOf(file);
    if (id) byScenario.set(id, { info, file });
  }
  for (const run of runs) {
    if (run.skipped) continue;
    const typist = typists.get(run.scenario.id);
    const rec = byScenario.get(run.scenario.id);
    if (!rec) {
      run.error = [run.error, 'no recording of this session was found (or it was never analysed)'].filter(Boolean).join('\n');
      continue;
    }
    run.recordingId = rec.info.id;
    if (rec.info.analysisStatus !== 'done') {
      run.error = [run.error, `analysis ${rec.info.analysisStatus}: ${rec.info.analysisError ?? ''}`].filter(Boolean).join('\n');
      continue;
    }
    if (!run.truth) continue;
    const rows = await o.reader.commands(rec.info.id);
    const hidden = hiddenByLine(rec.file);
    if (typist) run.enters = { typed: typist.enters, recorded: hidden.enters };
    if (hidden.unknownTypes.length) run.unknownFrameTypes = hidden.unknownTypes;
    const secrets = typist?.secrets ?? [];
    run.score = scoreSession({
      id: run.scenario.id,
      truth: run.truth,
      analysed: rows.commands,
      recording: rec.file,
      analysisText: `${rows.json}\n${rows.commands.map((c) => c.text).join('\n')}`,
      hiddenLines: hidden.lines,
      allowance: typist?.allowance ?? [],
      secrets,
    });
    if (o.keepDir) {
      const dir = join(o.keepDir, run.scenario.id);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'recording.alr'), rec.file);
      writeFileSync(join(dir, 'commands.json'), rows.json);
      writeFileSync(join(dir, 'truth.json'), JSON.stringify(run.truth, null, 2));
    }
    run.seal = await checkSealed({ recording: rec.file, secrets, keys: o.reveal, keysMissing: o.revealMissing, workDir: o.workDir });
  }
  const scores = runs.flatMap((r) => (r.score ? [r.score] : []));
  return { seed: o.seed, sessions: runs, totals: totals(scores), durationS: (performance.now() - started) / 1000 };
}
