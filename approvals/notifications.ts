import type { AuditLog, Clock, Config, Logger, Scheduler } from '../core/index.js';
import { isLoopback } from '../core/index.js';
import type { Identity } from '../identity/index.js';
import type { AccessRequests, RequestEvent } from './requests.js';
import { Mailer } from './mail.js';
import { approverMail, requesterMail, ticketLinkFor } from './notification-messages.js';
import type { Notification, NotifiedEvent } from './notification-messages.js';
import { RetryQueue } from './retry-queue.js';
import type { Delivery } from './retry-queue.js';
import { wantsEvent, webhookDelivery } from './webhooks.js';

/**
 * Tells people about access requests: the approvers when one is created (so
 * nobody has to watch a console), the requester when it is decided, expires or
 * its grant is revoked, and every configured webhook for all of these.
 *
 * It listens to AccessRequests' events and hands each delivery to a RetryQueue,
 * so the request path never waits for a webhook or a mail server, and a failure
 * never reaches it: failures are logged and retried, and a final give-up is an
 * audit event (notification.failed).
 */
export interface NotifierDeps {
  config: Config;
  logger: Logger;
  clock: Clock;
  /** Runs the waits between tries and the webhooks' time limit. */
  scheduler: Scheduler;
  identity: { users: Pick<Identity['users'], 'list' | 'getById'> };
  audit: Pick<AuditLog, 'record'>;
  /** Deliveries kept waiting at most; past it the oldest is dropped (logged and audited). */
  queueLimit?: number;
}

const NOTIFIED: ReadonlySet<string> = new Set<NotifiedEvent>(['request.created', 'request.decided', 'request.expired', 'grant.revoked']);

export const DEFAULT_QUEUE_LIMIT = 1000;

export class Notifier {
  readonly #deps: NotifierDeps;
  readonly #settings: Config['notifications'];
  readonly #queue: RetryQueue;
  #mailer: Mailer | undefined;
  #requests: AccessRequests | undefined;
  readonly #listener = (e: RequestEvent): void => {
    void this.#notify(e).catch((err: unknown) => this.#deps.logger.error({ err, event: e.type, requestId: e.request.id }, 'could not prepare notifications'));
  };

  constructor(deps: NotifierDeps) {
    this.#deps = deps;
    this.#settings = deps.config.notifications;
    const { logger } = deps;
    this.#queue = new RetryQueue({
      maxAttempts: this.#settings.maxAttempts,
      baseDelay: this.#settings.baseDelay,
      limit: deps.queueLimit ?? DEFAULT_QUEUE_LIMIT,
      scheduler: deps.scheduler,
      onRetry: (d, attempt, delayMs, err) =>
        logger.warn({ delivery: d.label, ...d.context, attempt, retryInMs: delayMs, error: message(err) }, 'notification delivery failed; trying again'),
      onGiveUp: (d, attempts, err) => {
        logger.error({ delivery: d.label, ...d.context, attempts, error: message(err) }, 'notification delivery failed; giving up');
        this.#auditFailure(d, { attempts, error: message(err) });
      },
      onDrop: (d) => {
        logger.error({ delivery: d.label, ...d.context, limit: deps.queueLimit ?? DEFAULT_QUEUE_LIMIT }, 'notification queue full: dropped the oldest delivery');
        this.#auditFailure(d, { error: 'dropped: notification queue full' });
      },
    });
  }

  /** Deliveries in flight or waiting for a retry. */
  get pending(): number {
    return this.#queue.size;
  }

  start(requests: AccessRequests): void {
    if (this.#requests) return;
    const { logger } = this.#deps;
    const { webhooks, smtp } = this.#settings;
    webhooks.forEach((hook, i) => {
      const url = new URL(hook.url);
      if (!hook.secret) logger.warn(`notifications.webhooks.${i}: no secret, so receivers cannot tell airlock's calls from forgeries`);
      if (url.protocol === 'http:' && !isLoopback(url.hostname)) {
        logger.warn(`notifications.webhooks.${i}: plain HTTP off loopback: request details and reasons cross the network unencrypted`);
      }
    });
    if (smtp) {
      if (smtp.auth && !smtp.secure) logger.warn('notifications.smtp: secure is off: the SMTP password goes in clear unless the server offers STARTTLS');
      this.#mailer = new Mailer(smtp, this.#settings.timeout, logger);
    }
    this.#requests = requests;
    requests.on('event', this.#listener);
    logger.debug({ webhooks: webhooks.length, email: Boolean(smtp) }, 'notifications on');
  }

  /** Stops listening; deliveries still waiting are dropped (they live in memory only). */
  stop(): void {
    this.#requests?.off('event', this.#listener);
    this.#requests = undefined;
    const left = this.#queue.stop();
    if (left > 0) this.#deps.logger.warn({ deliveries: left }, 'stopping with notifications undelivered');
    this.#mailer?.close();
    this.#mailer = undefined;
  }

  async #notify(e: RequestEvent): Promise<void> {
    if (!NOTIFIED.has(e.type)) return;
    const { config, clock, identity, logger } = this.#deps;
    const n: Notification = {
      event: e.type as NotifiedEvent,
      request: e.request,
      actor: e.actor ?? null,
      at: clock.now(),
      ticketLink: ticketLinkFor(config.policy.ticketLink, e.request.ticket),
    };
    this.#settings.webhooks.forEach((hook, i) => {
      if (wantsEvent(hook, n)) this.#enqueue(webhookDelivery(hook, i, n, this.#settings.timeout, this.#deps.scheduler));
    });
    if (!this.#mailer) return;
    const context = { channel: 'email', event: n.event, requestId: n.request.id };
    if (n.event === 'request.created') {
      // Approvers only: admins can decide too, but are not paged for every request.
      const approvers = (await identity.users.list({ role: 'approver', status: 'active' })).filter((u) => u.email && u.id !== n.request.userId);
      if (approvers.length === 0) {
        logger.warn({ requestId: n.request.id }, 'no active approver has an e-mail address: nobody was mailed about the request');
        return;
      }
      const to = approvers.map((u) => u.email as string);
      this.#enqueue(this.#mailer?.delivery(`email to approvers ${approvers.map((u) => u.name).join(', ')}`, context, to, approverMail(n)));
      return;
    }
    const requester = await identity.users.getById(n.request.userId);
    if (!requester?.email) {
      logger.debug({ requestId: n.request.id, user: n.request.userName }, 'the requester has no e-mail address');
      return;
    }
    this.#enqueue(this.#mailer?.delivery(`email to ${requester.name}`, context, [requester.email], requesterMail(n)));
  }

  #enqueue(delivery: Delivery | undefined): void {
    // Stopped while the recipients were being looked up: nothing more goes out.
    if (delivery && this.#requests) this.#queue.add(delivery);
  }

  #auditFailure(d: Delivery, details: Record<string, unknown>): void {
    this.#deps.audit
      .record({ action: 'notification.failed', outcome: 'failure', actor: 'system', target: d.context['requestId'], details: { delivery: d.label, ...d.context, ...details } })
      .catch((err: unknown) => this.#deps.logger.error({ err, delivery: d.label }, 'could not audit a failed notification'));
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
