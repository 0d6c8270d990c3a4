import { readFileSync } from 'node:fs';
import { AirlockError } from '../../core/index.js';
import type { VerbContext } from '../context.js';
import { EXIT, table } from '../output.js';
import { readStdin } from '../secrets-input.js';

interface PublicTarget {
  name: string;
  host: string;
  port: number;
  defaultLogin: string;
  logins: string[];
  sensitivity: string;
  hostKey: string | null;
  hostKeyFingerprint: string | null;
  tags: string[];
  description: string | null;
}

interface TargetOptions {
  host?: string;
  port?: string;
  login?: string;
  keyFile?: string;
  passwordStdin?: boolean;
  sensitivity?: string;
  hostKey?: string;
  tags?: string;
  description?: string;
  removeLogin?: string;
  defaultLogin?: string;
}

const path = (name: string) => `/api/v1/targets/${encodeURIComponent(name)}`;

async function secretFrom(o: TargetOptions): Promise<{ key?: string; password?: string }> {
  if (o.keyFile && o.passwordStdin) throw new AirlockError('ERR_USAGE', 'give --key-file or --password-stdin, not both');
  if (o.keyFile) {
    try {
      return { key: readFileSync(o.keyFile, 'utf8') };
    } catch (err) {
      throw new AirlockError('ERR_USAGE', `cannot read --key-file ${o.keyFile}: ${(err as Error).message}`);
    }
  }
  if (o.passwordStdin) return { password: await readStdin() };
  return {};
}

function port(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new AirlockError('ERR_USAGE', '--port must be 1–65535');
  return n;
}

/** A --host-key value: a key line, or SHA256 fingerprint is not enough to pin; a file path is read. */
function hostKeyFrom(value: string | undefined): string | undefined {
  if (!value) return undefined;
  if (/^(ssh-|ecdsa-|rsa-)/.test(value)) return value;
  try {
    return readFileSync(value, 'utf8').trim();
  } catch {
    throw new AirlockError('ERR_USAGE', '--host-key takes the public key line ("ssh-ed25519 AAAA…") or a file holding it');
  }
}

function describe(t: PublicTarget): string {
  return [
    `name:         ${t.name}`,
    `address:      ${t.host}:${t.port}`,
    `sensitivity:  ${t.sensitivity}`,
    `logins:       ${t.logins.join(', ')} (default ${t.defaultLogin})`,
    `host key:     ${t.hostKeyFingerprint ?? 'NOT PINNED: connections are refused'}`,
    `tags:         ${t.tags.join(', ') || '-'}`,
    `description:  ${t.description ?? '-'}`,
  ].join('\n');
}

export async function targetAdd(ctx: VerbContext, name: string, o: TargetOptions): Promise<number> {
  const secret = await secretFrom(o);
  if (!secret.key && !secret.password) throw new AirlockError('ERR_USAGE', 'give --key-file FILE or --password-stdin: what airlock logs in to the target with');
  const res = await ctx.api().post<{ target: PublicTarget; hostKeyPinnedBy: string }>('/api/v1/targets', {
    name,
    host: o.host,
    port: port(o.port) ?? 22,
    login: o.login,
    sensitivity: o.sensitivity ?? 'standard',
    ...(o.hostKey ? { hostKey: hostKeyFrom(o.hostKey) } : {}),
    ...(o.tags ? { tags: o.tags.split(',').map((t) => t.trim()).filter(Boolean) } : {}),
    ...(o.description ? { description: o.description } : {}),
    ...secret,
  });
  const note =
    res.hostKeyPinnedBy === 'scan'
      ? `\nHost key pinned from a scan: ${res.target.hostKeyFingerprint}\nCompare it with the server's own (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on ${res.target.host}).`
      : '';
  ctx.out.result(res, `Added target ${name}.\n${describe(res.target)}${note}`);
  return EXIT.ok;
}

export async function targetList(ctx: VerbContext): Promise<number> {
  const { targets } = await ctx.api().get<{ targets: Array<Record<string, unknown>> }>('/api/v1/targets');
  const columns = targets[0] && 'host' in targets[0] ? ['name', 'host', 'port', 'sensitivity', 'defaultLogin', 'hostKeyFingerprint'] : ['name', 'sensitivity', 'logins', 'sftp', 'forwarding'];
  ctx.out.result(targets, () => table(targets, columns));
  return EXIT.ok;
}

export async function targetShow(ctx: VerbContext, name: string): Promise<number> {
  const { target } = await ctx.api().get<{ target: PublicTarget }>(path(name));
  ctx.out.result(target, () => describe(target));
  return EXIT.ok;
}

export async function targetUpdate(ctx: VerbContext, name: string, o: TargetOptions): Promise<number> {
  const secret = await secretFrom(o);
  const { target } = await ctx.api().request<{ target: PublicTarget }>('PATCH', path(name), {
    ...(o.host ? { host: o.host } : {}),
    ...(o.port ? { port: port(o.port) } : {}),
    ...(o.sensitivity ? { sensitivity: o.sensitivity } : {}),
    ...(o.hostKey ? { hostKey: hostKeyFrom(o.hostKey) } : {}),
    ...(o.tags ? { tags: o.tags.split(',').map((t) => t.trim()).filter(Boolean) } : {}),
    ...(o.description ? { description: o.description } : {}),
    ...(o.defaultLogin ? { defaultLogin: o.defaultLogin } : {}),
    ...(o.login ? { login: o.login } : {}),
    ...(o.removeLogin ? { removeLogin: o.removeLogin } : {}),
    ...secret,
  });
  ctx.out.result({ target }, `Updated target ${name}.\n${describe(target)}`);
  return EXIT.ok;
}

export async function targetRemove(ctx: VerbContext, name: string): Promise<number> {
  await ctx.api().request('DELETE', path(name));
  ctx.out.result({ removed: name }, `Removed target ${name}.`);
  return EXIT.ok;
}

export async function targetScan(ctx: VerbContext, name: string, o: { accept?: boolean }): Promise<number> {
  const res = await ctx.api().post<{ presented: { publicKey: string; fingerprint: string }; pinned: string | null; matches: boolean }>(`${path(name)}/scan`, {
    accept: Boolean(o.accept),
  });
  const text = [
    `${name} presents: ${res.presented.fingerprint}`,
    `  ${res.presented.publicKey}`,
    `pinned:           ${res.pinned ?? 'nothing'}`,
    res.matches ? (o.accept ? 'Pinned.' : 'The pinned key matches.') : 'The presented key does NOT match the pinned one. If the change is expected, confirm with --accept.',
  ].join('\n');
  ctx.out.result(res, text);
  return res.matches ? EXIT.ok : EXIT.verifyFailed;
}
