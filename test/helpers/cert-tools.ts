import { execFileSync, spawn } from 'node:child_process';
import { createPrivateKey, sign as edSign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { generateEd25519, parseCertificate, wireString as str } from '../../identity/index.js';
import { ALICE_PASSWORD } from './gateway.js';
import type { GatewayHarness } from './gateway.js';
import { runCli } from './cli.js';
import type { CliResult } from './cli.js';
import type { SshResult, SshRunOptions } from './ssh-client.js';

/**
 * Tools for the SSH certificate tests: key pairs and certificates on disk, the
 * real `ssh-keygen -L` parsed, the real `ssh` with a certificate, a long-running
 * ssh whose output can be watched while it runs, and a hand-driven ssh2 client
 * that offers certificate blobs stock OpenSSH would refuse to send at all.
 */
export interface KeyFiles {
  key: string;
  pub: string;
  /** "ssh-ed25519 AAAA… comment" */
  line: string;
}

export function keyPair(dir: string, name: string): KeyFiles {
  const key = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', key]);
  return { key, pub: `${key}.pub`, line: readFileSync(`${key}.pub`, 'utf8').trim() };
}

/** The private key of a file written by ssh-keygen, as a Node KeyObject. */
export function privateKeyOf(k: KeyFiles): KeyObject {
  const parsed = ssh2.utils.parseKey(readFileSync(k.key));
  if (parsed instanceof Error || Array.isArray(parsed)) throw new Error(`cannot parse ${k.key}`);
  return createPrivateKey(parsed.getPrivatePEM());
}

/**
 * A fresh key pair in dir and an alice login certifying it (identity.login, as the
 * API does). The certificate file is not named *-cert.pub, so ssh loads only what
 * it is told to.
 */
export async function issueCert(g: GatewayHarness, dir: string, name: string, options: { ttlMs?: number; source?: string; pinSource?: boolean } = {}) {
  const k = keyPair(dir, name);
  const r = await g.services.identity.login(
    { name: 'alice', password: ALICE_PASSWORD, totp: g.totp(g.alice.totp.secret), source: options.source ?? '127.0.0.1' },
    { channel: 'api', publicKey: k.line, ttlMs: options.ttlMs, pinSource: options.pinSource },
  );
  const line = r.certificate?.line as string;
  return { k, r, line, cert: writeCert(dir, `${name}-c.pub`, line) };
}

/** The built CLI against the in-process server, with its own AIRLOCK_HOME. */
export function cliIn(g: GatewayHarness, home: string, args: string[], input?: string): Promise<CliResult> {
  return runCli(args, { env: { AIRLOCK_HOME: home, AIRLOCK_URL: g.server.web.url }, ...(input !== undefined ? { input } : {}) });
}

/** `airlock --json login` as alice with a fresh code. */
export function cliLogin(g: GatewayHarness, home: string, extra: string[] = []): Promise<CliResult> {
  return cliIn(g, home, ['--json', 'login', '--user', 'alice', '--password-stdin', '--totp', g.totp(g.alice.totp.secret), ...extra], ALICE_PASSWORD);
}

export function writeCert(dir: string, name: string, line: string): string {
  const file = join(dir, name);
  writeFileSync(file, line.trim() + '\n');
  return file;
}

export function certBlob(line: string): Buffer {
  return Buffer.from(line.trim().split(/\s+/)[1] as string, 'base64');
}

export interface CertListing {
  type: string;
  signingCa: string;
  keyId: string;
  serial: string;
  validFrom: Date;
  validTo: Date;
  principals: string[];
  criticalOptions: string[];
  extensions: string[];
}

/** `ssh-keygen -L -f file` (in UTC), parsed. */
export function keygenList(file: string): CertListing {
  const text = execFileSync('ssh-keygen', ['-L', '-f', file], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
  const field = (name: string) => new RegExp(`^\\s*${name}: ?(.*)$`, 'm').exec(text)?.[1]?.trim() ?? '';
  const list = (name: string) => {
    const m = new RegExp(`^\\s*${name}: ?(.*)\\n((?:\\s{16}\\S.*\\n?)*)`, 'm').exec(text);
    if (!m) return [];
    if (m[1]?.trim() === '(none)') return [];
    return (m[2] ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
  };
  const valid = /from (\S+) to (\S+)/.exec(field('Valid'));
  return {
    type: field('Type'),
    signingCa: field('Signing CA'),
    keyId: field('Key ID').replace(/^"|"$/g, ''),
    serial: field('Serial'),
    validFrom: new Date(`${valid?.[1]}Z`),
    validTo: new Date(`${valid?.[2]}Z`),
    principals: list('Principals'),
    criticalOptions: list('Critical Options'),
    extensions: list('Extensions'),
  };
}

/** ssh options for certificate login to the gateway: nothing but this key and certificate, no prompts. */
export function certArgs(g: GatewayHarness, key: string, cert?: string): string[] {
  return [
    '-F', '/dev/null',
    '-p', String(g.server.sshAddress.port),
    '-o', `UserKnownHostsFile=${g.ssh.knownHosts}`,
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'PreferredAuthentications=publickey',
    '-o', 'IdentitiesOnly=yes',
    '-o', 'IdentityAgent=none',
    '-o', 'BatchMode=yes',
    '-o', 'ConnectTimeout=20',
    '-i', key,
    ...(cert ? ['-o', `CertificateFile=${cert}`] : []),
  ];
}

export function sshCert(g: GatewayHarness, user: string, key: string, cert: string | undefined, remote: string[], options: SshRunOptions = {}): Promise<SshResult> {
  return g.ssh.spawn('ssh', [...certArgs(g, key, cert), ...(options.sshArgs ?? []), `${user}@127.0.0.1`, ...remote], options);
}

/** A running ssh whose output can be read while it runs. stdin stays open. */
export interface LiveSsh {
  stdout(): string;
  stderr(): string;
  /** When each stderr chunk arrived (wall clock). */
  stderrChunks: Array<{ at: number; text: string }>;
  /** Resolves with the exit and the wall-clock time it happened. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  kill(): void;
}

export function liveSsh(g: GatewayHarness, args: string[], env: NodeJS.ProcessEnv = g.ssh.env({})): LiveSsh {
  const child = spawn('ssh', args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const stderrChunks: Array<{ at: number; text: string }> = [];
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    stderrChunks.push({ at: Date.now(), text: d });
  });
  child.stdin.on('error', () => {});
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, at: Date.now() }));
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  void exited.then(() => clearTimeout(timer));
  return { stdout: () => out, stderr: () => err, stderrChunks, exited, kill: () => child.kill('SIGKILL') };
}

/**
 * Offers a certificate blob with the ssh2 client, signing the session with
 * `signer` (or sending `signature` as is). OpenSSH itself refuses to load a
 * certificate with a bad CA signature or a certificate as CA, so these cases
 * need a client that sends whatever it is given. Resolves true if airlock let
 * it in, false if it refused.
 */
export function offerCertificate(
  g: GatewayHarness,
  username: string,
  blob: Buffer,
  signer: KeyObject,
  options: { garbageSignature?: boolean } = {},
): Promise<boolean> {
  // A real parsed Ed25519 key gives ssh2's private "parsed key" marker; only its
  // type, public blob and signature are replaced.
  // generateEd25519: ssh2's own generator makes an unparsable key about 1 in 256 times (NOTES).
  const base = ssh2.utils.parseKey(generateEd25519('offer').privateKey);
  if (base instanceof Error || Array.isArray(base)) throw new Error('cannot make a key');
  const key = Object.create(base) as typeof base;
  Object.assign(key, {
    type: 'ssh-ed25519-cert-v01@openssh.com',
    getPublicSSH: () => blob,
    isPrivateKey: () => true,
    // ssh2 wraps the signature in the key algorithm's name, and ssh2's server
    // strips that wrapper again; inside it goes the wrapper OpenSSH sends.
    sign: (data: Buffer) =>
      Buffer.concat([str('ssh-ed25519'), str(options.garbageSignature ? Buffer.alloc(64, 7) : edSign(null, data, signer))]),
  });
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let attempted = false;
    const timer = setTimeout(() => {
      client.end();
      reject(new Error('ssh2 client timed out'));
    }, 20_000);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      client.end();
      resolve(ok);
    };
    client.on('ready', () => done(true));
    client.on('error', (err) => (/authentication methods failed/i.test(err.message) ? done(false) : (clearTimeout(timer), reject(err))));
    client.connect({
      host: '127.0.0.1',
      port: g.server.sshAddress.port,
      username,
      authHandler: (methods, _partial, next) => {
        if (!methods) return next({ type: 'none', username });
        next(methods.includes('publickey') && !attempted ? ((attempted = true), { type: 'publickey', username, key }) : (false as never));
      },
      hostVerifier: () => true,
      readyTimeout: 20_000,
    } as ssh2.ConnectConfig);
  });
}

/**
 * The same certificate with `signatureKey` as its CA key blob (anything, even a
 * certificate), signed by `signer`: a well-formed certificate from another "CA".
 */
export function resign(blob: Buffer, signatureKey: Buffer, signer: KeyObject): Buffer {
  const cert = parseCertificate(blob);
  const body = Buffer.concat([cert.signedPart.subarray(0, cert.signedPart.length - 4 - cert.signatureKey.length), str(signatureKey)]);
  return Buffer.concat([body, str(Buffer.concat([str('ssh-ed25519'), str(edSign(null, body, signer))]))]);
}

/** The certificate with its valid-before pushed 2^32 seconds later by one flipped bit (the CA signature unchanged). */
export function extendValidity(blob: Buffer): Buffer {
  const cert = parseCertificate(blob);
  const field = Buffer.alloc(8);
  field.writeBigUInt64BE(cert.validBefore);
  const at = blob.indexOf(field, 0);
  if (at < 0) throw new Error('valid-before not found');
  const copy = Buffer.from(blob);
  copy[at + 3] = (copy[at + 3] as number) ^ 0x01;
  if (parseCertificate(copy).validBefore <= cert.validBefore) throw new Error('the flip did not extend validity');
  return copy;
}

export function certLine(blob: Buffer, comment = 'crafted'): string {
  return `ssh-ed25519-cert-v01@openssh.com ${blob.toString('base64')} ${comment}`;
}
