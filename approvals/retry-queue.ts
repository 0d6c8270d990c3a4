import { AirlockError } from '../core/index.js';
import type { AirlockErrorOptions, Scheduler, Timer } from '../core/index.js';

/**
 * Deliveries waiting to succeed: kept in memory, tried again with exponential
 * back-off (baseDelay, 2×, 4× … capped at MAX_DELAY) up to maxAttempts, and
 * bounded: when `limit` deliveries wait, the oldest is dropped. Nothing here
 * ever throws at the caller of add(); every end (delivered, given up, dropped)
 * goes to the callbacks. Lost on restart by design: a notification is a nudge,
 * the audit log is the record.
 */

/** A delivery failure; `permanent` ones (a 4xx answer, a rejected address) are not retried. */
export class DeliveryError extends AirlockError {
  readonly permanent: boolean;
  constructor(message: string, options: AirlockErrorOptions & { permanent?: boolean } = {}) {
    super('ERR_DELIVERY_FAILED', message, options);
    this.name = 'DeliveryError';
    this.permanent = options.permanent ?? false;
  }
}

/** No wait between tries grows past this, whatever maxAttempts and baseDelay say. */
export const MAX_DELAY = 15 * 60_000;

export interface Delivery {
  /** For logs and the audit: "webhook #1 https://hooks.example.com", "email to 2 approvers". */
  label: string;
  /** Facts for the log and the audit row of a give-up (request id, event, channel). */
  context: Record<string, string>;
  /** One try; rejects to be tried again. The signal aborts it on stop() or when it is dropped. */
  attempt(signal: AbortSignal): Promise<void>;
}

export interface RetryQueueOptions {
  maxAttempts: number;
  baseDelay: number;
  limit: number;
  /** Runs the waits between tries. */
  scheduler: Scheduler;
  onRetry(delivery: Delivery, attempt: number, delayMs: number, err: unknown): void;
  onGiveUp(delivery: Delivery, attempts: number, err: unknown): void;
  onDrop(delivery: Delivery): void;
}

interface Entry {
  delivery: Delivery;
  attempts: number;
  timer?: Timer;
  controller?: AbortController;
}

export function backoffDelay(baseDelay: number, retry: number): number {
  return Math.min(baseDelay * 2 ** (retry - 1), MAX_DELAY);
}

export class RetryQueue {
  readonly #entries = new Set<Entry>();
  #stopped = false;

  constructor(private readonly options: RetryQueueOptions) {}

  /** Deliveries in flight or waiting for their next try. */
  get size(): number {
    return this.#entries.size;
  }

  add(delivery: Delivery): void {
    if (this.#stopped) return;
    // A Set iterates in insertion order, so the first entry is the oldest.
    while (this.#entries.size >= this.options.limit) {
      const oldest = this.#entries.values().next().value as Entry;
      this.#cancel(oldest);
      this.options.onDrop(oldest.delivery);
    }
    const entry: Entry = { delivery, attempts: 0 };
    this.#entries.add(entry);
    this.#try(entry);
  }

  /** Cancels everything waiting and aborts what is in flight; nothing is reported after. */
  stop(): number {
    this.#stopped = true;
    const left = this.#entries.size;
    for (const entry of [...this.#entries]) this.#cancel(entry);
    return left;
  }

  #cancel(entry: Entry): void {
    entry.timer?.cancel();
    entry.controller?.abort();
    this.#entries.delete(entry);
  }

  #try(entry: Entry): void {
    entry.timer = undefined;
    entry.attempts += 1;
    const controller = new AbortController();
    entry.controller = controller;
    let result: Promise<void>;
    try {
      result = entry.delivery.attempt(controller.signal);
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      () => {
        this.#entries.delete(entry);
      },
      (err: unknown) => {
        // Dropped or stopped meanwhile: whoever removed it has already reported.
        if (controller.signal.aborted || !this.#entries.has(entry)) return;
        const permanent = err instanceof DeliveryError && err.permanent;
        if (permanent || entry.attempts >= this.options.maxAttempts) {
          this.#entries.delete(entry);
          this.options.onGiveUp(entry.delivery, entry.attempts, err);
          return;
        }
        const delay = backoffDelay(this.options.baseDelay, entry.attempts);
        this.options.onRetry(entry.delivery, entry.attempts, delay, err);
        entry.timer = this.options.scheduler.after(delay, () => this.#try(entry));
      },
    );
  }
}
