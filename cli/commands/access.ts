import type { VerbContext } from '../context.js';
import { inertText } from '../../core/index.js';
import { EXIT, table } from '../output.js';
import { accessLines, fieldLines, fileOpLines } from './access-text.js';
import type { AccessJson, FileOpJson } from './access-text.js';

interface Grant {
  id: string;
  userName: string;
  targetName: string;
  logins: string[];
  allowSftp: boolean;
  allowForwarding: boolean;
  expiresAt: string | null;
  revokedAt: string | null;
}

const grantRow = (g: Grant) => ({
  id: g.id,
  user: g.userName,
  target: g.targetName,
  logins: g.logins.join(',') || '(default)',
  sftp: g.allowSftp,
  forwarding: g.allowForwarding,
  expires: g.expiresAt ?? 'never',
  revoked: g.revokedAt ?? '-',
});

export async function grantAdd(
  ctx: VerbContext,
  o: { user: string; target: string; logins?: string; sftp?: boolean; forwarding?: boolean; expiresIn?: string },
): Promise<number> {
  const { grant } = await ctx.api().post<{ grant: Grant }>('/api/v1/grants', {
    user: o.user,
    target: o.target,
    ...(o.logins ? { logins: o.logins.split(',').map((l) => l.trim()).filter(Boolean) } : {}),
    sftp: Boolean(o.sftp),
    forwarding: Boolean(o.forwarding),
    ...(o.expiresIn ? { expiresIn: o.expiresIn } : {}),
  });
  ctx.out.result({ grant }, `Granted ${grant.userName} access to ${grant.targetName} (grant ${grant.id}).`);
  return EXIT.ok;
}

export async function grantList(ctx: VerbContext, o: { user?: string; target?: string; all?: boolean }): Promise<number> {
  const q = new URLSearchParams();
  if (o.user) q.set('user', o.user);
  if (o.target) q.set('target', o.target);
  if (o.all) q.set('all', '1');
  const { grants } = await ctx.api().get<{ grants: Grant[] }>(`/api/v1/grants${q.size ? '?' + q.toString() : ''}`);
  ctx.out.result(grants, () => table(grants.map(grantRow), ['id', 'user', 'target', 'logins', 'sftp', 'forwarding', 'expires', ...(o.all ? ['revoked'] : [])]));
  return EXIT.ok;
}

export async function grantRevoke(ctx: VerbContext, id: string): Promise<number> {
  const { grant } = await ctx.api().post<{ grant: Grant }>(`/api/v1/grants/${encodeURIComponent(id)}/revoke`);
  ctx.out.result({ grant }, `Revoked grant ${grant.id} (${grant.userName} on ${grant.targetName}).`);
  return EXIT.ok;
}

interface SessionRow {
  id: string;
  userName: string;
  targetName: string;
  login: string;
  source: string | null;
  startedAt: string;
  endedAt: string | null;
  status: string;
  exitCode: number | null;
  bytesIn: number;
  bytesOut: number;
  live: { bytesIn: number; bytesOut: number } | null;
}

export async function sessionList(ctx: VerbContext, o: { user?: string; target?: string; active?: boolean; limit?: string }): Promise<number> {
  const q = new URLSearchParams();
  if (o.user) q.set('user', o.user);
  if (o.target) q.set('target', o.target);
  if (o.active) q.set('active', '1');
  if (o.limit) q.set('limit', o.limit);
  const { sessions } = await ctx.api().get<{ sessions: SessionRow[] }>(`/api/v1/sessions${q.size ? '?' + q.toString() : ''}`);
  ctx.out.result(sessions, () =>
    table(
      sessions.map((s) => ({
        id: s.id,
        user: s.userName,
        target: `${s.targetName}:${s.login}`,
        from: s.source,
        started: s.startedAt,
        status: s.status,
        exit: s.exitCode,
        in: s.live?.bytesIn ?? s.bytesIn,
        out: s.live?.bytesOut ?? s.bytesOut,
      })),
      ['id', 'user', 'target', 'from', 'started', 'status', 'exit', 'in', 'out'],
    ),
  );
  return EXIT.ok;
}

interface SessionDetail extends SessionRow {
  node: string | null;
  endReason: string | null;
  exitSignal: string | null;
  channels: Array<{ kind: string; at: string; command?: string; detail?: string }>;
  fileOps: FileOpJson[];
  /** Absent from servers older than the cap. */
  fileOpsOmitted?: number;
  access: AccessJson | null;
}

export async function sessionShow(ctx: VerbContext, id: string): Promise<number> {
  const { session: s } = await ctx.api().get<{ session: SessionDetail }>(`/api/v1/sessions/${encodeURIComponent(id)}`);
  ctx.out.result(s, () =>
    [
      ...fieldLines([
        ['session', s.id],
        ['user', s.userName],
        ['target', `${s.targetName} as ${s.login}`],
        ['from', s.source],
        ['node', s.node],
        ['started', s.startedAt],
        ['ended', s.endedAt ?? (s.live ? 'live' : null)],
        ['status', s.status + (s.endReason ? ` (${s.endReason})` : '')],
        ['exit', s.exitCode ?? s.exitSignal],
        ['bytes in/out', `${s.live?.bytesIn ?? s.bytesIn} / ${s.live?.bytesOut ?? s.bytesOut}`],
      ]),
      ...accessLines(s.access),
      `channels:        ${s.channels.length === 0 ? 'none' : ''}`,
      ...s.channels.map((c) => `  ${c.at}  ${c.kind}${c.command !== undefined ? `: ${inertText(c.command, { max: 200 })}` : c.detail ? ` ${inertText(c.detail, { max: 200 })}` : ''}`),
      ...fileOpLines(s.fileOps, s.fileOpsOmitted ?? 0),
    ].join('\n'),
  );
  return EXIT.ok;
}

export async function sessionTerminate(ctx: VerbContext, id: string, o: { reason?: string }): Promise<number> {
  await ctx.api().post(`/api/v1/sessions/${encodeURIComponent(id)}/terminate`, o.reason ? { reason: o.reason } : {});
  ctx.out.result({ terminated: id }, `Terminated session ${id}.`);
  return EXIT.ok;
}
