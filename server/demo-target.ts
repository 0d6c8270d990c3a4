import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { Logger } from '../core/index.js';
import { generateEd25519, publicKeyLine } from '../identity/index.js';
import { SSHD_PATHS, startLoopbackSshd } from './loopback-sshd.js';

/**
 * The demo's target server, on loopback only. With OpenSSH's sshd on the machine
 * it runs a real sshd as the current user, with its own config, host key and
 * authorized key under <dataDir>/demo-target. Without one it runs a small
 * built-in SSH server that gives a real shell in a scratch directory.
 */
export interface DemoTarget {
  kind: 'sshd' | 'built-in';
  host: string;
  port: number;
  login: string;
  /** Private key airlock logs in with. */
  clientKey: string;
  /** "ssh-ed25519 AAAA…", pinned in the target record. */
  hostKey: string;
  stop(): Promise<void>;
}



function keyPair(path: string): { privateKey: string; publicKey: string } {
  if (!existsSync(path)) {
    const pair = generateEd25519('airlock demo');
    writeFileSync(path, pair.privateKey, { mode: 0o600 });
    writeFileSync(path + '.pub', pair.publicKey + '\n');
  }
  return { privateKey: readFileSync(path, 'utf8'), publicKey: readFileSync(path + '.pub', 'utf8').trim() };
}

export async function startDemoTarget(dataDir: string, logger: Logger): Promise<DemoTarget> {
  const dir = join(dataDir, 'demo-target');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  const host = keyPair(join(dir, 'host_key'));
  const client = keyPair(join(dir, 'client_key'));
  const hostKey = host.publicKey.split(/\s+/).slice(0, 2).join(' ');
  const sshd = SSHD_PATHS.find((p) => existsSync(p));
  if (sshd) {
    try {
      return await startSshd(sshd, dir, hostKey, client, logger);
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'cannot start the demo sshd; using the built-in target');
    }
  }
  return startBuiltIn(dir, host.privateKey, client, logger);
}

async function startSshd(sshd: string, dir: string, hostKey: string, client: { privateKey: string; publicKey: string }, logger: Logger): Promise<DemoTarget> {
  writeFileSync(join(dir, 'authorized_keys'), client.publicKey + '\n', { mode: 0o644 });
  const server = await startLoopbackSshd({ dir, binary: sshd });
  server.child.stderr?.on('data', (d: Buffer) => logger.debug({ sshd: d.toString().trim() }, 'demo target'));
  return { kind: 'sshd', host: '127.0.0.1', port: server.port, login: userInfo().username, clientKey: client.privateKey, hostKey, stop: () => server.stop() };
}

/**
 * The fallback target: accepts only airlock's demo key, runs commands and shells
 * with /bin/sh in a scratch directory (a pty through util-linux `script` when
 * available), and serves nothing else.
 */
async function startBuiltIn(dir: string, hostPrivateKey: string, client: { privateKey: string; publicKey: string }, logger: Logger): Promise<DemoTarget> {
  const scratch = join(dir, 'scratch');
  mkdirSync(scratch, { recursive: true });
  const allowed = ssh2.utils.parseKey(client.publicKey);
  if (allowed instanceof Error) throw allowed;
  const haveScript = existsSync('/usr/bin/script');
  const server = new ssh2.Server({ hostKeys: [hostPrivateKey] }, (conn) => {
    conn.on('error', () => {});
    conn.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey' || !ctx.key.data.equals(allowed.getPublicSSH())) return ctx.reject(['publickey']);
      if (!ctx.signature) return ctx.accept(); // the query; the signed request follows
      return allowed.verify(ctx.blob as Buffer, ctx.signature, ctx.hashAlgo) ? ctx.accept() : ctx.reject(['publickey']);
    });
    conn.on('session', (accept) => {
      const session = accept();
      let pty: { cols: number; rows: number; term: string } | undefined;
      session.on('pty', (ok, _no, info) => {
        pty = info;
        ok?.();
      });
      const run = (ch: ssh2.ServerChannel, command: string | undefined) => {
        const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: scratch, TERM: pty?.term ?? 'dumb', PS1: 'demo$ ' };
        const shell = command ?? (pty && haveScript ? undefined : '/bin/sh -i');
        const proc = shell
          ? spawn('/bin/sh', ['-c', shell], { cwd: scratch, env })
          : spawn('script', ['-qfc', `stty cols ${pty?.cols ?? 80} rows ${pty?.rows ?? 24}; exec /bin/sh -i`, '/dev/null'], { cwd: scratch, env });
        ch.pipe(proc.stdin);
        proc.stdout.pipe(ch, { end: false });
        proc.stderr.pipe(ch.stderr, { end: false });
        proc.on('close', (code) => {
          ch.exit(code ?? 1);
          ch.end();
        });
        ch.on('close', () => proc.kill());
      };
      session.on('shell', (ok) => run(ok(), undefined));
      session.on('exec', (ok, _no, info) => run(ok(), info.command));
    });
  });
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
  logger.info({ port }, 'built-in demo target listening');
  return {
    kind: 'built-in',
    host: '127.0.0.1',
    port,
    login: 'demo',
    clientKey: client.privateKey,
    hostKey: publicKeyLine((ssh2.utils.parseKey(hostPrivateKey) as ssh2.ParsedKey).getPublicSSH()),
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
