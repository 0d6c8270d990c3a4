import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiReader } from '../../bench/corpus/api.js';
import { MAGIC } from '../../bench/corpus/frames.js';
import { corpusReport, failuresOf, features } from '../../bench/corpus/report.js';
import { runSeed } from '../../bench/corpus/rng.js';
import { runCorpus } from '../../bench/corpus/run.js';
import { CORPUS } from '../../bench/corpus/scenarios.js';
import { scoreSession, totals } from '../../bench/corpus/score.js';
import { makeRevealKeys, revealSetting } from '../../bench/corpus/seal-check.js';
import type { RevealKeys } from '../../bench/corpus/seal-check.js';
import { startCorpusTarget } from '../../bench/corpus/target.js';
import type { CorpusTarget } from '../../bench/corpus/target.js';
import { markSealed, nest, parseStraceReads, parseZshHistory, shellCommands } from '../../bench/corpus/truth.js';
import { certArgs, issueCert } from '../helpers/cert-tools.js';
import { ALICE_PASSWORD, startGateway } from '../helpers/gateway.js';
import type { GatewayHarness } from '../helpers/gateway.js';

/**
 * The command-extraction corpus (issue #18, part 3): scripted sessions through
 * the real gateway, each typed into the real OpenSSH client in tmux against
 * bash, zsh and dash on a real sshd, and what analysis found compared with what
 * the shells themselves say ran (bench/corpus/truth.ts). Every session must come
 * out exactly right, with no echoed text stored as hidden and no secret stored in
 * clear; the figures are printed either way. `npm run bench -- --only corpus`
 * runs the same corpus against a built `airlock serve`.
 *
 * CORPUS_SEED repeats a run's typing (the seed is printed); CORPUS_ONLY=a,b runs
 * some scenarios; CORPUS_CONCURRENCY sets the sessions at a time (default 6);
 * CORPUS_KEEP=DIR keeps each session's stored recording, analysis and ground truth.
 */
const SYSTEM = { name: 'test-admin' };

const frame = (type: number, payload: Buffer) => {
  const h = Buffer.alloc(10);
  h[0] = type;
  h.writeUInt32BE(payload.length, 6);
  return Buffer.concat([h, payload]);
};
const recording = (...frames: Buffer[]) => Buffer.concat([MAGIC, frame(1, Buffer.from('{}')), ...frames]);
const hidden = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return frame(7, b);
};

describe('corpus scoring and ground truth (pure)', () => {
  it('scores commands in order by exact text, sealed commands by their mark', () => {
    const truth = { shell: markSealed(['echo a', 'stty -echo', 'touch x', 'stty echo', 'ls']), program: [] };
    const s = scoreSession({
      id: 'x',
      truth,
      analysed: [{ text: 'echo a' }, { text: 'stty -echo' }, { text: 'ls' }, { text: 'echo extra' }],
      recording: recording(),
      analysisText: '',
      hiddenLines: [],
      allowance: [],
      secrets: [],
    });
    expect(s.shell).toMatchObject({ matched: 3, exact: false, missing: ['«typed without echo» touch x', '«typed without echo» stty echo'], extra: ['echo extra'] });
    expect(s.shell.precision).toBe(0.75);
    expect(s.shell.recall).toBe(0.6);
    expect(s.program).toBeNull(); // no context in the rows: not available
    const sealed = scoreSession({
      id: 'y',
      truth,
      analysed: ['echo a', 'stty -echo', '', '', 'ls'].map((text, i) => ({ text, sealed: i === 2 || i === 3, context: 'shell' })),
      recording: recording(),
      analysisText: '',
      hiddenLines: [],
      allowance: [],
      secrets: [],
    });
    expect(sealed.shell.exact).toBe(true);
    expect(sealed.features).toEqual({ context: true, sealed: true });
  });

  it('counts hidden bytes beyond what a line may leave unechoed, and finds secrets split across frames', () => {
    const file = recording(frame(4, Buffer.from('s')), frame(4, Buffer.from('3')), frame(4, Buffer.from('cr')), frame(4, Buffer.from('\r')), hidden(4), frame(4, Buffer.from('\r')), hidden(6), frame(4, Buffer.from('\r')));
    const s = scoreSession({
      id: 'z',
      truth: { shell: [], program: [] },
      analysed: [{ text: 'x', context: 'program' }],
      recording: file,
      analysisText: '{"text":"nothing"}',
      hiddenLines: [0, 4, 6, 0],
      allowance: [0, 4, 0, 0],
      secrets: [{ label: 'pw', value: 's3cr' }, { label: 'other', value: 'nope' }],
    });
    expect(s.wronglyHidden).toBe(6);
    expect(s.wronglyHiddenLines).toEqual([2]);
    expect(s.leaks).toEqual([{ label: 'pw', in: ['recording'] }]);
    expect(s.program).toMatchObject({ exact: false, extra: ['x'] });
    expect(totals([s])).toMatchObject({ sessions: 1, exactSessions: 0, wronglyHidden: 6, leaked: 1, precision: 1, recall: 1 });
  });

  it('reads dash\'s terminal reads from strace, zsh\'s history, and nests a sub-shell after the command that started it', () => {
    const trace = [
      'read(0, "\\x65\\x63\\x68\\x6f\\x20\\x61\\x0a", 8192) = 7',
      'read(0, 0x55d0, 8192)                   = ? ERESTARTSYS (To be restarted if SA_RESTART is set)',
      '--- SIGINT {si_signo=SIGINT, si_code=SI_KERNEL} ---',
      'read(0, "\\x6c\\x73\\x0a\\x70\\x77", 8192) = 5',
      '+++ exited with 0 +++',
    ].join('\n');
    expect(parseStraceReads(trace)).toEqual(['echo a', 'ls']);
    expect(parseZshHistory(Buffer.from(': 1:0;echo one\necho p1\\\necho p2\\\n\nexit\n'))).toEqual(['echo one', 'echo p1\necho p2\n', 'exit']);
    expect(shellCommands(['echo p1\necho p2\n', '  cat x ', '# note', ''])).toEqual(['echo p1', 'echo p2', 'cat x']);
    expect(nest(['sudo -i', 'echo back'], ['id', 'exit'], 'sudo -i')).toEqual(['sudo -i', 'id', 'exit', 'echo back']);
    expect(() => nest(['ls'], ['id'], /^su -/)).toThrow(/not in the parent shell's history/);
  });
});

/**
 * Sessions whose commands analysis does not yet get exactly right, each with
 * why (issue #18 stays open on them). They are still driven, scored and shown
 * in the figures (and in `npm run bench -- --only corpus`), but do not fail the
 * suite; every other session must match exactly, and no session may store a
 * secret in the clear. A gap that passes says so in the log, to be removed here.
 */
const KNOWN_GAPS: Record<string, string> = {
  'bash-bang': 'history expansion: the screen shows !! and !$, not what bash ran',
  'zsh-history': 'history expansion: the screen shows !$, not what zsh ran',
  'bash-tab-ambiguous': 'the line is read where typing began, which the completion listing moved',
  'bash-resize-midline': 'a resize mid-line: the line bash redrew is not followed',
  'bash-paste-bracketed': 'lines after the first of a bracketed paste show without a prompt: not read, and their keys judged not echoed (sealed)',
  'bash-paste-plain': 'passes in some runs only: when the echo of a pasted line arrives split after its Enter, the line is judged not echoed (sealed) and not read',
  'bash-read-s': 'passes in some runs only: the command typed after the read -s line is sometimes judged not echoed (sealed); its secret is never in the clear',
  'zsh-paste': 'zsh holds a paste in its editor until Enter: the lines after the first show without a prompt',
  'dash-wrap-paste': "the second line of a paste into dash is read from the wrong column (dash echoes it in the kernel's line discipline)",
  'bash-type-ahead': 'text typed ahead is placed where the cursor was, not at the prompt that later shows it',
  'bash-less': "less's search keys are judged not echoed (sealed, 4 bytes)",
  'bash-top': 'the line after top is lost (top leaves without an Enter at the prompt)',
  'zsh-wrap-80': "zsh's wrapped line is cut at the wrap",
};

describe('command-extraction corpus through airlock', () => {
  let g: GatewayHarness;
  let target: CorpusTarget;
  let work: string;
  let keys: RevealKeys;
  let sealing: ReturnType<typeof revealSetting>;
  let token: string;
  let login: { key: string; cert: string };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'airlock-corpus-run-'));
    keys = makeRevealKeys(work);
    sealing = revealSetting(keys.recipient);
    g = await startGateway('pglite', { overrides: sealing.overrides ?? {} });
    target = await startCorpusTarget({ log: (l) => console.log(`[corpus] ${l}`) });
    const t = await g.services.targets.add(
      { name: 'corpus', host: '127.0.0.1', port: target.port, login: target.login, secret: { kind: 'key', secret: target.clientKey }, sensitivity: 'standard', hostKey: target.hostKey },
      SYSTEM,
    );
    await g.services.grants.grant(g.alice.user, t, {}, SYSTEM);
    const res = await fetch(`${g.server.web.url}/api/v1/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'alice', password: ALICE_PASSWORD, totp: g.totp(g.alice.totp.secret) }),
    });
    expect(res.status).toBe(201);
    token = ((await res.json()) as { token: string }).token;
    // Sessions log in with an SSH certificate, as `airlock login` sets up: no one-time code per
    // session, so the test's clock (moved a step for each code) stays still while keys are judged.
    const issued = await issueCert(g, work, 'corpus-alice');
    login = { key: issued.k.key, cert: issued.cert };
  });
  afterAll(async () => {
    await g?.stop();
    await target?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('finds exactly the commands that ran in every session, hides no echoed text and stores no secret in clear', async () => {
    const seed = runSeed(process.env['CORPUS_SEED']);
    console.log(`[corpus] seed ${seed} (CORPUS_SEED=${seed} types this run again)`);
    const only = process.env['CORPUS_ONLY']?.split(',').filter(Boolean);
    const scenarios = only ? CORPUS.filter((s) => only.includes(s.id)) : CORPUS;
    const result = await runCorpus({
      client: {
        login: () => ({ args: certArgs(g, login.key, login.cert), env: g.ssh.env({}) }),
        destination: `alice@corpus@${g.ssh.host}`,
      },
      reader: new ApiReader(g.server.web.url, token),
      target,
      scenarios,
      seed,
      concurrency: Number(process.env['CORPUS_CONCURRENCY'] ?? 6),
      workDir: work,
      reveal: sealing.overrides ? keys : undefined,
      revealMissing: sealing.missing ?? '',
      log: (l) => console.log(`[corpus] ${l}`),
      keepDir: process.env['CORPUS_KEEP'],
    });
    console.log(corpusReport(result, features(result, sealing.missing ? `not available (${sealing.missing})` : 'configured')));

    const driven = result.sessions.filter((s) => !s.skipped);
    if (!only) expect(driven.length, 'sessions in the corpus').toBeGreaterThanOrEqual(40);
    // No secret in the clear, in any session: this holds without exception.
    expect.soft(result.totals.leaked, 'secrets stored in the clear').toBe(0);
    for (const run of driven) {
      const gap = KNOWN_GAPS[run.scenario.id];
      const failures = failuresOf(run);
      if (gap) {
        console.log(`[corpus] known gap ${run.scenario.id} (${gap}): ${failures.length ? failures.join('; ') : 'passed this time: remove it from KNOWN_GAPS'}`);
        continue;
      }
      expect.soft(failures, `${run.scenario.id}: ${run.scenario.covers}`).toEqual([]);
    }
  }, 600_000);
});
