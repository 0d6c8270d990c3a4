import { EventEmitter } from 'node:events';
import { loadConfig, createLogger } from '../core/index.js';
import { openServices, startServer } from '../server/index.js';
import type { LiveRecording, Recorder, StartRecording } from '../recordings/index.js';

/**
 * BENCHMARK ONLY: airlock with recording switched off, which the product cannot
 * do (nothing may run unrecorded). It is `airlock serve` (same config, same
 * gateway, same relay) except that Recordings.start hands out a recorder that
 * discards everything: no asciicast encoding, no hashing, no files, no rows.
 * The relay still shows every chunk to the (null) recorder, so the ratio
 * "recording on / this" measures what the recorder itself costs.
 *
 * Prints the same ready event as `airlock --json serve` and stops on SIGTERM.
 */
class NullRecorder extends EventEmitter {
  readonly backlogged = false;
  readonly failed = undefined;
  readonly length = 0;
  output(): void {}
  stderr(): void {}
  input(): void {}
  resize(): void {}
  marker(): void {}
  checkpoint(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<{ length: number; head: string; entries: number }> {
    return Promise.resolve({ length: 0, head: '', entries: 0 });
  }
}

async function main(): Promise<void> {
  const config = loadConfig({});
  const logger = createLogger({ level: config.log.level });
  const services = await openServices({ config, logger });
  let n = 0;
  // An own property shadows the prototype's method; everything else is untouched.
  services.recordings.start = async (_s: StartRecording): Promise<LiveRecording> => {
    services.recordings.assertHealthy();
    return { id: `norec-${++n}`, recorder: new NullRecorder() as unknown as Recorder, bytes: true, finish: () => Promise.resolve() };
  };
  logger.warn('BENCHMARK HOST: recording is OFF in this process (bench/airlock-norec.ts); never use it for access');
  const server = await startServer(services);
  const ssh = `${server.sshAddress.host}:${server.sshAddress.port}`;
  process.stdout.write(JSON.stringify({ event: 'ready', web: server.web.url, ssh, recording: false }) + '\n');
  const stop = () => {
    process.off('SIGTERM', stop).off('SIGINT', stop);
    void server
      .close()
      .then(() => services.close())
      .finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop).on('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`airlock-norec: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
