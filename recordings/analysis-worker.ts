import { parentPort, workerData } from 'node:worker_threads';
import { analyseFile } from './analysis/index.js';
import type { AnalysisOptions } from './analysis/index.js';

/**
 * Analyses one recording file in its own thread (a headless terminal parses
 * tens of MB/s: a long recording takes seconds of CPU that must not stall the
 * relay), posts the result and exits.
 */
const { path, options } = workerData as { path: string; options: AnalysisOptions };
try {
  const result = await analyseFile(path, options);
  parentPort?.postMessage({ ok: true, result });
} catch (err) {
  parentPort?.postMessage({ ok: false, message: (err as Error).message ?? String(err) });
}
