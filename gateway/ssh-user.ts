import { USER_NAME } from '../identity/index.js';
import { LOGIN_NAME, TARGET_NAME } from '../approvals/index.js';

/**
 * The SSH user name carries the airlock user, the target and optionally the target
 * login: "alice@db01:postgres". It splits at the last "@" so that user names could
 * one day contain "@" without ambiguity. A plain "alice" asks for the target menu.
 */
export interface SshUser {
  user: string;
  target?: string;
  login?: string;
}

export function parseSshUser(raw: string): SshUser | undefined {
  if (raw.length === 0 || raw.length > 160) return undefined;
  const at = raw.lastIndexOf('@');
  if (at === -1) return USER_NAME.test(raw) ? { user: raw } : undefined;
  const user = raw.slice(0, at);
  const rest = raw.slice(at + 1);
  const colon = rest.indexOf(':');
  const target = colon === -1 ? rest : rest.slice(0, colon);
  const login = colon === -1 ? undefined : rest.slice(colon + 1);
  if (!USER_NAME.test(user) || !TARGET_NAME.test(target)) return undefined;
  if (login !== undefined && !LOGIN_NAME.test(login)) return undefined;
  return { user, target, ...(login !== undefined ? { login } : {}) };
}
