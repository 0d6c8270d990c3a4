import { createServer } from 'node:net';
import type { AddressInfo, Server as TcpServer, Socket } from 'node:net';
import ssh2 from 'ssh2';
import type { Connection, ClientInfo } from 'ssh2';
import type { ListenAddress } from '../core/index.js';
import { FRONT_DOOR } from './algorithms.js';
import { GatewayConnection } from './connection.js';
import type { GatewayDeps } from './deps.js';
import type { HostKey } from './host-key.js';

/**
 * airlock's SSH front door. Before anyone has logged in, every connection is
 * cheap and bounded: a pre-auth timeout, a cap on connections still logging in
 * (in all and per source address), and a per-source rate of new connections, so a
 * flood of idle or slow clients cannot starve a real login (Warpgate
 * GHSA-78rf-vg74-7cr8). Connections over a limit are dropped before the key
 * exchange costs anything.
 *
 * The limits apply from the moment TCP accepts: airlock owns the listening socket
 * and hands admitted sockets to ssh2 (injectSocket). ssh2 reports a connection
 * only once the client has sent its version line, so a client that connects and
 * says nothing would otherwise never be timed out nor counted.
 */
export interface SshGatewayAddress {
  host: string;
  port: number;
}

export class SshGateway {
  readonly #server: ssh2.Server;
  readonly #tcp: TcpServer;
  /** Sockets not yet logged in, with what ends their pre-auth accounting. */
  readonly #unauthenticated = new Map<Socket, () => void>();
  readonly #connections = new Set<GatewayConnection>();
  readonly #pending = new Map<string, number>();
  #pendingTotal = 0;
  readonly #recent = new Map<string, number[]>();

  constructor(
    private readonly deps: GatewayDeps,
    readonly hostKey: HostKey,
  ) {
    const { ssh } = deps.config;
    this.#server = new ssh2.Server(
      {
        hostKeys: [hostKey.privateKey],
        algorithms: FRONT_DOOR,
        ident: 'airlock',
        banner: ssh.banner,
        keepaliveInterval: ssh.keepaliveInterval,
        keepaliveCountMax: ssh.keepaliveCountMax,
      },
      (client, info) => this.#guarded(client, () => this.#onConnection(client, info)),
    );
    this.#server.on('error', (err: Error) => deps.logger.error({ err }, 'ssh listener error'));
    this.#tcp = createServer((socket) => this.#guarded(socket, () => this.#onSocket(socket)));
    this.#tcp.on('error', (err: Error) => deps.logger.error({ err }, 'ssh listener error'));
  }

  listen(at: ListenAddress): Promise<SshGatewayAddress> {
    return new Promise((resolve, reject) => {
      this.#tcp.once('error', reject);
      this.#tcp.listen(at.port, at.host, () => {
        this.#tcp.off('error', reject);
        const a = this.#tcp.address() as AddressInfo;
        resolve({ host: a.address, port: a.port });
      });
    });
  }

  /** Live engineer connections on this node. */
  get connections(): ReadonlySet<GatewayConnection> {
    return this.#connections;
  }

  /** Stops listening, ends every connection with a message, and waits for their session rows. */
  async close(reason = 'airlock is shutting down'): Promise<void> {
    const closing = new Promise<void>((resolve) => this.#tcp.close(() => resolve()));
    for (const socket of this.#unauthenticated.keys()) socket.destroy();
    const finished = [...this.#connections].map((c) => c.finished);
    for (const c of this.#connections) c.terminate(reason, 'terminated');
    const timeout = new Promise<void>((resolve) => this.deps.scheduler.after(5000, resolve));
    await Promise.race([Promise.all([closing, ...finished]), timeout]);
  }

  /** A new TCP connection: admitted (and timed) or dropped before ssh2 sees it. */
  #onSocket(socket: Socket): void {
    const { ssh } = this.deps.config;
    const source = normalizeAddress(socket.remoteAddress ?? '');
    socket.on('error', () => {}); // resets and half-handshakes are normal on the internet
    const refusal = this.#admit(source);
    if (refusal) {
      this.deps.logger.info({ source, refusal }, 'ssh connection refused before login');
      socket.destroy();
      return;
    }
    socket.setNoDelay(true); // keystrokes must not wait for ACKs (NOTES.md)
    this.#pending.set(source, (this.#pending.get(source) ?? 0) + 1);
    this.#pendingTotal++;
    let pending = true;
    const settle = () => {
      if (!pending) return;
      pending = false;
      timer.cancel();
      this.#unauthenticated.delete(socket);
      this.#pendingTotal--;
      const n = (this.#pending.get(source) ?? 1) - 1;
      if (n > 0) this.#pending.set(source, n);
      else this.#pending.delete(source);
    };
    const timer = this.deps.scheduler.after(ssh.preAuthTimeout, () => {
      this.deps.logger.info({ source }, 'ssh login timed out');
      settle();
      socket.destroy();
    });
    this.#unauthenticated.set(socket, settle);
    socket.once('close', settle);
    this.#server.injectSocket(socket);
  }

  /** ssh2 has read the client's version line: authentication follows. */
  #onConnection(client: Connection, info: ClientInfo): void {
    const source = normalizeAddress(info.ip);
    const socket = (client as unknown as { _sock: Socket })._sock;
    client.on('error', () => {});
    const settle = this.#unauthenticated.get(socket);
    if (!settle) {
      // Timed out or closed meanwhile.
      socket.destroy();
      return;
    }
    const connection = new GatewayConnection(this.deps, client, source, settle);
    this.#connections.add(connection);
    client.on('close', () => {
      settle();
      this.#connections.delete(connection);
    });
  }

  /**
   * The listener's own handlers, before a connection has its Guard
   * (gateway/guard.ts): a throw drops that one socket and is logged; the
   * listener and every other connection go on.
   */
  #guarded(conn: Socket | Connection, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.deps.logger.error({ err }, 'ssh listener failed on one connection; dropping it');
      try {
        if ('destroy' in conn) conn.destroy();
        else conn.end();
      } catch {
        /* already gone */
      }
    }
  }

  /** Why a new connection from this source is refused, or undefined to admit it. */
  #admit(source: string): string | undefined {
    const { ssh } = this.deps.config;
    if (this.#pendingTotal >= ssh.maxUnauthenticated) return 'too many connections logging in';
    if ((this.#pending.get(source) ?? 0) >= ssh.maxUnauthenticatedPerSource) return 'too many connections logging in from this address';
    const now = this.deps.clock.now().getTime();
    const recent = (this.#recent.get(source) ?? []).filter((t) => now - t < 60_000);
    if (recent.length >= ssh.connectionsPerMinutePerSource) {
      this.#recent.set(source, recent);
      return 'connection rate from this address';
    }
    recent.push(now);
    this.#recent.set(source, recent);
    if (this.#recent.size > 10_000) this.#pruneRecent(now);
    return undefined;
  }

  #pruneRecent(now: number): void {
    for (const [source, times] of this.#recent) {
      if (!times.some((t) => now - t < 60_000)) this.#recent.delete(source);
    }
  }
}

export function normalizeAddress(ip: string): string {
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}
