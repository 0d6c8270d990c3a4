import type { AccessRequest } from '../approvals/index.js';
import type { WebDeps } from './deps.js';

/**
 * What a session or recording ran under, for whoever reads it: the break-glass
 * request (reason, ticket, who approved with what comment, until when), or null
 * for access that needed no approval.
 */
export interface AccessContext {
  requestId: string;
  status: AccessRequest['status'];
  reason: string | null;
  ticket: string | null;
  approvals: AccessRequest['approvals'];
  grantedUntil: Date | null;
  revokedBy: string | null;
  revokeComment: string | null;
}

export async function accessContext(s: Pick<WebDeps, 'requests'>, requestId: string | null): Promise<AccessContext | null> {
  if (!requestId) return null;
  const r = await s.requests.get(requestId);
  return {
    requestId: r.id,
    status: r.status,
    reason: r.reason,
    ticket: r.ticket,
    approvals: r.approvals,
    grantedUntil: r.grantedUntil,
    revokedBy: r.revokedBy,
    revokeComment: r.revokeComment,
  };
}
