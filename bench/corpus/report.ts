import type { CorpusResult, SessionRun } from './run.js';

/**
 * The corpus's figures as text (the test prints it; the bench prints it and
 * keeps the same figures in its JSON), and the list of what failed, one
 * reason a line, which the test asserts is empty.
 */
const pct = (v: number) => v.toFixed(3);

export interface CorpusFeatures {
  /** Analysis tells lines typed at a program's prompt apart (`context`). */
  context: boolean;
  /** Analysis marks commands typed without echo (`sealed`). */
  sealed: boolean;
  /** Sealing of unechoed input is configured (recordings.revealRecipients), else why not. */
  sealing: string;
}

export function features(r: CorpusResult, sealing: string): CorpusFeatures {
  const scored = r.sessions.flatMap((s) => (s.score ? [s.score] : []));
  return { context: scored.some((s) => s.features.context), sealed: scored.some((s) => s.features.sealed), sealing };
}

/** Why a session does not meet the targets (precision and recall 1, nothing wrongly hidden, no secret in clear), or nothing. */
export function failuresOf(run: SessionRun): string[] {
  if (run.skipped) return [];
  const out: string[] = [];
  if (run.error) out.push(run.error.split('\n')[0] ?? run.error);
  const s = run.score;
  if (!s) return out.length ? out : ['not scored'];
  if (!s.shell.exact) out.push(`shell commands differ: missing ${JSON.stringify(s.shell.missing)}, extra ${JSON.stringify(s.shell.extra)}`);
  if (s.program && !s.program.exact) out.push(`program lines differ: missing ${JSON.stringify(s.program.missing)}, extra ${JSON.stringify(s.program.extra)}`);
  if (s.wronglyHidden > 0) out.push(`${s.wronglyHidden} echoed bytes stored as hidden (typed lines ${s.wronglyHiddenLines.join(', ')})`);
  for (const l of s.leaks) out.push(`secret in clear (${l.label}) in the ${l.in.join(' and the ')}`);
  if (run.seal?.failed) out.push(`sealed input: ${run.seal.note}`);
  return out;
}

export function corpusReport(r: CorpusResult, f: CorpusFeatures): string {
  const t = r.totals;
  const skipped = r.sessions.filter((s) => s.skipped);
  const lines = [
    `command corpus: seed ${r.seed} (CORPUS_SEED=${r.seed} to type it again), ${r.sessions.length} sessions, ${skipped.length} skipped, ${r.durationS.toFixed(0)} s`,
    `analysis features: program lines told apart (context): ${f.context ? 'yes' : 'not available'}; commands typed without echo marked (sealed): ${f.sealed ? 'yes' : 'not available'}; sealing: ${f.sealing}`,
    '',
    `${'session'.padEnd(24)} ${'shell'.padEnd(5)} ${'ran'.padStart(3)} ${'found'.padStart(5)} ${'ok'.padStart(3)} ${'prec'.padStart(5)} ${'recall'.padStart(6)} ${'hidden'.padStart(6)} ${'leaks'.padStart(5)}  notes`,
  ];
  for (const run of r.sessions) {
    const id = run.scenario.id.padEnd(24);
    const shell = run.scenario.shell.padEnd(5);
    if (run.skipped) {
      lines.push(`${id} ${shell} skipped: ${run.skipped}`);
      continue;
    }
    const s = run.score;
    if (!s) {
      lines.push(`${id} ${shell} FAILED: ${(run.error ?? 'not scored').split('\n')[0]}`);
      continue;
    }
    const notes = [
      s.shell.exact ? '' : 'DIFFERS',
      s.program ? (s.program.exact ? `program lines ${s.program.matched}/${s.program.ran.length}` : `PROGRAM LINES ${s.program.matched}/${s.program.ran.length}`) : run.scenario.programs?.length ? 'program lines: not available' : '',
      run.seal && run.seal.note !== 'no secrets typed' ? `sealed: ${run.seal.note}` : '',
      run.enters && run.enters.typed !== run.enters.recorded ? `enters typed ${run.enters.typed}, stored ${run.enters.recorded}` : '',
      run.unknownFrameTypes ? `frame types ${run.unknownFrameTypes.join(',')} not read` : '',
    ].filter(Boolean);
    lines.push(
      `${id} ${shell} ${String(s.shell.ran.length).padStart(3)} ${String(s.shell.analysed.length).padStart(5)} ${String(s.shell.matched).padStart(3)} ${pct(s.shell.precision).padStart(5)} ${pct(s.shell.recall).padStart(6)} ${String(s.wronglyHidden).padStart(6)} ${String(s.leaks.length).padStart(5)}  ${notes.join('; ')}`,
    );
  }
  const failing = r.sessions.filter((s) => failuresOf(s).length > 0);
  lines.push(
    '',
    `overall: precision ${pct(t.precision)}, recall ${pct(t.recall)} (${t.matched} matched of ${t.ran} commands that ran, ${t.analysed} found); ` +
      `sessions exactly right ${t.exactSessions}/${t.sessions}; echoed text wrongly hidden ${t.wronglyHidden} bytes; secrets stored in clear ${t.leaked}; ` +
      (t.program ? `program lines precision ${pct(t.program.precision)}, recall ${pct(t.program.recall)}` : 'program lines: not available'),
    'targets: precision 1.000, recall 1.000, wrongly hidden 0, in clear 0',
  );
  if (failing.length) {
    lines.push('', 'what went wrong:');
    for (const run of failing) {
      lines.push(`- ${run.scenario.id} (${run.scenario.covers})`);
      for (const why of failuresOf(run)) lines.push(`    ${why}`);
      if (run.score && !run.score.shell.exact) {
        lines.push(`    ran:      ${JSON.stringify(run.score.shell.ran)}`, `    analysed: ${JSON.stringify(run.score.shell.analysed)}`);
      }
      if (run.scenario.ambiguity) lines.push(`    (read more than one way: ${run.scenario.ambiguity})`);
      if (run.error?.includes('\n')) lines.push(...run.error.split('\n').slice(1, 60).map((l) => `    | ${l}`));
    }
  }
  return lines.join('\n');
}
