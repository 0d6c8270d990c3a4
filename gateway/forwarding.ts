import type { AcceptConnection, Connection, RejectConnection, ServerChannel, TcpipRequestInfo } from 'ssh2';
import { AirlockError } from '../core/index.js';
import type { ChannelKind } from './channel-budget.js';
import type { ChannelHost } from './channel-host.js';
import { relayTcp } from './relay.js';
import { sshMessage } from './ssh-errors.js';
import { OPEN_FAILURE, rejectChannel } from './ssh2-patches.js';
import type { TargetLink } from './target-link.js';

/**
 * Port forwarding (RFC 4254 §7), only where a grant allows it: local forwards
 * (direct-tcpip, `ssh -L` and `-W`) open a channel from the target to the
 * destination; remote forwards (tcpip-forward, `ssh -R`) listen on the target
 * and bring each connection back as a forwarded-tcpip channel. Every forward is
 * on the session row and audited; a refused one is audited and its reason told
 * to the client. Agent, X11 and streamlocal forwarding are never allowed.
 */
const noForwarding = () => new AirlockError('ERR_GRANT_NO_FORWARDING', 'port forwarding is not allowed by your grant');

export class Forwarding {
  #listening = false;

  constructor(
    private readonly host: ChannelHost,
    private readonly conn: Connection,
    /** A channel from the connection's budget (gateway/channel-budget.ts): its release, or undefined when full. */
    private readonly admit: (kind: ChannelKind) => (() => void) | undefined,
  ) {}

  /** ssh -L / -W: a channel to a destination, opened from the target. */
  async directTcpip(accept: AcceptConnection<ServerChannel>, reject: RejectConnection, info: TcpipRequestInfo, release: () => void): Promise<void> {
    const refuse = (reason: number, err: unknown) => {
      release();
      rejectChannel(this.conn, reject, reason, sshMessage(err, this.host.deps.logger));
    };
    let link: TargetLink;
    try {
      link = await this.host.link();
    } catch (err) {
      return refuse(OPEN_FAILURE.prohibited, err);
    }
    const dest = `${info.destIP}:${info.destPort}`;
    if (!link.scope.allowForwarding) {
      this.host.refused('direct-tcpip', { dest });
      return refuse(OPEN_FAILURE.prohibited, noForwarding());
    }
    link.client.forwardOut(
      info.srcIP,
      info.srcPort,
      info.destIP,
      info.destPort,
      this.host.guard.wrap('direct-tcpip', (err: Error | undefined, targetCh) => {
        if (err) return refuse(OPEN_FAILURE.connectFailed, new AirlockError('ERR_TARGET_REFUSED', `the target could not connect to ${dest}`, { cause: err }));
        const ch = accept();
        ch.once('close', release);
        this.host.channelOpened(link.session, { kind: 'direct-tcpip', detail: dest });
        relayTcp(ch, targetCh, (i, o) => {
          link.session.bytesIn += i;
          link.session.bytesOut += o;
        });
      }),
    );
  }

  /** ssh -R: tcpip-forward and cancel-tcpip-forward global requests; nothing else is accepted. */
  async globalRequest(accept: ((port?: number) => void) | undefined, reject: (() => void) | undefined, name: string, info: unknown): Promise<void> {
    if (name !== 'tcpip-forward' && name !== 'cancel-tcpip-forward') {
      reject?.();
      if (name.includes('forward')) this.host.refused(name.slice(0, 64), {});
      return;
    }
    const bind = info as { bindAddr: string; bindPort: number };
    let link: TargetLink;
    try {
      link = await this.host.link();
    } catch {
      return reject?.();
    }
    if (!link.scope.allowForwarding) {
      reject?.();
      // A global request failure carries no text (RFC 4254 §4); say it on the terminal.
      this.host.notify(sshMessage(new AirlockError('ERR_GRANT_NO_FORWARDING', 'remote port forwarding is not allowed by your grant')));
      return this.host.refused('tcpip-forward', { bind: `${bind.bindAddr}:${bind.bindPort}` });
    }
    if (name === 'cancel-tcpip-forward') {
      link.client.unforwardIn(bind.bindAddr, bind.bindPort, this.host.guard.wrap('cancel-tcpip-forward', (err: Error | null | undefined) => (err ? reject?.() : accept?.())));
      return;
    }
    this.#listenForwarded(link);
    link.client.forwardIn(
      bind.bindAddr,
      bind.bindPort,
      this.host.guard.wrap('tcpip-forward', (err: Error | undefined, port: number) => {
        if (err) return reject?.();
        this.host.channelOpened(link.session, { kind: 'forwarded-tcpip', detail: `${bind.bindAddr}:${port}` });
        accept?.(port);
      }),
    );
  }

  /** Connections the target accepted on a remote forward, brought back to the engineer. */
  #listenForwarded(link: TargetLink): void {
    if (this.#listening) return;
    this.#listening = true;
    link.client.on(
      'tcp connection',
      this.host.guard.wrap('forwarded-tcpip', (details, acceptT, rejectT) => {
        // These count against the engineer's channels too; a full budget refuses the target's side.
        const release = this.admit('forwarded-tcpip');
        if (!release) return rejectT();
        this.conn.forwardOut(
          details.destIP,
          details.destPort,
          details.srcIP,
          details.srcPort,
          this.host.guard.wrap('forwarded-tcpip open', (err: Error | undefined, ch) => {
            if (err) {
              release();
              return rejectT();
            }
            ch.once('close', release);
            relayTcp(ch, acceptT(), (toEngineer, toTarget) => {
              link.session.bytesOut += toEngineer;
              link.session.bytesIn += toTarget;
            });
          }),
        );
      }),
    );
  }
}
