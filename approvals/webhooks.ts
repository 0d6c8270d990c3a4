import { createHmac, randomUUID } from 'node:crypto';
import type { Config, Scheduler } from '../core/index.js';
import { DeliveryError } from './retry-queue.js';
import type { Delivery } from './retry-queue.js';
import type { Outgoing } from './notification-messages.js';

/**
 * Webhook delivery: one POST per receiver and event. The body is serialised once
 * and every try sends the same bytes, with the same delivery id, so a receiver
 * can verify the signature and drop repeats. The signature is
 *   X-Airlock-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>
 * and the body's `at` (also X-Airlock-Timestamp, Unix seconds) lets a receiver
 * refuse stale replays.
 */
export type WebhookConfig = Config['notifications']['webhooks'][number];

export const SIGNATURE_HEADER = 'x-airlock-signature';
export const TIMESTAMP_HEADER = 'x-airlock-timestamp';

export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

/** A receiver for logs and the audit: its origin only, since Slack-style URLs carry their secret in the path. */
export function webhookLabel(index: number, url: string): string {
  return `webhook #${index + 1} ${new URL(url).origin}`;
}

export function wantsEvent(hook: WebhookConfig, event: Outgoing['event']): boolean {
  return !hook.events || hook.events.includes(event);
}

export function webhookDelivery(hook: WebhookConfig, index: number, n: Outgoing, timeoutMs: number, scheduler: Scheduler): Delivery {
  const body = JSON.stringify(hook.format === 'slack' ? n.slack : n.json);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'airlock-notifier',
    'x-airlock-event': n.event,
    'x-airlock-delivery': randomUUID(),
    [TIMESTAMP_HEADER]: String(Math.floor(n.at.getTime() / 1000)),
  };
  if (hook.secret) headers[SIGNATURE_HEADER] = signBody(hook.secret, body);
  return {
    label: webhookLabel(index, hook.url),
    context: { channel: 'webhook', ...n.context },
    async attempt(signal) {
      // AbortSignal.timeout(timeoutMs), but on the injected scheduler (the same reason, so the same cause).
      const timeout = new AbortController();
      const timer = scheduler.after(timeoutMs, () => timeout.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')));
      try {
        let res: Response;
        try {
          res = await fetch(hook.url, {
            method: 'POST',
            headers,
            body,
            // A redirect would resend a signed body somewhere nobody configured.
            redirect: 'manual',
            signal: AbortSignal.any([signal, timeout.signal]),
          });
        } catch (err) {
          throw new DeliveryError(timeout.signal.aborted ? `no answer within ${timeoutMs} ms` : `request failed: ${reasonOf(err)}`, { cause: err });
        }
        // Free the connection; nothing in the answer matters but its status.
        await res.body?.cancel().catch(() => {});
        if (res.ok) return;
        // 4xx (but 408 timeout, 429 too many) and 3xx mean the receiver or its address
        // is wrong: trying again would not help. 5xx is worth another try.
        const permanent = res.status < 500 && res.status !== 408 && res.status !== 429;
        throw new DeliveryError(`answered HTTP ${res.status}`, { permanent });
      } finally {
        timer.cancel();
      }
    },
  };
}

function reasonOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause as { code?: string; message?: string } | undefined;
  return cause?.code ?? cause?.message ?? err.message;
}
