import { AirlockError, isAirlockError } from '../../core/index.js';
import { ApiClient, forgetLogin, readStoredLogin, serverUrl, storeLogin } from '../client.js';
import type { VerbContext } from '../context.js';
import { EXIT, table } from '../output.js';
import { promptHidden, promptLine, readStdin } from '../secrets-input.js';
import { newKeyPair, removeSshFiles, writeSshFiles } from '../ssh-files.js';
import type { SshFiles } from '../ssh-files.js';
import { sshFingerprint as fingerprint } from '../../identity/index.js';

interface LoginResponse {
  token: string;
  login: { id: string; expiresAt: string; createdAt: string; source: string | null; userId: string };
  user: { name: string; role: string };
  /** null: no key was sent; role_not_allowed: this role never opens SSH sessions, so nothing was certified. */
  ssh: 'certified' | 'role_not_allowed' | null;
  certificate?: { line: string; serial: string; keyId: string; ca: string };
}

export async function loginVerb(
  ctx: VerbContext,
  o: { user?: string; passwordStdin?: boolean; totp?: string; ttl?: string; ssh?: boolean; pinSource?: boolean },
): Promise<number> {
  if (o.passwordStdin && !o.totp) throw new AirlockError('ERR_USAGE', 'with --password-stdin, pass the verification code with --totp');
  const user = o.user ?? (await promptLine('User: ', '--user'));
  const password = o.passwordStdin ? await readStdin() : await promptHidden('Password: ', '--password-stdin');
  const totp = o.totp ?? (await promptLine('Verification code: ', '--totp'));
  const url = serverUrl(ctx.opts.url);
  // The key pair is made here; only the public half is sent to be certified.
  const keys = o.ssh === false ? undefined : newKeyPair();
  const res = await new ApiClient(url).post<LoginResponse>('/api/v1/login', {
    user,
    password,
    totp,
    ...(o.ttl ? { ttl: o.ttl } : {}),
    ...(keys ? { publicKey: keys.publicKey } : {}),
    ...(o.pinSource ? { pinSource: true } : {}),
  });
  let ssh: { files: SshFiles; host: string; port: number; fingerprint: string } | undefined;
  if (keys && res.certificate) {
    const client = new ApiClient(url, res.token);
    const status = await client.get<{ ssh: string; sshHostKeyLine: string }>('/api/v1/status');
    const { targets } = await client.get<{ targets: Array<{ name: string }> }>('/api/v1/targets');
    const port = Number(status.ssh.slice(status.ssh.lastIndexOf(':') + 1));
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    const files = writeSshFiles({
      privateKey: keys.privateKey,
      publicKey: keys.publicKey,
      certificate: res.certificate.line,
      user: res.user.name,
      sshHost: host,
      sshPort: port,
      hostKeyLine: status.sshHostKeyLine,
      targets: targets.map((t) => t.name),
      expiresAt: res.login.expiresAt,
    });
    ssh = { files, host, port, fingerprint: fingerprint(Buffer.from(keys.publicKey.split(/\s+/)[1] as string, 'base64')) };
  }
  const file = storeLogin({
    url,
    token: res.token,
    user: res.user.name,
    role: res.user.role,
    loginId: res.login.id,
    expiresAt: res.login.expiresAt,
    ...(ssh && res.certificate
      ? { certificate: { serial: res.certificate.serial, keyId: res.certificate.keyId, ca: res.certificate.ca, file: ssh.files.certificate, fingerprint: ssh.fingerprint } }
      : {}),
  });
  // An ssh_config from an earlier login of another role must not linger and mislead.
  if (!ssh) removeSshFiles();
  const lines = [`Logged in to ${url} as ${res.user.name} (${res.user.role}) until ${res.login.expiresAt}.`, `Login id ${res.login.id}; API token stored in ${file}.`];
  if (res.ssh === 'role_not_allowed') lines.push(`No SSH certificate: the ${res.user.role} role does not open SSH sessions (use the web console and the airlock command).`);
  if (ssh) {
    lines.push(
      `SSH certificate (serial ${res.certificate?.serial}) for key ${ssh.fingerprint}, valid until ${res.login.expiresAt}.`,
      `Connect with:  ssh -F ${ssh.files.config} TARGET`,
      `          or:  ssh -i ${ssh.files.key} -p ${ssh.port} ${res.user.name}@TARGET@${ssh.host}`,
    );
  }
  ctx.out.result({ user: res.user, login: res.login, url, credentials: file, ssh: ssh ? { ...ssh.files, host: ssh.host, port: ssh.port } : null }, lines.join('\n'));
  return EXIT.ok;
}

export async function logoutVerb(ctx: VerbContext): Promise<number> {
  const stored = readStoredLogin();
  if (!stored) {
    ctx.out.result({ loggedOut: false }, 'Not logged in.');
    return EXIT.ok;
  }
  try {
    await new ApiClient(serverUrl(ctx.opts.url ?? stored.url), stored.token).post('/api/v1/logout');
  } catch (err) {
    // An expired or already revoked token is as logged out as it gets; anything
    // else (server down) must not pretend the login ended on the server.
    if (!(isAirlockError(err) && ['ERR_TOKEN_EXPIRED', 'ERR_TOKEN_REVOKED', 'ERR_TOKEN_INVALID', 'ERR_ACCOUNT_DISABLED'].includes(err.code))) throw err;
  }
  forgetLogin();
  removeSshFiles();
  ctx.out.result({ loggedOut: true, loginId: stored.loginId }, `Logged out ${stored.user} (login ${stored.loginId} revoked).`);
  return EXIT.ok;
}

export async function loginRevoke(ctx: VerbContext, id: string): Promise<number> {
  const { login } = await ctx.api().post<{ login: { id: string } }>(`/api/v1/logins/${encodeURIComponent(id)}/revoke`);
  ctx.out.result({ login }, `Revoked login ${login.id}.`);
  return EXIT.ok;
}

export async function loginsList(ctx: VerbContext): Promise<number> {
  const { logins } = await ctx.api().get<{ logins: Array<Record<string, unknown>> }>('/api/v1/logins');
  ctx.out.result(logins, () => table(logins, ['id', 'userId', 'source', 'createdAt', 'expiresAt']));
  return EXIT.ok;
}

export async function statusVerb(ctx: VerbContext): Promise<number> {
  const stored = readStoredLogin();
  const url = serverUrl(ctx.opts.url);
  if (!stored) {
    ctx.out.result({ url, loggedIn: false }, `Server ${url}; not logged in (run "airlock login").`);
    return EXIT.auth;
  }
  const client = new ApiClient(url, stored.token);
  const [me, status] = await Promise.all([
    client.get<{ user: { name: string; role: string }; login: { id: string; expiresAt: string } }>('/api/v1/me'),
    client.get<Record<string, unknown>>('/api/v1/status'),
  ]);
  ctx.out.result({ url, loggedIn: true, user: me.user, login: me.login, server: status }, () =>
    [
      `server:    ${url} (airlock ${String(status['version'])}, ${String(status['database'])} database)`,
      `user:      ${me.user.name} (${me.user.role})`,
      `login:     ${me.login.id}, valid until ${me.login.expiresAt}`,
      ...(stored.certificate ? [`ssh cert:  serial ${stored.certificate.serial}, key ${stored.certificate.fingerprint}, CA ${stored.certificate.ca}`, `           ${stored.certificate.file}`] : []),
      ...Object.entries(status)
        .filter(([k]) => !['version', 'database'].includes(k))
        .map(([k, v]) => `${(k + ':').padEnd(10)} ${typeof v === 'string' ? v : JSON.stringify(v)}`),
    ].join('\n'),
  );
  return EXIT.ok;
}

export async function keysRotate(ctx: VerbContext): Promise<number> {
  const { kid } = await ctx.api().post<{ kid: string }>('/api/v1/keys/rotate');
  ctx.out.result({ kid }, `New API signing key ${kid}; older keys verify until their tokens expire.`);
  return EXIT.ok;
}

export async function caShow(ctx: VerbContext): Promise<number> {
  const { keys } = await ctx.api().get<{ keys: Array<{ line: string; fingerprint: string; signing: boolean; retiredAt: string | null }> }>('/api/v1/ca');
  ctx.out.result(keys, () =>
    keys.map((k) => `${k.line}\n  ${k.fingerprint} ${k.signing ? '(signing)' : `(verifying only; retired ${k.retiredAt})`}`).join('\n'),
  );
  return EXIT.ok;
}

export async function caRotate(ctx: VerbContext): Promise<number> {
  const { keys } = await ctx.api().post<{ keys: Array<{ line: string; fingerprint: string; signing: boolean }> }>('/api/v1/ca/rotate');
  const signing = keys.find((k) => k.signing);
  ctx.out.result(keys, `New SSH user CA key ${signing?.fingerprint}; certificates from older keys keep working until they expire.`);
  return EXIT.ok;
}
