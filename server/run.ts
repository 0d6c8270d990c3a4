import type { Logger } from '../core/index.js';
import type { RunningServer } from './server.js';
import type { Services } from './services.js';

/**
 * Running as a long-lived process (`airlock serve`, `airlock demo`).
 *
 * A promise rejected with nobody listening must not end the process: with
 * Node's default (--unhandled-rejections=throw) one stray database error in
 * one engineer's login would end every live session on the node. Every ssh2
 * and socket handler already runs behind a guard (gateway/guard.ts); this is
 * the last line behind it, and what reaches it is a bug that gets logged as
 * one. An uncaught exception keeps Node's behaviour (log, exit non-zero, let
 * the supervisor restart): state after a synchronous throw is not known.
 */
export function installProcessGuards(logger: Logger): () => void {
  const onRejection = (reason: unknown) => {
    logger.error({ err: reason }, 'BUG: a promise was rejected and nothing handled it; airlock keeps running');
  };
  process.on('unhandledRejection', onRejection);
  return () => process.off('unhandledRejection', onRejection);
}

/** Serves until SIGINT or SIGTERM, then stops the listeners and the services. */
export function serveUntilSignal(services: Services, server: RunningServer, cleanup: () => Promise<void> = async () => {}): Promise<void> {
  const uninstall = installProcessGuards(services.logger);
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      services.logger.info({ signal }, 'stopping');
      process.off('SIGINT', stop).off('SIGTERM', stop);
      void server
        .close()
        .then(() => services.close())
        .then(cleanup)
        .catch((err: unknown) => services.logger.error({ err }, 'error while stopping'))
        .finally(() => {
          uninstall();
          resolve();
        });
    };
    process.on('SIGINT', stop).on('SIGTERM', stop);
  });
}
