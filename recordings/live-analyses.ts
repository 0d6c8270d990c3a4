import { Worker } from 'node:worker_threads';
import type { Logger } from '../core/index.js';
import type { AnalysedCommand, AnalysisOptions, AnalysisResult } from './analysis/index.js';
import type { FromLiveWorker, ToLiveWorker } from './live-analysis-protocol.js';
import { workerFile } from './worker-file.js';

/**
 * The live-analysis thread, seen from the main thread: recordings to follow go
 * in, their commands come out as they are typed, and a sealed one's whole
 * analysis comes back (recordings/live-analysis-worker.ts does the work).
 * recordings/analyses.ts stores what comes out.
 *
 * One thread for all live recordings of this node, so that a busy node has one
 * more thread, not one per session; it starts with the first recording and
 * is started again after a crash (the recordings it was following are then
 * analysed after their seal instead: `lost`).
 *
 * At most MAX_LIVE recordings are followed at once (each holds a headless
 * terminal of a few MB); beyond that a recording is analysed once sealed.
 */
export const MAX_LIVE = 256;

export interface LiveListener {
  command(id: string, command: AnalysedCommand): void;
  /** The thread no longer follows a recording (released, failed, or the thread died): it is to be analysed after its seal. */
  lost(id: string, reason: string): void;
}

export class LiveAnalyses {
  #worker: Worker | undefined;
  readonly #followed = new Map<string, { done?: (result: AnalysisResult | undefined) => void }>();

  constructor(
    private readonly deps: { logger: Logger; options: AnalysisOptions; listener: LiveListener },
  ) {}

  get size(): number {
    return this.#followed.size;
  }

  has(id: string): boolean {
    return this.#followed.has(id);
  }

  /** Starts following a recording's file (firstOnly: until its first command); false when it cannot be (too many). */
  follow(id: string, path: string, firstOnly = false): boolean {
    if (this.#followed.size >= MAX_LIVE || this.#followed.has(id)) return false;
    this.#followed.set(id, {});
    this.#post({ type: 'follow', id, path, options: this.deps.options, firstOnly });
    return true;
  }

  /**
   * The recording is sealed: resolves with its whole analysis, once the thread
   * read the file to its end; undefined if it is not followed or the thread lost it.
   */
  sealed(id: string): Promise<AnalysisResult | undefined> {
    const entry = this.#followed.get(id);
    if (!entry) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      entry.done = resolve;
      this.#post({ type: 'sealed', id });
    });
  }

  /** Stops following (the recording is gone, or analysed by other means). */
  drop(id: string): void {
    const entry = this.#followed.get(id);
    if (!entry) return;
    this.#followed.delete(id);
    entry.done?.(undefined);
    this.#worker?.postMessage({ type: 'drop', id } satisfies ToLiveWorker);
  }

  /** Ends the thread and every follow (a later follow starts a new thread). */
  async stop(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    for (const [id, entry] of this.#followed) {
      this.#followed.delete(id);
      entry.done?.(undefined);
    }
    await worker?.terminate();
  }

  #post(m: ToLiveWorker): void {
    (this.#worker ??= this.#start()).postMessage(m);
  }

  #start(): Worker {
    const worker = new Worker(workerFile('live-analysis-worker.js'));
    worker.on('message', (m: FromLiveWorker) => this.#message(m));
    worker.on('error', (err) => this.deps.logger.error({ err }, 'the live-analysis thread failed'));
    worker.once('exit', (code) => {
      if (this.#worker !== worker) return; // stopped
      this.#worker = undefined;
      const lost = [...this.#followed.keys()];
      this.deps.logger.error({ code, recordings: lost.length }, 'the live-analysis thread stopped: its recordings are analysed once sealed');
      for (const id of lost) this.#lose(id, `the live-analysis thread stopped (exit code ${code})`);
    });
    worker.unref();
    return worker;
  }

  #message(m: FromLiveWorker): void {
    const entry = this.#followed.get(m.id);
    if (!entry) return; // dropped meanwhile
    switch (m.type) {
      case 'command':
        this.deps.listener.command(m.id, m.command);
        break;
      case 'done':
        this.#followed.delete(m.id);
        entry.done?.(m.result);
        break;
      case 'released':
        this.#lose(m.id, 'released');
        break;
      case 'failed':
        this.deps.logger.error({ recording: m.id, error: m.message }, 'live analysis failed: the recording is analysed once sealed');
        this.#lose(m.id, m.message);
        break;
    }
  }

  #lose(id: string, reason: string): void {
    const entry = this.#followed.get(id);
    if (!entry) return;
    this.#followed.delete(id);
    entry.done?.(undefined);
    this.deps.listener.lost(id, reason);
  }
}
