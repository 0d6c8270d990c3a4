import { AirlockError, inertText } from '../../core/index.js';
import type { VerbContext } from '../context.js';
import { EXIT, table } from '../output.js';

interface Req {
  id: string;
  userName: string;
  targetName: string;
  login: string;
  sensitivity: string;
  status: string;
  reason: string | null;
  ticket: string | null;
  approvalsNeeded: number;
  approvals: Array<{ approver: string; comment: string | null }>;
  createdAt: string;
  grantedUntil: string | null;
  decidedBy: string | null;
  decisionComment: string | null;
  revokedAt: string | null;
  revokedBy: string | null;
  revokeComment: string | null;
}

const path = (id: string) => `/api/v1/requests/${encodeURIComponent(id)}`;

/** A request for a terminal; what people typed (reason, comments) is made inert. */
function describe(r: Req): string {
  const t = (v: string | null) => (v === null ? '-' : inertText(v, { max: 1000 }));
  return [
    `request ${r.id}: ${r.status}`,
    `  ${r.userName} → ${r.targetName} as ${r.login} (${r.sensitivity}), asked ${r.createdAt}`,
    `  reason: ${t(r.reason)}   ticket: ${t(r.ticket)}`,
    `  approvals: ${r.approvals.map((a) => `${a.approver}${a.comment ? ` ("${t(a.comment)}")` : ''}`).join(', ') || 'none'} (${r.approvals.length}/${r.approvalsNeeded})`,
    ...(r.grantedUntil ? [`  access until ${r.grantedUntil}`] : []),
    ...(r.decidedBy && r.status !== 'approved' && r.status !== 'revoked' ? [`  ${r.status} by ${r.decidedBy}${r.decisionComment ? `: ${t(r.decisionComment)}` : ''}`] : []),
    ...(r.status === 'revoked' ? [`  revoked by ${r.revokedBy ?? '-'} at ${r.revokedAt ?? '-'}${r.revokeComment ? `: ${t(r.revokeComment)}` : ''}`] : []),
  ].join('\n');
}

export async function requestCreate(
  ctx: VerbContext,
  target: string,
  o: { login?: string; reason?: string; ticket?: string; duration?: string; sftp?: boolean; forwarding?: boolean; wait?: boolean },
): Promise<number> {
  const api = ctx.api();
  let { request } = await api.post<{ request: Req }>('/api/v1/requests', {
    target,
    ...(o.login ? { login: o.login } : {}),
    ...(o.reason ? { reason: o.reason } : {}),
    ...(o.ticket ? { ticket: o.ticket } : {}),
    ...(o.duration ? { duration: o.duration } : {}),
    sftp: Boolean(o.sftp),
    forwarding: Boolean(o.forwarding),
  });
  if (o.wait) {
    ctx.out.info(`Request ${request.id} sent; waiting for approval (Ctrl-C stops waiting, the request stays).`);
    while (request.status === 'pending') {
      await new Promise((r) => setTimeout(r, 2000));
      ({ request } = await api.get<{ request: Req }>(path(request.id)));
    }
  }
  ctx.out.result({ request }, describe(request));
  if (!o.wait || request.status === 'approved') return EXIT.ok;
  return EXIT.forbidden;
}

export async function requestsList(ctx: VerbContext, o: { pending?: boolean; status?: string }): Promise<number> {
  const status = o.pending ? 'pending' : o.status;
  const { requests } = await ctx.api().get<{ requests: Req[] }>(`/api/v1/requests${status ? `?status=${encodeURIComponent(status)}` : ''}`);
  ctx.out.result(requests, () =>
    table(
      requests.map((r) => ({
        id: r.id,
        user: r.userName,
        target: `${r.targetName}:${r.login}`,
        level: r.sensitivity,
        status: r.status,
        approvals: `${r.approvals.length}/${r.approvalsNeeded}`,
        ticket: r.ticket,
        reason: (r.reason ?? '').slice(0, 40),
        until: r.grantedUntil,
      })),
      ['id', 'user', 'target', 'level', 'status', 'approvals', 'ticket', 'reason', 'until'],
    ),
  );
  return EXIT.ok;
}

export async function requestShow(ctx: VerbContext, id: string): Promise<number> {
  const { request } = await ctx.api().get<{ request: Req }>(path(id));
  ctx.out.result(request, () => describe(request));
  return EXIT.ok;
}

export async function requestApprove(ctx: VerbContext, id: string, o: { comment?: string; duration?: string; noSftp?: boolean; noForwarding?: boolean }): Promise<number> {
  const { request } = await ctx.api().post<{ request: Req }>(`${path(id)}/approve`, {
    ...(o.comment ? { comment: o.comment } : {}),
    ...(o.duration ? { duration: o.duration } : {}),
    ...(o.noSftp ? { sftp: false } : {}),
    ...(o.noForwarding ? { forwarding: false } : {}),
  });
  ctx.out.result({ request }, describe(request));
  return EXIT.ok;
}

export async function requestDeny(ctx: VerbContext, id: string, o: { comment?: string }): Promise<number> {
  if (!o.comment) throw new AirlockError('ERR_USAGE', 'say why with --comment');
  const { request } = await ctx.api().post<{ request: Req }>(`${path(id)}/deny`, { comment: o.comment });
  ctx.out.result({ request }, describe(request));
  return EXIT.ok;
}

export async function requestCancel(ctx: VerbContext, id: string): Promise<number> {
  const { request } = await ctx.api().post<{ request: Req }>(`${path(id)}/cancel`);
  ctx.out.result({ request }, describe(request));
  return EXIT.ok;
}

export async function requestRevoke(ctx: VerbContext, id: string, o: { comment?: string }): Promise<number> {
  if (!o.comment) throw new AirlockError('ERR_USAGE', 'say why with --comment');
  const { request } = await ctx.api().post<{ request: Req }>(`${path(id)}/revoke`, { comment: o.comment });
  ctx.out.result({ request }, `${describe(request)}\nIts live sessions end within seconds.`);
  return EXIT.ok;
}
