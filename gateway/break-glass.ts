import type { ServerChannel } from 'ssh2';
import { AirlockError, inertText, isAirlockError } from '../core/index.js';
import type { AccessRequest, RequestEvent, Target } from '../approvals/index.js';
import type { User } from '../identity/index.js';
import type { GatewayDeps } from './deps.js';
import { readLine } from './line-input.js';
import { sshMessage } from './ssh-errors.js';

/**
 * Break-glass inside the SSH session: the engineer connected to a target that
 * needs approval, so airlock asks for a reason (and a ticket when policy wants
 * one) right in the terminal, files the request, and shows its state live while
 * internal approvers decide. A reason or ticket the policy refuses is asked for
 * again rather than ending the connection (on a critical target that would cost
 * another verification code). Nothing else is possible meanwhile: no target
 * connection exists, so no channel or forward can reach it. Ctrl-C cancels.
 */
export type WaitOutcome = { approved: true; request: AccessRequest } | { approved: false; error: AirlockError };

const TICK_MS = 1000;
/** Re-polls the database every this many ticks: another node may have decided. */
const POLL_EVERY = 2;
const TRIES = 3;
/** Codes that mean "what you typed does not do": ask again. */
const RETRY: ReadonlySet<string> = new Set(['ERR_REASON_REQUIRED', 'ERR_TICKET_REQUIRED', 'ERR_TICKET_INVALID']);

const cancelled = () => new AirlockError('ERR_APPROVAL_ABANDONED', 'cancelled; no request was made');

export async function breakGlass(deps: GatewayDeps, ch: ServerChannel, user: User, target: Target, login: string, source: string): Promise<WaitOutcome> {
  const { requests, config, scheduler } = deps;
  const tier = requests.tierOf(target.sensitivity);
  ch.write(
    `\r\nairlock: ${target.name} is ${target.sensitivity}: access needs approval by ${tier.approvals === 1 ? 'an internal approver' : `${tier.approvals} different internal approvers`}` +
      `${tier.ticketRequired ? ' and a ticket reference' : ''}.\r\n`,
  );
  let request: AccessRequest | undefined;
  let reason: string | undefined;
  let ticket: string | undefined;
  let ask: 'reason' | 'ticket' | 'both' = 'both';
  for (let attempt = 1; !request; attempt++) {
    if (ask !== 'ticket') {
      reason = await readLine(ch, `Reason${tier.reasonRequired ? '' : ' (optional)'}: `, { scheduler, maxLength: 500 });
      if (reason === undefined) return { approved: false, error: cancelled() };
    }
    if (ask !== 'reason' && (tier.ticketRequired || config.policy.ticketPattern)) {
      ticket = await readLine(ch, `Ticket${tier.ticketRequired ? ` (like ${exampleTicket(config.policy.ticketPattern)})` : ' (optional)'}: `, { scheduler, maxLength: 100 });
      if (ticket === undefined) return { approved: false, error: cancelled() };
    }
    try {
      request = await requests.create(user, target, { login, reason, ticket: ticket || undefined, source });
    } catch (err) {
      if (!isAirlockError(err) || !RETRY.has(err.code) || attempt >= TRIES) {
        return { approved: false, error: isAirlockError(err) ? err : new AirlockError('ERR_INTERNAL', 'the request could not be made', { cause: err }) };
      }
      ch.write(`airlock: ${sshMessage(err)}; try again (Ctrl-C cancels).\r\n`);
      ask = err.code === 'ERR_REASON_REQUIRED' ? 'reason' : 'ticket';
    }
  }
  try {
    const approvers = (await deps.identity.users.list({ role: 'approver', status: 'active' })).filter((u) => u.id !== user.id).map((u) => u.name);
    if (!ch.readable) throw new AirlockError('ERR_APPROVAL_ABANDONED', 'disconnected');
    ch.write(
      `airlock: request ${request.id.slice(0, 8)} sent; approvers: ${approvers.join(', ') || 'none active!'}.\r\n` +
        `airlock: waiting here; Ctrl-C cancels the request.\r\n`,
    );
  } catch (err) {
    // Nobody is waiting for this request any more: it must not sit pending for approvers.
    await requests.cancel(request.id, user).catch(() => undefined);
    throw err;
  }
  return waitForDecision(deps, ch, user, request);
}

/** "^(INC|CHG|REQ)-\d+$" → "INC-1234": an example for the prompt, or the pattern itself. */
function exampleTicket(pattern: string): string {
  const m = /^\^?\(?([A-Z]+)(?:\|[A-Z]+)*\)?-\\d\+\$?$/.exec(pattern);
  return m ? `${m[1]}-1234` : pattern;
}

function waitForDecision(deps: GatewayDeps, ch: ServerChannel, user: User, request: AccessRequest): Promise<WaitOutcome> {
  const { requests, config, clock, scheduler, logger } = deps;
  return new Promise<WaitOutcome>((resolve) => {
    const started = clock.now().getTime();
    let settled = false;
    let cancelledHere = false;
    const finish = (outcome: WaitOutcome) => {
      if (settled) return;
      settled = true;
      ticker.cancel();
      requests.off('event', onEvent);
      ch.off('data', onData);
      ch.off('close', onClose);
      ch.pause();
      if (ch.writable) ch.write('\r\x1b[K');
      resolve(outcome);
    };
    const refuse = (code: 'ERR_APPROVAL_DENIED' | 'ERR_REQUEST_EXPIRED' | 'ERR_APPROVAL_ABANDONED', message: string) =>
      finish({ approved: false, error: new AirlockError(code, message, { details: { requestId: request.id } }) });
    const conclude = (r: AccessRequest) => {
      if (r.status === 'approved') {
        const who = inertText(r.approvals.map((a) => a.approver).join(' and ') || r.decidedBy || 'an approver', { max: 200 });
        const comment = r.decisionComment ? ` ("${inertText(r.decisionComment, { max: 300 })}")` : '';
        ch.write(`\r\x1b[Kairlock: approved by ${who}${comment}; access until ${r.grantedUntil?.toISOString()}.\r\n`);
        finish({ approved: true, request: r });
      } else if (r.status === 'denied') {
        refuse('ERR_APPROVAL_DENIED', `denied by ${inertText(r.decidedBy ?? 'an approver', { max: 64 })}: ${inertText(r.decisionComment ?? '', { max: 300 })}`);
      } else if (r.status === 'expired') {
        refuse('ERR_REQUEST_EXPIRED', `nobody decided within ${Math.round(config.policy.requestTimeout / 60_000)} minutes; the request expired`);
      } else if (r.status === 'cancelled') {
        refuse('ERR_APPROVAL_ABANDONED', cancelledHere ? 'you cancelled the request' : 'the request was cancelled');
      } else if (r.status === 'revoked') {
        refuse('ERR_APPROVAL_DENIED', 'the request was revoked');
      }
    };
    const onEvent = (e: RequestEvent) => {
      if (e.request.id !== request.id) return;
      if (e.type === 'request.approval') {
        const more = e.request.approvalsNeeded - e.request.approvals.length;
        ch.write(`\r\x1b[Kairlock: ${inertText(e.actor ?? 'an approver', { max: 64 })} approved; ${more} more needed.\r\n`);
      }
      conclude(e.request);
    };
    const cancel = () =>
      requests.cancel(request.id, user).catch((err: unknown) => {
        // Already decided meanwhile: the decision arrives as an event.
        if (!isAirlockError(err)) logger.error({ err, requestId: request.id }, 'could not cancel a break-glass request');
      });
    const onData = (data: Buffer) => {
      if (!data.includes(0x03)) return;
      cancelledHere = true;
      void cancel().then(() => refuse('ERR_APPROVAL_ABANDONED', 'you cancelled the request'));
    };
    const onClose = () => {
      void cancel();
      refuse('ERR_APPROVAL_ABANDONED', 'disconnected');
    };
    let ticks = 0;
    const ticker = scheduler.every(TICK_MS, () => {
      const s = Math.floor((clock.now().getTime() - started) / 1000);
      if (ch.writable) ch.write(`\r\x1b[K  waiting for approval: ${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')} elapsed`);
      if (++ticks % POLL_EVERY === 0) {
        void requests
          .expireDue()
          .then(() => requests.get(request.id))
          .then(conclude)
          .catch((err: unknown) => logger.warn({ err, requestId: request.id }, 'could not poll a break-glass request'));
      }
    });
    requests.on('event', onEvent);
    ch.on('data', onData);
    ch.once('close', onClose);
    ch.resume();
  });
}
