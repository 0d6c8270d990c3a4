import { inertText } from '../../core/index.js';

/** The break-glass context a session or recording ran under, as the API gives it (web/access-context.ts). */
export interface AccessJson {
  requestId: string;
  status: string;
  reason: string | null;
  ticket: string | null;
  approvals: Array<{ approver: string; at: string; comment: string | null }>;
  grantedUntil: string | null;
  revokedBy: string | null;
  revokeComment: string | null;
}

/** Lines for "show" verbs; what people typed is made inert. */
export function accessLines(access: AccessJson | null | undefined): string[] {
  if (!access) return ['access:          standing grant (no break-glass approval needed)'];
  const t = (v: string | null) => (v === null ? '-' : inertText(v, { max: 1000 }));
  return [
    `access:          break-glass request ${access.requestId} (${access.status})`,
    `  reason:        ${t(access.reason)}`,
    `  ticket:        ${t(access.ticket)}`,
    ...access.approvals.map((a) => `  approved by:   ${a.approver} at ${a.at}${a.comment ? ` ("${t(a.comment)}")` : ''}`),
    `  granted until: ${access.grantedUntil ?? '-'}`,
    ...(access.revokedBy ? [`  revoked by:    ${access.revokedBy}${access.revokeComment ? `: ${t(access.revokeComment)}` : ''}`] : []),
  ];
}

/** key: value lines, aligned, values made inert. */
export function fieldLines(fields: Array<[string, unknown]>): string[] {
  return fields.map(([k, v]) => `${(k + ':').padEnd(16)} ${v === null || v === undefined ? '-' : inertText(typeof v === 'object' ? JSON.stringify(v) : String(v), { max: 2000 })}`);
}
