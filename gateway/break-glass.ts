import type { ServerChannel } from 'ssh2';
import { isAirlockError } from '../core/index.js';
import type { AccessRequest, RequestEvent, Target } from '../approvals/index.js';
import type { User } from '../identity/index.js';
import type { GatewayDeps } from './deps.js';
import { readLine } from './line-input.js';

/**
 * Break-glass inside the SSH session: the engineer connected to a target that
 * needs approval, so airlock asks for a reason (and a ticket when policy wants
 * one) right in the terminal, files the request, and shows its state live while
 * internal approvers decide. Nothing else is possible meanwhile: no target
 * connection exists, so no channel or forward can reach it. Ctrl-C cancels.
 */
export type WaitOutcome = { approved: true; request: AccessRequest } | { approved: false; message: string };

const POLL_MS = 1000;

export async function breakGlass(deps: GatewayDeps, ch: ServerChannel, user: User, target: Target, login: string, source: string): Promise<WaitOutcome> {
  const { requests, identity, config } = deps;
  const tier = requests.tierOf(target.sensitivity);
  ch.write(
    `\r\nairlock: ${target.name} is ${target.sensitivity}: access needs approval by ${tier.approvals === 1 ? 'an internal approver' : `${tier.approvals} different internal approvers`}.\r\n`,
  );
  const reason = await readLine(ch, `Reason${tier.reasonRequired ? '' : ' (optional)'}: `, { maxLength: 500 });
  if (reason === undefined) return { approved: false, message: 'cancelled; no request was made' };
  let ticket: string | undefined;
  if (tier.ticketRequired || config.policy.ticketPattern) {
    ticket = await readLine(ch, `Ticket${tier.ticketRequired ? '' : ' (optional)'}: `, { maxLength: 100 });
    if (ticket === undefined) return { approved: false, message: 'cancelled; no request was made' };
  }
  let request: AccessRequest;
  try {
    request = await requests.create(user, target, { login, reason, ticket: ticket || undefined, source });
  } catch (err) {
    return { approved: false, message: isAirlockError(err) && err.expose ? err.message : 'the request could not be made' };
  }
  const approvers = (await identity.users.list({ role: 'approver', status: 'active' })).filter((u) => u.id !== user.id).map((u) => u.name);
  ch.write(
    `airlock: request ${request.id.slice(0, 8)} sent; approvers: ${approvers.join(', ') || 'none active!'}.\r\n` +
      `airlock: waiting here; Ctrl-C cancels the request.\r\n`,
  );

  return new Promise<WaitOutcome>((resolve) => {
    const started = Date.now();
    let settled = false;
    let cancelledHere = false;
    const finish = (outcome: WaitOutcome) => {
      if (settled) return;
      settled = true;
      clearInterval(ticker);
      requests.off('event', onEvent);
      ch.off('data', onData);
      ch.off('close', onClose);
      ch.pause();
      ch.write('\r\x1b[K');
      resolve(outcome);
    };
    const conclude = (r: AccessRequest) => {
      if (r.status === 'approved') {
        const who = r.approvals.map((a) => a.approver).join(' and ') || r.decidedBy;
        ch.write(`\r\x1b[Kairlock: approved by ${who}${r.decisionComment ? ` ("${r.decisionComment}")` : ''}; access until ${r.grantedUntil?.toISOString()}.\r\n`);
        finish({ approved: true, request: r });
      } else if (r.status === 'denied') {
        finish({ approved: false, message: `denied by ${r.decidedBy}: ${r.decisionComment ?? ''}` });
      } else if (r.status === 'expired') {
        finish({ approved: false, message: `nobody decided within ${Math.round(config.policy.requestTimeout / 60_000)} minutes; the request expired` });
      } else if (r.status === 'cancelled' && cancelledHere) {
        finish({ approved: false, message: 'you cancelled the request' });
      } else if (r.status === 'cancelled' || r.status === 'revoked') {
        finish({ approved: false, message: `the request was ${r.status}` });
      }
    };
    const onEvent = (e: RequestEvent) => {
      if (e.request.id !== request.id) return;
      if (e.type === 'request.approval') ch.write(`\r\x1b[Kairlock: ${e.actor} approved; ${e.request.approvalsNeeded - e.request.approvals.length} more needed.\r\n`);
      conclude(e.request);
    };
    const onData = (data: Buffer) => {
      if (!data.includes(0x03)) return;
      cancelledHere = true;
      void requests
        .cancel(request.id, user)
        .catch(() => undefined)
        .then(() => finish({ approved: false, message: 'you cancelled the request' }));
    };
    const onClose = () => {
      void requests.cancel(request.id, user).catch(() => undefined);
      finish({ approved: false, message: 'disconnected' });
    };
    // Other nodes decide too: poll the database as well as listening here.
    let polls = 0;
    const ticker = setInterval(() => {
      const s = Math.floor((Date.now() - started) / 1000);
      ch.write(`\r\x1b[K  waiting for approval: ${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')} elapsed`);
      if (++polls % 2 === 0) {
        void requests
          .expireDue()
          .then(() => requests.get(request.id))
          .then(conclude)
          .catch(() => undefined);
      }
    }, POLL_MS);
    requests.on('event', onEvent);
    ch.on('data', onData);
    ch.once('close', onClose);
    ch.resume();
  });
}
