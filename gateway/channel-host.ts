import type { PseudoTtyInfo, ServerChannel } from 'ssh2';
import type { LiveRecording } from '../recordings/index.js';
import type { GatewayDeps } from './deps.js';
import type { Guard } from './guard.js';
import type { ExitInfo, RelayControl } from './relay.js';
import type { ChannelRecord, LiveSession } from './sessions.js';
import type { TargetLink } from './target-link.js';

/**
 * What the channel handlers (session-channel, sftp-channel, forwarding) need
 * from the connection that carries them. The connection implements it; the
 * handlers know nothing else about it, so the state of the connection stays
 * in one place (gateway/connection.ts).
 */
/** A channel with a terminal: where the menu and break-glass can talk to the engineer. */
export interface Terminal {
  ch: ServerChannel;
  pty: PseudoTtyInfo;
  /** A shell may show the target menu; an exec (ssh -t host cmd) may not. */
  shell: boolean;
}

export interface ChannelHost {
  readonly deps: GatewayDeps;
  readonly source: string;
  readonly guard: Guard;
  /** The name of the engineer, for audit rows. */
  readonly userName: string;
  /**
   * The target link for a channel, once there is one: runs the target menu (a
   * shell with a terminal and no target named), asks for break-glass approval in
   * the terminal when the target needs it, and connects. Rejects with the reason
   * the channel is refused.
   */
  link(terminal?: Terminal): Promise<TargetLink>;
  /** The recording of a channel, made once the target accepted it and before a byte passes between the two. */
  record(link: TargetLink, kind: 'terminal' | 'exec' | 'sftp', pty: PseudoTtyInfo | undefined, command?: string): Promise<LiveRecording>;
  finishRecording(rec: LiveRecording): void;
  /** A channel of the engineer's that notices and termination reach. */
  track(ch: ServerChannel): void;
  /** A relay to stop (before a termination notice). Returns its removal. */
  addRelay(relay: RelayControl): () => void;
  /** Something the grant or policy does not allow: audited. */
  refused(kind: string, details: Record<string, unknown>): void;
  /** A channel opened on the target: on the session row, audited, marked in the recordings. */
  channelOpened(session: LiveSession, record: Omit<ChannelRecord, 'at'>): void;
  /** The exit status the session row keeps (the last one). */
  exited(exit: ExitInfo): void;
  /** Tells the engineer why, on the channel's stderr, and closes it with exit status 1. */
  deny(ch: ServerChannel, err: unknown, nl: '\r\n' | '\n'): void;
  closeChannel(ch: ServerChannel, code: number): void;
  /** Writes a line to every open channel of the engineer. */
  notify(message: string): void;
}
