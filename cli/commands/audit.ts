import type { AuditEvent, ChainReport } from '../../core/index.js';
import type { VerbContext } from '../context.js';
import { EXIT } from '../output.js';

export function formatAuditReport(r: ChainReport): string {
  if (r.ok) return `audit chain intact: ${r.checked} events, head at row ${r.headSeq}`;
  const bad = r.firstBad!;
  return `audit chain BROKEN at row ${bad.seq} (${bad.problem}): ${bad.detail}\n${r.checked} events before it are intact.`;
}

export async function auditVerify(ctx: VerbContext): Promise<number> {
  const report = await ctx.api().post<ChainReport>('/api/v1/audit/verify');
  ctx.out.result(report, () => formatAuditReport(report));
  return report.ok ? EXIT.ok : EXIT.verifyFailed;
}

function formatEvent(e: AuditEvent): string {
  const details = Object.keys(e.details ?? {}).length ? ' ' + JSON.stringify(e.details) : '';
  return `${String(e.seq).padStart(6)}  ${new Date(e.at).toISOString()}  ${e.outcome.padEnd(7)}  ${e.action}  actor=${e.actor ?? '-'} target=${e.target ?? '-'} source=${e.source ?? '-'}${details}`;
}

export async function auditTail(ctx: VerbContext, options: { lines: string; follow?: boolean; action?: string }): Promise<number> {
  const api = ctx.api();
  const n = Math.min(Math.max(Number(options.lines) || 20, 1), 1000);
  const action = options.action ? `&action=${encodeURIComponent(options.action)}` : '';
  const print = (events: AuditEvent[]) => {
    for (const e of events) process.stdout.write((ctx.out.json ? JSON.stringify(e) : formatEvent(e)) + '\n');
  };
  let { events } = await api.get<{ events: AuditEvent[] }>(`/api/v1/audit?newest=1&limit=${n}${action}`);
  print(events);
  if (!options.follow) return EXIT.ok;
  let after = events.at(-1)?.seq ?? 0;
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    ({ events } = await api.get<{ events: AuditEvent[] }>(`/api/v1/audit?after=${after}&limit=1000${action}`));
    print(events);
    after = events.at(-1)?.seq ?? after;
  }
}
