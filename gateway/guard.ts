import type { AuditInput, AuditLog, Logger } from '../core/index.js';
import { isAirlockError } from '../core/index.js';

/**
 * The one way ssh2 and socket events reach airlock's code. ssh2 calls handlers
 * from its parser; a throw there, or a promise rejected with nobody listening,
 * would take down the process and every live session on the node with it (a
 * database error during one engineer's login, say). Every handler of a
 * connection is wrapped by its Guard: a failure is logged with its cause,
 * audited once for the connection, and ends that connection only.
 *
 * Audit records a connection merely reports (a channel opened, a forward
 * refused) also go through here: they are not awaited, and a failure to write
 * one is logged, never thrown into ssh2.
 */
export interface GuardDeps {
  logger: Logger;
  audit: Pick<AuditLog, 'record'>;
}

export class Guard {
  #failed = false;

  constructor(
    private readonly deps: GuardDeps,
    /** Facts for every log line of this connection (source, user once known). */
    private readonly context: () => Record<string, unknown>,
    /** Ends this connection after a failure. */
    private readonly end: (reason: string) => void,
  ) {}

  /** A handler that never throws at its caller: sync throws and async rejections both reach fail(). */
  wrap<A extends unknown[]>(what: string, handler: (...args: A) => unknown): (...args: A) => void {
    return (...args: A) => {
      try {
        const result = handler(...args);
        if (result instanceof Promise) result.catch((err: unknown) => this.fail(what, err));
      } catch (err) {
        this.fail(what, err);
      }
    };
  }

  /** Runs background work of this connection: a failure is handled like a handler's. */
  run(what: string, work: Promise<unknown>): void {
    work.catch((err: unknown) => this.fail(what, err));
  }

  /** An audit record nobody waits for. */
  audit(input: AuditInput): void {
    this.deps.audit.record(input).catch((err: unknown) => this.deps.logger.error({ err, action: input.action, ...this.context() }, 'could not write an audit record'));
  }

  /** An unexpected failure in this connection: log, audit once, end the connection. */
  fail(what: string, err: unknown): void {
    const ctx = this.context();
    this.deps.logger.error({ err, during: what, ...ctx }, 'ssh connection failed; ending it (other connections are not affected)');
    if (this.#failed) return;
    this.#failed = true;
    this.audit({
      action: 'ssh.connection.error',
      outcome: 'failure',
      actor: typeof ctx['user'] === 'string' ? ctx['user'] : undefined,
      source: typeof ctx['source'] === 'string' ? ctx['source'] : undefined,
      details: { during: what, code: isAirlockError(err) ? err.code : 'ERR_INTERNAL' },
    });
    try {
      this.end('airlock hit an internal error and ended this connection; it was logged');
    } catch (endErr) {
      this.deps.logger.error({ err: endErr, ...ctx }, 'could not end a failed ssh connection');
    }
  }
}
