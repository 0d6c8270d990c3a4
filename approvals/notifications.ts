import type { AuditLog, Clock, Config, Logger, Scheduler } from '../core/index.js';
import { isLoopback } from '../core/index.js';
import type { Identity } from '../identity/index.js';
import type { AccessRequests, RequestEvent } from './requests.js';
import { Mailer } from './mail.js';
import { approverMail, requestOutgoing, requesterMail, ticketLinkFor } from './notification-messages.js';
import type { MailText, Notification, NotifiedEvent } from './notification-messages.js';
import { RetryQueue } from './retry-queue.js';
import type { Delivery } from './retry-queue.js';
import { wantsEvent, webhookDelivery } from './webhooks.js';
import { RiskyCommandGate } from './risky-command-gate.js';
import { riskyCommandsOutgoing } from './risky-command-messages.js';
import type { Outgoing } from './notification-messages.js';
import type { RiskyCommand, RiskyCommandsNotice } from './risky-command-messages.js';

/**
 * Tells people about access requests: the approvers when one is created (so
 * nobody has to watch a console), the requester when it is decided, expires or
 * its grant is revoked, and every configured webhook for all of these.
 *
 * It also tells the webhooks and the approvers' mail of risky commands in live
 * sessions (riskyCommand(), fed by live analysis; rate-limited per session by
 * risky-command-gate.ts).
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
  readonly #gate: RiskyCommandGate;
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
    });    this.#gate = new RiskyCommandGate({
      intervalMs: this.#settings.riskyCommandInterval,
      scheduler: deps.scheduler,
      now: () => deps.clock.now(),
      send: (n) => void this.#notifyRisky(n).catch((err: unknown) => logger.error({ err, session: n.session.id }, 'could not prepare notifications')),
    });
  }

  /** A live session ran a risky command (server/services.ts wires live analysis here). */
  riskyCommand(session: RiskyCommandsNotice['session'], command: RiskyCommand): void {
    if (this.#requests) this.#gate.add(session, command);
  }

  async #notifyRisky(n: RiskyCommandsNotice): Promise<void> {
    const out = riskyCommandsOutgoing(n);
    this.#webhooks(out);
    if (this.#mailer && out.mail) await this.#mailApprovers(out.mail, { channel: 'email', ...out.context }, undefined);
  }

  #webhooks(out: Outgoing): void {
    this.#settings.webhooks.forEach((hook, i) => {
      if (wantsEvent(hook, out.event)) this.#enqueue(webhookDelivery(hook, i, out, this.#settings.timeout, this.#deps.scheduler));
    });
  }

  /** To every active approver with an address (but `except`, the requester). */
  async #mailApprovers(mail: MailText, context: Record<string, string>, except: string | undefined): Promise<void> {
    // Approvers only: admins can decide too, but are not paged for everything.
    const approvers = (await this.#deps.identity.users.list({ role: 'approver', status: 'active' })).filter((u) => u.email && u.id !== except);
    if (approvers.length === 0) {
      this.#deps.logger.warn(context, 'no active approver has an e-mail address: nobody was mailed');
      return;
    }
    const to = approvers.map((u) => u.email as string);
    this.#enqueue(this.#mailer?.delivery(`email to approvers ${approvers.map((u) => u.name).join(', ')}`, context, to, mail));
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
    const unsent = this.#gate.stop();
    if (unsent > 0) this.#deps.logger.warn({ commands: unsent }, 'stopping with risky-command notifications gathered and not sent');
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
    this.#webhooks(requestOutgoing(n));
    if (!this.#mailer) return;
    const context = { channel: 'email', event: n.event, requestId: n.request.id };
    if (n.event === 'request.created') {
      await this.#mailApprovers(approverMail(n), context, n.request.userId);
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
      .record({ action: 'notification.failed', outcome: 'failure', actor: 'system', target: d.context['requestId'] ?? d.context['sessionId'], details: { delivery: d.label, ...d.context, ...details } })
      .catch((err: unknown) => this.#deps.logger.error({ err, delivery: d.label }, 'could not audit a failed notification'));
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
