/**
 * How many channels (RFC 4254 §5.1: sessions and forwards) an engineer has open
 * at once: per connection (ssh.maxChannelsPerConnection; OpenSSH's sshd allows
 * 10 sessions per connection, MaxSessions) and per user across all their
 * connections on this node (ssh.maxChannelsPerUser). Every session channel costs
 * a relay and, once its target accepts it, a recording: without a cap one client
 * opened a thousand channels on one connection and made a thousand recordings
 * in six seconds.
 *
 * A refused open is answered by the connection (gateway/connection.ts) with an
 * SSH channel-open failure in general terms; which cap and the numbers go to the
 * log, and to the audit once for the first refusal of a connection and once in
 * sum when it closes (ChannelRefusals), never one row per refused channel.
 */

/** Node-wide: the channels each user has open, over all their connections. */
export class UserChannels {
  readonly #open = new Map<string, number>();

  constructor(readonly max: number) {}

  open(userId: string): number {
    return this.#open.get(userId) ?? 0;
  }

  /** Takes one of the user's; undefined when the cap is reached. The release is idempotent. */
  take(userId: string): (() => void) | undefined {
    const open = this.open(userId);
    if (open >= this.max) return undefined;
    this.#open.set(userId, open + 1);
    return once(() => {
      const left = this.open(userId) - 1;
      if (left > 0) this.#open.set(userId, left);
      else this.#open.delete(userId);
    });
  }
}

export type ChannelCap = 'connection' | 'user';

/** What refused a channel: the cap that was full, with how many were open. */
export interface CapReached {
  cap: ChannelCap;
  open: number;
  max: number;
}

export type Admission = { ok: true; release: () => void } | ({ ok: false } & CapReached);

/**
 * One connection's channels: its own cap, then its user's on this node. When
 * the connection goes, releaseAll() gives back what its channels still hold:
 * ssh2 never emits 'close' on a session channel whose connection died (only on
 * the client's CHANNEL_CLOSE), and the user's count outlives the connection.
 */
export class ChannelBudget {
  #open = 0;
  readonly #held = new Set<() => void>();

  constructor(
    readonly max: number,
    private readonly users: UserChannels,
  ) {}

  get open(): number {
    return this.#open;
  }

  take(userId: string): Admission {
    if (this.#open >= this.max) return { ok: false, cap: 'connection', open: this.#open, max: this.max };
    const user = this.users.take(userId);
    if (!user) return { ok: false, cap: 'user', open: this.users.open(userId), max: this.users.max };
    this.#open++;
    const release = once(() => {
      this.#held.delete(release);
      this.#open--;
      user();
    });
    this.#held.add(release);
    return { ok: true, release };
  }

  /** The connection closed: every channel it had is given back. */
  releaseAll(): void {
    for (const release of [...this.#held]) release();
  }
}

/** The kinds of channel a budget admits. */
export type ChannelKind = 'session' | 'direct-tcpip' | 'forwarded-tcpip';

/**
 * The refused opens of one connection, tallied so that a client hammering a
 * full budget costs one audit row at the first refusal and one at the end.
 */
export class ChannelRefusals {
  #count = 0;
  readonly #byCap: Partial<Record<ChannelCap, number>> = {};
  readonly #byKind: Partial<Record<ChannelKind, number>> = {};

  /** Counts one refusal; true if it is the connection's first. */
  add(kind: ChannelKind, reached: CapReached): boolean {
    this.#count++;
    this.#byCap[reached.cap] = (this.#byCap[reached.cap] ?? 0) + 1;
    this.#byKind[kind] = (this.#byKind[kind] ?? 0) + 1;
    return this.#count === 1;
  }

  get count(): number {
    return this.#count;
  }

  /** For the closing audit row and log line: how many, by cap and by kind. */
  summary(): { refused: number; byCap: Partial<Record<ChannelCap, number>>; byKind: Partial<Record<ChannelKind, number>> } {
    return { refused: this.#count, byCap: { ...this.#byCap }, byKind: { ...this.#byKind } };
  }
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}
