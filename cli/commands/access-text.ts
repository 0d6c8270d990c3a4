import { inertText } from '../../core/index.js';
import type { FileOp } from '../../gateway/index.js';

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

/** A file operation as the API gives it. */
export type FileOpJson = FileOp;

/**
 * The file operations of "session show", and how many more the session had
 * than its row keeps. A path airlock cut (it ends in "…") is shown with its
 * full length and SHA-256, which is what still identifies it.
 */
export function fileOpLines(ops: FileOpJson[], omitted: number): string[] {
  if (ops.length === 0 && omitted === 0) return [];
  const path = (p: string, length?: number, sha256?: string) =>
    inertText(p, { max: 300 }) + (length !== undefined ? ` (path cut: ${length} bytes, sha256 ${sha256 ?? '?'})` : '');
  return [
    'file operations:',
    ...ops.map(
      (f) =>
        `  ${f.at}  ${f.op}${f.ok === false ? ' (failed)' : ''} ${path(f.path, f.pathLength, f.pathSha256)}` +
        (f.path2 !== undefined ? ` -> ${path(f.path2, f.path2Length, f.path2Sha256)}` : '') +
        (f.bytes !== undefined ? ` (${f.bytes} bytes)` : '') +
        (f.sha256 ? ` sha256 ${f.sha256}` : ''),
    ),
    ...(omitted > 0 ? [`  … and ${omitted} more file operation${omitted === 1 ? '' : 's'}, omitted from the session record (they are in its recording)`] : []),
  ];
}
