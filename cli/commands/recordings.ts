import { createWriteStream, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { checkIdentity, createRevealKey, revealFrames } from '../../recordings/index.js';
import { inertText } from '../../core/index.js';
import { AirlockError } from '../../core/index.js';
import type { VerbContext } from '../context.js';
import { EXIT, table } from '../output.js';
import { accessLines, fieldLines } from './access-text.js';
import type { AccessJson } from './access-text.js';

interface Row {
  id: string;
  sessionId: string;
  kind: string;
  userName: string;
  targetName: string;
  startedAt: string;
  endedAt: string | null;
  status: string;
  length: number | null;
  retainUntil: string;
  path: string;
  chainHead: string | null;
}

interface Report {
  ok: boolean;
  summary: string;
  verifiedLength: number;
  fileLength: number;
  checkpoints: number;
  final: boolean;
  unsignedBytes: number;
}

const path = (id: string) => `/api/v1/recordings/${encodeURIComponent(id)}`;

export async function recordingsList(ctx: VerbContext, o: { user?: string; target?: string; session?: string; since?: string; until?: string; limit?: string }): Promise<number> {
  const q = new URLSearchParams(Object.entries(o).filter(([, v]) => v !== undefined) as Array<[string, string]>);
  const { recordings } = await ctx.api().get<{ recordings: Row[] }>(`/api/v1/recordings${q.size ? '?' + q.toString() : ''}`);
  ctx.out.result(recordings, () =>
    table(
      recordings.map((r) => ({ id: r.id, user: r.userName, target: r.targetName, kind: r.kind, started: r.startedAt, status: r.status, bytes: r.length })),
      ['id', 'user', 'target', 'kind', 'started', 'status', 'bytes'],
    ),
  );
  return EXIT.ok;
}

export async function recordingsShow(ctx: VerbContext, id: string): Promise<number> {
  const { recording, access } = await ctx.api().get<{ recording: Row; access: AccessJson | null }>(path(id));
  ctx.out.result({ recording, access }, () => [...fieldLines(Object.entries(recording)), ...accessLines(access)].join('\n'));
  return EXIT.ok;
}

/**
 * asciicast (plays in asciinema), --raw (the stored file, byte for byte) or
 * --evidence (the tar bundle). To a file: written beside it and renamed when
 * complete, so a download cut short never looks like an export.
 */
export async function recordingsExport(ctx: VerbContext, id: string, o: { output?: string; evidence?: boolean; raw?: boolean }): Promise<number> {
  if (o.evidence && o.raw) throw new AirlockError('ERR_USAGE', 'choose one of --raw and --evidence');
  const what = o.evidence ? 'evidence' : o.raw ? 'raw' : 'cast';
  const toFile = o.output !== undefined && o.output !== '-';
  if (!toFile && what !== 'cast' && process.stdout.isTTY && o.output !== '-') {
    throw new AirlockError('ERR_USAGE', `the ${what === 'raw' ? 'recording' : 'evidence bundle'} is binary: pass -o FILE, -o - or redirect stdout`);
  }
  if (!toFile) {
    await ctx.api().download(`${path(id)}/${what}`, process.stdout);
    return EXIT.ok;
  }
  const file = o.output as string;
  const part = `${file}.part-${process.pid}`;
  const out = createWriteStream(part, { mode: 0o640, flags: 'wx' });
  try {
    const bytes = await ctx.api().download(`${path(id)}/${what}`, out);
    renameSync(part, file);
    ctx.out.info(`Wrote ${bytes} bytes to ${file}.`);
  } finally {
    // A refusal from the server comes before the stream is used: close it, or it holds the file open.
    out.destroy();
    rmSync(part, { force: true });
  }
  return EXIT.ok;
}

interface CommandRow {
  recordingId: string;
  seq: number;
  sessionId: string;
  userName: string;
  targetName: string;
  t: number;
  at: string;
  text: string;
  risks: Array<{ rule: string; reason: string; severity: string }>;
}

const riskText = (c: CommandRow) => c.risks.map((r) => `${r.severity.toUpperCase()} ${r.rule}: ${r.reason}`).join('; ');

export async function recordingsCommands(ctx: VerbContext, id: string): Promise<number> {
  const { recording, commands } = await ctx.api().get<{ recording: Row & { analysisStatus: string }; commands: CommandRow[] }>(`${path(id)}/commands`);
  ctx.out.result({ recording, commands }, () => {
    const live = recording.analysisStatus === 'live';
    if (!live && recording.analysisStatus !== 'done') return `Not analysed yet (${recording.analysisStatus}): commands appear once the recording is sealed and analysed.`;
    if (commands.length === 0) return live ? 'Live: no commands yet.' : 'No commands found in this recording.';
    const rows = table(
      commands.map((c) => ({ at: c.at, t: c.t.toFixed(1), command: c.text, risk: riskText(c) })),
      ['at', 't', 'command', 'risk'],
    );
    return live ? `Live: commands so far (the session is still running).\n${rows}` : rows;
  });
  return EXIT.ok;
}

export async function commandsSearch(
  ctx: VerbContext,
  text: string | undefined,
  o: { user?: string; target?: string; since?: string; until?: string; risky?: boolean; limit?: string },
): Promise<number> {
  const params: Record<string, string | undefined> = { q: text, user: o.user, target: o.target, since: o.since, until: o.until, risky: o.risky ? 'true' : undefined, limit: o.limit };
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined) as Array<[string, string]>);
  const { commands } = await ctx.api().get<{ commands: CommandRow[] }>(`/api/v1/commands${q.size ? '?' + q.toString() : ''}`);
  ctx.out.result(commands, () =>
    table(
      commands.map((c) => ({ at: c.at, user: c.userName, target: c.targetName, command: c.text, risk: riskText(c), recording: c.recordingId })),
      ['at', 'user', 'target', 'command', 'risk', 'recording'],
    ),
  );
  return EXIT.ok;
}

export async function recordingsVerify(ctx: VerbContext, id: string | undefined, o: { all?: boolean }): Promise<number> {
  if (o.all) {
    const { results } = await ctx.api().post<{ results: Array<{ id: string; ok: boolean; summary: string; status: string }> }>('/api/v1/recordings/verify-all');
    const bad = results.filter((r) => !r.ok);
    ctx.out.result(results, () =>
      [...results.map((r) => `${r.ok ? 'ok  ' : 'FAIL'}  ${r.id}  ${r.status.padEnd(11)}  ${r.summary}`), `${results.length - bad.length} of ${results.length} recordings intact.`].join('\n'),
    );
    return bad.length ? EXIT.verifyFailed : EXIT.ok;
  }
  if (!id) throw new AirlockError('ERR_USAGE', 'name a recording, or pass --all');
  const { recording, report } = await ctx.api().get<{ recording: Row; report: Report }>(`${path(id)}/verify`);
  ctx.out.result({ recording, report }, `${!report.ok ? 'NOT INTACT' : report.unsignedBytes > 0 ? 'INTACT TO ITS LAST CHECKPOINT' : 'INTACT'}: ${recording.id} (${recording.status})\n${report.summary}`);
  return report.ok ? EXIT.ok : EXIT.verifyFailed;
}

export async function recordingsKey(ctx: VerbContext): Promise<number> {
  const { keys } = await ctx.api().get<{ keys: Array<{ fingerprint: string; publicKeyPem: string }> }>('/api/v1/recordings/key');
  ctx.out.result(keys, () => keys.map((k) => `# fingerprint (SHA-256 of the SPKI) ${k.fingerprint}\n${k.publicKeyPem.trim()}`).join('\n'));
  return EXIT.ok;
}

/**
 * Reveals a recording's sealed input on this machine: the stored file comes
 * through the API (audited there as a reveal), the customer's private key is
 * read from a local file and never leaves it.
 */
export async function recordingsReveal(ctx: VerbContext, id: string, o: { identity: string }): Promise<number> {
  let text: string;
  try {
    text = readFileSync(o.identity, 'utf8');
  } catch (err) {
    throw new AirlockError('ERR_USAGE', `cannot read the identity file ${o.identity}: ${(err as Error).message}`);
  }
  const line = text.split('\n').find((l) => l.trim().startsWith('AGE-SECRET-KEY-1'));
  const identity = checkIdentity(line ?? '');
  const stream = new PassThrough();
  const fail = (err: unknown): never => {
    stream.destroy(); // the other side stops too
    throw err;
  };
  const [report] = await Promise.all([revealFrames(stream, identity).catch(fail), ctx.api().download(`${path(id)}/raw?purpose=reveal`, stream).catch(fail)]);
  ctx.out.result(report, () => {
    if (report.inputs.length === 0) return report.unsealed > 0 ? `${report.unsealed} hidden runs, none sealed (no reveal key was configured when it was recorded).` : 'Nothing was typed without echo in this recording.';
    const rows = report.inputs.map((i) => ({ t: i.t.toFixed(2), offset: i.offset, typed: JSON.stringify(i.text) }));
    return table(rows, ['t', 'offset', 'typed']) + (report.unsealed ? `\n${report.unsealed} more hidden runs were not sealed.` : '');
  });
  return EXIT.ok;
}

/**
 * A new reveal key pair for the customer: the private half is written once to
 * a new file (mode 0600) or printed, the public half goes in the server's
 * config (`recordings.revealRecipients`). Nothing is kept here or on the server.
 */
export async function createRevealKeyVerb(ctx: VerbContext, o: { output?: string }): Promise<number> {
  const { identity, recipient } = await createRevealKey();
  const created = new Date().toISOString();
  const file = `# airlock reveal key, created ${created}\n# public key: ${recipient}\n${identity}\n`;
  const toFile = o.output !== undefined && o.output !== '-';
  if (toFile) writeFileSync(o.output as string, file, { mode: 0o600, flag: 'wx' });
  if (ctx.out.json) {
    process.stdout.write(JSON.stringify({ recipient, ...(toFile ? { identityFile: o.output } : { identity }) }) + '\n');
    return EXIT.ok;
  }
  if (!toFile) process.stdout.write(file);
  const advice = [
    o.output && o.output !== '-' ? `Wrote the private key to ${inertText(o.output)}: give it to the customer's custodian; it is shown only this once.` : 'The private key is above: give it to the customer\'s custodian; it is shown only this once.',
    'Add the public key to the server\'s config, then restart it:',
    '  recordings:',
    '    revealRecipients:',
    `      - ${recipient}`,
  ].join('\n');
  process.stderr.write(advice + '\n');
  return EXIT.ok;
}

export async function recordingsPrune(ctx: VerbContext): Promise<number> {
  const { deleted } = await ctx.api().post<{ deleted: number }>('/api/v1/recordings/prune');
  ctx.out.result({ deleted }, `Deleted ${deleted} recordings past their retention.`);
  return EXIT.ok;
}
