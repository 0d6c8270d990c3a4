import type { AccessRequest } from './requests.js';
import { formatDuration } from '../core/index.js';

/**
 * What a notification says, apart from how it travels: the JSON body of a
 * webhook, the one line a Slack-compatible webhook shows, and the e-mail text.
 * Plain ASCII in subjects, so every mail client shows them unencoded.
 */
export type NotifiedEvent = 'request.created' | 'request.decided' | 'request.expired' | 'grant.revoked';

export interface Notification {
  event: NotifiedEvent;
  request: AccessRequest;
  actor: string | null;
  at: Date;
  /** The ticket as a link (policy.ticketLink), when there is a ticket and a template. */
  ticketLink: string | null;
}

/** One notification, ready for every channel: what a webhook posts (json or slack), what a mail says. */
export interface Outgoing {
  event: NotifiedEvent | 'command.risky';
  at: Date;
  json: Record<string, unknown>;
  slack: { text: string };
  /** For the approvers' mail; requests choose their mail per recipient instead. */
  mail?: MailText;
  /** Logged and audited with every delivery of it. */
  context: Record<string, string>;
}

/** A request's notification for the webhooks. */
export function requestOutgoing(n: Notification): Outgoing {
  return { event: n.event, at: n.at, json: webhookBody(n), slack: slackBody(n), context: { event: n.event, requestId: n.request.id } };
}

export function ticketLinkFor(template: string | undefined, ticket: string | null): string | null {
  if (!template || !ticket) return null;
  return template.replaceAll('{ticket}', encodeURIComponent(ticket));
}

/** The generic webhook body: stable field names, ISO times, nulls rather than missing keys. */
export function webhookBody(n: Notification): Record<string, unknown> {
  const r = n.request;
  return {
    event: n.event,
    request: {
      id: r.id,
      user: r.userName,
      target: r.targetName,
      login: r.login,
      sensitivity: r.sensitivity,
      status: r.status,
      reason: r.reason,
      ticket: r.ticket,
      ticketLink: n.ticketLink,
      durationMs: r.durationMs,
      approvalsNeeded: r.approvalsNeeded,
      approvals: r.approvals.map((a) => ({ approver: a.approver, at: a.at.toISOString(), comment: a.comment })),
      pendingUntil: r.pendingUntil.toISOString(),
      grantedUntil: r.grantedUntil?.toISOString() ?? null,
      decidedBy: r.decidedBy,
      comment: commentOf(n),
    },
    actor: n.actor,
    at: n.at.toISOString(),
  };
}

function commentOf(n: Notification): string | null {
  return n.event === 'grant.revoked' ? n.request.revokeComment : n.request.decisionComment;
}

function outcome(n: Notification): string {
  const r = n.request;
  switch (n.event) {
    case 'request.created':
      return 'asks for access';
    case 'request.expired':
      return 'expired: nobody decided in time';
    case 'grant.revoked':
      return `revoked by ${r.revokedBy ?? n.actor ?? 'an approver'}`;
    case 'request.decided':
      return `${r.status} by ${r.decidedBy ?? n.actor ?? 'an approver'}`;
  }
}

/** Slack mrkdwn treats &, < and > as control characters. */
export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The one message a Slack-compatible incoming webhook shows. */
export function slackBody(n: Notification): { text: string } {
  const r = n.request;
  const who = n.event === 'request.created' ? `*${slackEscape(r.userName)}* asks for` : `Request by *${slackEscape(r.userName)}* for`;
  const lines = [
    `${who} \`${slackEscape(r.login)}@${slackEscape(r.targetName)}\` (${r.sensitivity}, ${formatDuration(r.durationMs)})${n.event === 'request.created' ? '' : `: ${slackEscape(outcome(n))}`}`,
  ];
  if (r.reason) lines.push(`Reason: ${slackEscape(r.reason)}`);
  if (r.ticket) lines.push(`Ticket: ${n.ticketLink ? `<${n.ticketLink}|${slackEscape(r.ticket)}>` : slackEscape(r.ticket)}`);
  const comment = commentOf(n);
  if (comment) lines.push(`Comment: ${slackEscape(comment)}`);
  if (n.event === 'request.decided' && r.status === 'approved' && r.grantedUntil) lines.push(`Until: ${r.grantedUntil.toISOString()}`);
  lines.push(`Request ${r.id}`);
  return { text: lines.join('\n') };
}

export interface MailText {
  subject: string;
  text: string;
}

/** To the approvers: someone waits for a decision. */
export function approverMail(n: Notification): MailText {
  const r = n.request;
  const needed = r.approvalsNeeded > 1 ? `${r.approvalsNeeded} distinct approvers are needed` : 'one approver is needed';
  return {
    subject: `[airlock] approval needed: ${r.userName} asks for ${r.login}@${r.targetName} (request ${r.id})`,
    text: [
      `${r.userName} asks for access to ${r.login}@${r.targetName} (${r.sensitivity}) for ${formatDuration(r.durationMs)}; ${needed}.`,
      '',
      ...details(n),
      `Pending until: ${r.pendingUntil.toISOString()}`,
      '',
      'To decide:',
      `  airlock requests approve ${r.id} --comment "..."`,
      `  airlock requests deny ${r.id} --comment "..."`,
      '',
    ].join('\n'),
  };
}

/** To the requester: what became of their request or grant. */
export function requesterMail(n: Notification): MailText {
  const r = n.request;
  const what = n.event === 'grant.revoked' ? `your access to ${r.login}@${r.targetName}` : `your request for ${r.login}@${r.targetName}`;
  const headline = n.event === 'request.expired' ? `${capitalise(what)} expired: nobody decided in time.` : `${capitalise(what)} was ${outcome(n)}.`;
  const lines = [headline, '', ...details(n)];
  const comment = commentOf(n);
  if (comment) lines.push(`Comment: ${comment}`);
  if (n.event === 'request.decided' && r.status === 'approved' && r.grantedUntil) lines.push(`Access until: ${r.grantedUntil.toISOString()}`);
  lines.push('');
  const verb = n.event === 'request.expired' ? 'expired' : n.event === 'grant.revoked' ? 'was revoked' : `was ${r.status}`;
  return { subject: `[airlock] ${what} ${verb} (request ${r.id})`, text: lines.join('\n') };
}

function details(n: Notification): string[] {
  const r = n.request;
  const out = [`Request: ${r.id}`, `Target: ${r.login}@${r.targetName} (${r.sensitivity})`, `Reason: ${r.reason ?? '(none given)'}`];
  if (r.ticket) out.push(`Ticket: ${r.ticket}${n.ticketLink ? ` ${n.ticketLink}` : ''}`);
  return out;
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
