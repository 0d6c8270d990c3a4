import type { AnalysedCommand, AnalysisOptions, AnalysisResult } from './analysis/index.js';

/**
 * Messages between the main thread (recordings/live-analyses.ts) and the
 * live-analysis thread (recordings/live-analysis-worker.ts).
 *
 * To the thread: `follow` a recording's file from its start (firstOnly: until
 * its first command, then `released`), `sealed` (the file
 * is complete: read to its end and post the result), `drop` (stop following and
 * post nothing more for it).
 *
 * From the thread: `command` as each is found, then exactly one of `done` (the
 * whole analysis, after `sealed`), `released` (no longer followed: analysed
 * after the seal) or `failed`.
 */
export type ToLiveWorker =
  | { type: 'follow'; id: string; path: string; options: AnalysisOptions; firstOnly: boolean }
  | { type: 'sealed'; id: string }
  | { type: 'drop'; id: string };

export type FromLiveWorker =
  | { type: 'command'; id: string; command: AnalysedCommand }
  | { type: 'done'; id: string; result: AnalysisResult }
  | { type: 'released'; id: string }
  | { type: 'failed'; id: string; message: string };
