import { createTransport } from 'nodemailer';
import type { Transporter } from 'nodemailer';
import type { Config, Logger } from '../core/index.js';
import { DeliveryError } from './retry-queue.js';
import type { Delivery } from './retry-queue.js';
import type { MailText } from './notification-messages.js';

/**
 * E-mail over SMTP with nodemailer. One transport, no pool: every try opens its
 * own connection, so a mail server that was down is simply reached on the next try.
 */
export type SmtpConfig = NonNullable<Config['notifications']['smtp']>;

export class Mailer {
  readonly #transport: Transporter;
  readonly #from: string;

  constructor(
    smtp: SmtpConfig,
    timeoutMs: number,
    private readonly logger: Logger,
  ) {
    this.#from = smtp.from;
    this.#transport = createTransport({
      host: smtp.host,
      port: smtp.port,
      secure: smtp.secure,
      ...(smtp.auth ? { auth: { user: smtp.auth.user, pass: smtp.auth.pass } } : {}),
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
    });
  }

  /** One message to all of `to` (internal staff may see each other's addresses). */
  delivery(label: string, context: Record<string, string>, to: string[], mail: MailText): Delivery {
    return {
      label,
      context,
      attempt: async (signal) => {
        if (signal.aborted) throw new DeliveryError('stopped');
        let info: { accepted?: unknown[]; rejected?: unknown[] };
        try {
          info = (await this.#transport.sendMail({ from: this.#from, to, subject: mail.subject, text: mail.text })) as typeof info;
        } catch (err) {
          // 5xx from the server is a final "no" (unknown mailbox, relaying refused); anything else may pass later.
          const code = (err as { responseCode?: number }).responseCode;
          throw new DeliveryError(`SMTP: ${(err as Error).message}`, { cause: err, permanent: code !== undefined && code >= 500 });
        }
        if ((info.accepted?.length ?? 0) === 0) throw new DeliveryError('SMTP: no recipient accepted', { permanent: true });
        // Some addresses refused, others taken: retrying would mail the others twice.
        if (info.rejected?.length) this.logger.warn({ delivery: label, rejected: info.rejected }, 'the mail server refused some recipients');
      },
    };
  }

  close(): void {
    this.#transport.close();
  }
}
