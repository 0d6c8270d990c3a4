import { AirlockError } from '../../core/index.js';
import type { VerbContext } from '../context.js';
import { EXIT, table } from '../output.js';
import { readStdin } from '../secrets-input.js';
import { terminalQr } from '../qr.js';

interface PublicUser {
  id: string;
  name: string;
  role: string;
  status: string;
  org: string | null;
  email: string | null;
  mfaEnrolled: boolean;
  createdAt: string;
}

interface Enrolment {
  user: PublicUser;
  password?: string;
  totp?: { secret: string; uri: string };
}

const path = (name: string) => `/api/v1/users/${encodeURIComponent(name)}`;

function describeUser(u: PublicUser): string {
  return [
    `name:     ${u.name}`,
    `role:     ${u.role}`,
    `status:   ${u.status}`,
    `org:      ${u.org ?? '-'}`,
    `email:    ${u.email ?? '-'}`,
    `mfa:      ${u.mfaEnrolled ? 'enrolled' : 'not enrolled'}`,
    `created:  ${u.createdAt}`,
    `id:       ${u.id}`,
  ].join('\n');
}

/** The enrolment as text, with the TOTP URI as a QR code to scan (--json output carries the URI only). */
export async function describeEnrolment(e: Enrolment, verb: string): Promise<string> {
  const qr = e.totp ? await terminalQr(e.totp.uri) : undefined;
  return [
    `${verb} ${e.user.name} (${e.user.role}).`,
    ...(e.password ? [`password (shown once): ${e.password}`] : []),
    ...(e.totp ? [`TOTP secret (shown once): ${e.totp.secret}`, `TOTP URI: ${e.totp.uri}`] : []),
    ...(qr ? ['Scan into an authenticator app:', qr.trimEnd()] : []),
  ].join('\n');
}

export async function userAdd(ctx: VerbContext, name: string, o: { role: string; org?: string; email?: string; passwordStdin?: boolean }): Promise<number> {
  const password = o.passwordStdin ? await readStdin() : undefined;
  const e = await ctx.api().post<Enrolment>('/api/v1/users', { name, role: o.role, org: o.org, email: o.email, password });
  ctx.out.result(e, await describeEnrolment(e, 'Added'));
  return EXIT.ok;
}

export async function userList(ctx: VerbContext, o: { role?: string; status?: string }): Promise<number> {
  const q = new URLSearchParams();
  if (o.role) q.set('role', o.role);
  if (o.status) q.set('status', o.status);
  const { users } = await ctx.api().get<{ users: PublicUser[] }>(`/api/v1/users${q.size ? '?' + q.toString() : ''}`);
  ctx.out.result(users, () => table(users as unknown as Array<Record<string, unknown>>, ['name', 'role', 'status', 'org', 'mfaEnrolled']));
  return EXIT.ok;
}

export async function userShow(ctx: VerbContext, name: string): Promise<number> {
  const { user } = await ctx.api().get<{ user: PublicUser }>(path(name));
  ctx.out.result(user, () => describeUser(user));
  return EXIT.ok;
}

export function userAction(action: 'disable' | 'enable' | 'reset-mfa' | 'unlock') {
  return async (ctx: VerbContext, name: string): Promise<number> => {
    if (!name) throw new AirlockError('ERR_USAGE', 'name a user');
    const e = await ctx.api().post<Enrolment>(`${path(name)}/${action}`);
    const done = { disable: 'Disabled', enable: 'Enabled', 'reset-mfa': 'Reset MFA of', unlock: 'Unlocked' }[action];
    ctx.out.result(e, action === 'reset-mfa' ? await describeEnrolment(e, done) : `${done} ${e.user.name}.`);
    return EXIT.ok;
  };
}
