import { AirlockError } from '../core/index.js';

/**
 * At most `max` whole-recording reads at once (verify, export, evidence): each
 * re-hashes or streams a file that may be gigabytes, on the thread that also
 * relays live sessions. One more gets a 503 with Retry-After at once rather
 * than a place in a queue that holds its request open. One user holds at most
 * half the places (at least one), so a user who opens slow downloads cannot
 * take them all. Small enough that no library is worth it (p-limit and the like
 * queue instead of refusing).
 */
export class ReadGate {
  #busy = 0;
  readonly #byUser = new Map<string, number>();
  readonly #perUser: number;

  constructor(private readonly max: number) {
    this.#perUser = Math.max(1, Math.floor(max / 2));
  }

  /** Runs `work` if a place is free for this user, else throws ERR_BUSY; the place is held until `work` settles. */
  async run<T>(what: string, user: string, work: () => Promise<T>): Promise<T> {
    const mine = this.#byUser.get(user) ?? 0;
    if (this.#busy >= this.max || mine >= this.#perUser) {
      const why = mine >= this.#perUser ? `you already have ${mine} running` : `${this.#busy} are already running on this server`;
      throw new AirlockError('ERR_BUSY', `too many recording reads at once (${why}): try the ${what} again in a few seconds`, {
        retryAfter: 5,
        details: { what, user, running: this.#busy, mine },
      });
    }
    this.#busy++;
    this.#byUser.set(user, mine + 1);
    try {
      return await work();
    } finally {
      this.#busy--;
      const left = (this.#byUser.get(user) ?? 1) - 1;
      if (left > 0) this.#byUser.set(user, left);
      else this.#byUser.delete(user);
    }
  }
}
