import { execFileSync } from 'node:child_process';
import { startServer } from '../../server/server.js';
import type { RunningServer } from '../../server/server.js';
import type { Target } from '../../approvals/index.js';
import type { Enrolment } from '../../identity/index.js';
import { OffsetClock } from './clock.js';
import type { Logger } from '../../core/logger.js';
import type { Engine } from './db.js';
import { openTestServices } from './services.js';
import type { TestServices } from './services.js';
import { SshClient } from './ssh-client.js';
import type { SshResult, SshRunOptions } from './ssh-client.js';
import { startSshd } from './sshd.js';
import type { Sshd } from './sshd.js';

/**
 * airlock in-process (SSH on 127.0.0.1:0) in front of a real sshd target "t1",
 * with an engineer "alice" granted t1, and the real ssh client pointed at it.
 */
export interface GatewayHarness {
  services: TestServices;
  server: RunningServer;
  sshd: Sshd;
  target: Target;
  alice: Enrolment;
  clock: OffsetClock;
  ssh: SshClient;
  /** A fresh code for a user's secret: moves the clock on one step first. */
  totp(secret: string): string;
  /** ssh as alice with her password and a fresh code. */
  asAlice(dest: string, remote: string[], options?: SshRunOptions): Promise<SshResult>;
  stop(): Promise<void>;
}

export const ALICE_PASSWORD = 'alice-correct-horse-1';

export async function startGateway(
  engine: Engine,
  options: {
    grant?: { allowSftp?: boolean; allowForwarding?: boolean; logins?: string[] };
    overrides?: Record<string, unknown>;
    /** Where airlock logs (a test that reads its log lines); silent otherwise. */
    logger?: Logger;
  } = {},
): Promise<GatewayHarness> {
  const clock = new OffsetClock();
  const services = await openTestServices(engine, { clock, overrides: { 'ssh.listen': '127.0.0.1:0', ...options.overrides }, ...(options.logger ? { logger: options.logger } : {}) });
  const sshd = await startSshd();
  const server = await startServer(services);
  const system = { name: 'test-admin' };
  const alice = await services.identity.users.add({ name: 'alice', role: 'engineer', password: ALICE_PASSWORD, org: 'Acme MSP' }, system);
  const target = await services.targets.add(
    { name: 't1', host: '127.0.0.1', port: sshd.port, login: sshd.login, secret: { kind: 'key', secret: sshd.clientKey }, sensitivity: 'standard', hostKey: sshd.hostKey },
    system,
  );
  await services.grants.grant(alice.user, target, options.grant ?? {}, system);
  const ssh = new SshClient(server.sshAddress.port, server.ssh.hostKey.publicKeyLine);
  const totp = (secret: string) => {
    clock.advance(30_000);
    return execFileSync('oathtool', ['--totp', '-b', secret, '--now', clock.oathNow()], { encoding: 'utf8' }).trim();
  };
  return {
    services,
    server,
    sshd,
    target,
    alice,
    clock,
    ssh,
    totp,
    asAlice: (dest, remote, opts = {}) => ssh.run(dest, remote, { password: ALICE_PASSWORD, totp: totp(alice.totp.secret), ...opts }),
    async stop() {
      await server.close();
      await sshd.stop();
      ssh.cleanup();
      await services.close();
    },
  };
}
