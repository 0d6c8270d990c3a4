import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AirlockPaths } from '../airlock.js';
import { configureAccess, initAirlock, startAirlock } from '../airlock.js';
import { keygen } from '../sshd.js';
import { ApiReader } from './api.js';
import { corpusReport, failuresOf, features } from './report.js';
import { runCorpus } from './run.js';
import { CORPUS } from './scenarios.js';
import { makeRevealKeys, revealSetting } from './seal-check.js';
import { startCorpusTarget } from './target.js';

/**
 * `npm run bench -- --only corpus`: the command-extraction corpus against the
 * built airlock as it runs in production (`airlock serve`, a process of its
 * own, on a fresh data directory), the engineer logging in with a certificate
 * from `airlock login`'s API call, results read back through the HTTP API.
 * Figures are computed from this run only (score.ts); nothing is carried over.
 */
export interface CorpusBenchResult {
  seed: number;
  sessions: number;
  skipped: Array<{ id: string; why: string }>;
  exact_sessions: number;
  commands_ran: number;
  commands_found: number;
  commands_matched: number;
  precision: number;
  recall: number;
  program_lines: { precision: number; recall: number; ran: number } | null;
  wrongly_hidden_bytes: number;
  secrets_in_clear: number;
  features: { context: boolean; sealed: boolean; sealing: string };
  failing: Array<{ id: string; why: string[] }>;
  duration_s: number;
  /** The text report, as printed. */
  report: string;
}

export async function corpusBench(paths: AirlockPaths, dir: string, o: { seed: number; concurrency: number; log(line: string): void }): Promise<CorpusBenchResult> {
  mkdirSync(dir, { recursive: true });
  const target = await startCorpusTarget({ log: o.log });
  const cleanup: Array<() => Promise<void>> = [() => target.stop()];
  try {
    const keys = makeRevealKeys(dir);
    const sealing = revealSetting(keys.recipient);
    const dataDir = join(dir, 'airlock');
    const admin = await initAirlock(paths, dataDir);
    if (sealing.overrides) {
      // bench/airlock.ts's config has no recordings section: this adds one.
      const file = join(dataDir, 'airlock.yaml');
      writeFileSync(file, `${readFileSync(file, 'utf8')}recordings:\n  revealRecipients:\n    - ${keys.recipient}\n`);
    }
    const a = await startAirlock(paths, 'serve', dataDir);
    cleanup.push(() => a.stop());
    const engineerKey = keygen(join(dir, 'engineer_key'), 'corpus-engineer');
    const access = await configureAccess(a.web, admin, { name: 'corpus', port: target.port, login: target.login, hostKey: target.hostKey, key: target.clientKey }, engineerKey.publicKey);
    const cert = join(dir, 'engineer_cert.pub');
    writeFileSync(cert, access.certificate + '\n');
    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, `[127.0.0.1]:${a.sshPort} ${a.hostKey}\n`);
    const args = [
      '-F', '/dev/null',
      '-p', String(a.sshPort),
      '-i', engineerKey.path,
      '-o', `CertificateFile=${cert}`,
      '-o', 'IdentitiesOnly=yes',
      '-o', 'IdentityAgent=none',
      '-o', `UserKnownHostsFile=${knownHosts}`,
      '-o', 'StrictHostKeyChecking=yes',
      '-o', 'PreferredAuthentications=publickey',
      '-o', 'BatchMode=yes',
      '-o', 'ConnectTimeout=20',
    ];
    o.log(`corpus: airlock serve pid ${a.pid} ssh :${a.sshPort}, target :${target.port}, seed ${o.seed}`);
    const result = await runCorpus({
      client: { login: () => ({ args, env: { PATH: process.env['PATH'], HOME: dir } }), destination: `${access.engineer.name}@corpus@127.0.0.1` },
      reader: new ApiReader(a.web, access.token),
      target,
      scenarios: CORPUS,
      seed: o.seed,
      concurrency: o.concurrency,
      workDir: dir,
      reveal: sealing.overrides ? keys : undefined,
      revealMissing: sealing.missing ?? '',
      log: o.log,
    });
    const f = features(result, sealing.missing ? `not available (${sealing.missing})` : 'configured');
    const t = result.totals;
    return {
      seed: result.seed,
      sessions: result.sessions.length,
      skipped: result.sessions.flatMap((s) => (s.skipped ? [{ id: s.scenario.id, why: s.skipped }] : [])),
      exact_sessions: t.exactSessions,
      commands_ran: t.ran,
      commands_found: t.analysed,
      commands_matched: t.matched,
      precision: t.precision,
      recall: t.recall,
      program_lines: t.program ? { precision: t.program.precision, recall: t.program.recall, ran: t.program.ran } : null,
      wrongly_hidden_bytes: t.wronglyHidden,
      secrets_in_clear: t.leaked,
      features: f,
      failing: result.sessions.flatMap((s) => {
        const why = failuresOf(s);
        return why.length ? [{ id: s.scenario.id, why }] : [];
      }),
      duration_s: result.durationS,
      report: corpusReport(result, f),
    };
  } finally {
    for (const stop of cleanup.reverse()) await stop().catch((err: unknown) => o.log(`corpus cleanup: ${(err as Error).message}`));
  }
}
