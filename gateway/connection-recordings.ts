import type { PseudoTtyInfo } from 'ssh2';
import { AirlockError } from '../core/index.js';
import type { Logger } from '../core/index.js';
import type { LiveRecording, Recordings } from '../recordings/index.js';
import type { TargetLink } from './target-link.js';

/**
 * The recordings of one connection's channels: each starts once the target
 * accepted its channel, before a byte passes either way; gateway events are
 * marked in all of them, and all are sealed when the connection closes. A recording that cannot be
 * written ends the whole connection (fail closed: `onFailed`).
 */
export class ConnectionRecordings {
  readonly #live = new Set<LiveRecording>();
  readonly #sealing: Array<Promise<void>> = [];
  #index = 0;
  /** finishAll() ran: the connection is closing, and a recording started now is sealed at once. */
  #closed = false;

  constructor(
    private readonly deps: { recordings: Recordings; logger: Logger },
    private readonly source: string,
    private readonly onFailed: () => void,
  ) {}

  async start(link: TargetLink, kind: 'terminal' | 'exec' | 'sftp', pty: Pick<PseudoTtyInfo, 'cols' | 'rows' | 'term'> | undefined, command?: string): Promise<LiveRecording> {
    const { session, scope } = link;
    const rec = await this.deps.recordings.start({
      sessionId: session.id,
      channelIndex: ++this.#index,
      kind,
      user: session.userName,
      target: session.targetName,
      login: session.login,
      source: this.source,
      sensitivity: scope.target.sensitivity,
      width: pty?.cols ?? 80,
      height: pty?.rows ?? 24,
      term: pty?.term,
      command,
      approvalId: scope.requestId,
    });
    if (scope.requestId) rec.recorder.marker(`break-glass approval ${scope.requestId}, access until ${session.expiresAt.toISOString()}`);
    this.#live.add(rec);
    if (this.#closed) {
      // The engineer went away while this one was being created: nothing will use it.
      this.finish(rec);
      throw new AirlockError('ERR_ACCESS_ENDED', 'the connection closed');
    }
    rec.recorder.once('failed', this.onFailed);
    return rec;
  }

  /** Seals one recording (its channel closed). */
  finish(rec: LiveRecording): void {
    if (!this.#live.delete(rec)) return;
    this.#sealing.push(rec.finish().catch((err: unknown) => this.deps.logger.error({ err, recording: rec.id }, 'cannot seal a recording')));
  }

  /** A gateway event (a forward, a warning), in every live recording. */
  marker(text: string): void {
    for (const rec of this.#live) rec.recorder.marker(text);
  }

  /** Seals what is still open and waits until every recording is sealed. */
  async finishAll(): Promise<void> {
    this.#closed = true;
    for (const rec of [...this.#live]) this.finish(rec);
    await Promise.allSettled(this.#sealing);
  }
}
