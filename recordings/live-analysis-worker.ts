import { parentPort } from 'node:worker_threads';
import { analyseFrames } from './analysis/index.js';
import type { AnalysisOptions } from './analysis/index.js';
import { FileTail } from './file-tail.js';
import type { FromLiveWorker, ToLiveWorker } from './live-analysis-protocol.js';

/**
 * The live-analysis thread: one per node, holding one headless terminal per live
 * recording (recordings/live-analyses.ts). Each follows its recording's file as
 * it grows (file-tail.ts) through the same analysis as after the fact
 * (analysis/sources.ts), posts every command the moment it is found, and, once
 * told that the recording is sealed, reads it to the end and posts the whole
 * result, which is then stored as the recording's analysis: so the live view and
 * the final one cannot differ.
 *
 * An exec that is not a shell reading stdin has one command, its command line:
 * it is followed until that is found (firstOnly), then released, because the
 * rest is bulk output (a download, a backup) that would only compete with the
 * relay for the CPU; it is analysed after its seal, with the same result.
 */
const port = parentPort;
if (!port) throw new Error('live-analysis-worker.js runs as a worker thread');
const post = (m: FromLiveWorker) => port.postMessage(m);
const tails = new Map<string, FileTail>();

function follow(id: string, path: string, options: AnalysisOptions, firstOnly: boolean): void {
  const tail = new FileTail(path);
  tails.set(id, tail);
  const release = () => {
    tails.delete(id);
    tail.stop();
    post({ type: 'released', id });
  };
  analyseFrames(tail, options, (command) => {
    post({ type: 'command', id, command });
    if (firstOnly && tails.get(id) === tail) release();
  })
    .then(
      (result) => {
        // Stopped before the seal: what was read is not the whole recording.
        if (tails.get(id) === tail) post({ type: 'done', id, result });
      },
      (err: unknown) => {
        if (tails.get(id) === tail) post({ type: 'failed', id, message: (err as Error)?.message ?? String(err) });
      },
    )
    .finally(() => {
      if (tails.get(id) === tail) tails.delete(id);
    });
}

port.on('message', (m: ToLiveWorker) => {
  switch (m.type) {
    case 'follow':
      follow(m.id, m.path, m.options, m.firstOnly);
      break;
    case 'sealed':
      tails.get(m.id)?.end();
      break;
    case 'drop': {
      const tail = tails.get(m.id);
      tails.delete(m.id);
      tail?.stop();
      break;
    }
  }
});
