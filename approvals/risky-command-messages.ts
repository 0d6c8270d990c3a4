import { inertText } from '../core/index.js';
import { slackEscape } from './notification-messages.js';
import type { Outgoing } from './notification-messages.js';

/**
 * What approvers are told when a live session runs a risky command
 * (recordings/risk-rules.ts, found live by recordings/live-analyses.ts): who,
 * where, the command as the screen showed it and why it was flagged. Several in
 * one session within notifications.riskyCommandInterval come as one message:
 * the first at once, the rest gathered at the end of the interval.
 *
 * Command text is what an engineer typed: it is cut to a length and made inert
 * (no terminal escapes, no control characters) before it goes anywhere, and
 * escaped for Slack's mrkdwn.
 */
export interface RiskyCommand {
  seq: number;
  /** Seconds into the recording. */
  t: number;
  at: Date;
  text: string;
  risks: Array<{ rule: string; reason: string; severity: string }>;
}

export interface RiskyCommandsNotice {
  session: {
    id: string;
    recording: string;
    user: string;
    target: string;
    sensitivity: string;
  };
  /** The commands told of (at most MAX_LISTED), oldest first. */
  commands: RiskyCommand[];
  /** More risky commands in the interval than are listed. */
  more: number;
  at: Date;
}

export const MAX_LISTED = 10;
const MAX_TEXT = 300;

function shown(text: string): string {
  return inertText(text, { max: MAX_TEXT });
}

function rules(c: RiskyCommand): string {
  return c.risks.map((r) => r.reason).join('; ');
}

function headline(n: RiskyCommandsNotice): string {
  const count = n.commands.length + n.more;
  const s = n.session;
  return count === 1 ? `${s.user} ran a risky command on ${s.target} (${s.sensitivity})` : `${s.user} ran ${count} risky commands on ${s.target} (${s.sensitivity})`;
}

function highest(n: RiskyCommandsNotice): string {
  const order = ['high', 'medium', 'low'];
  const all = n.commands.flatMap((c) => c.risks.map((r) => r.severity));
  return order.find((o) => all.includes(o)) ?? 'low';
}

export function riskyCommandsOutgoing(n: RiskyCommandsNotice): Outgoing {
  const s = n.session;
  const json = {
    event: 'command.risky',
    session: { id: s.id, recording: s.recording, user: s.user, target: s.target, sensitivity: s.sensitivity },
    severity: highest(n),
    commands: n.commands.map((c) => ({ seq: c.seq, t: c.t, at: c.at.toISOString(), text: shown(c.text), risks: c.risks })),
    more: n.more,
    at: n.at.toISOString(),
  };
  const lines = [`*${slackEscape(headline(n))}*`];
  for (const c of n.commands) lines.push(`\`${slackEscape(shown(c.text).replace(/`/g, "'"))}\` — ${slackEscape(rules(c))}`);
  if (n.more > 0) lines.push(`…and ${n.more} more`);
  lines.push(`Session ${s.id}, recording ${s.recording}`);
  const text = [
    `${headline(n)}.`,
    '',
    ...n.commands.flatMap((c) => [`  ${c.at.toISOString()}  ${shown(c.text)}`, `      ${rules(c)}`]),
    ...(n.more > 0 ? [`  …and ${n.more} more`] : []),
    '',
    `Session: ${s.id}`,
    `Recording: ${s.recording} (commands: airlock recordings commands ${s.recording})`,
    'To end the session:',
    `  airlock sessions terminate ${s.id}`,
    '',
  ].join('\n');
  return {
    event: 'command.risky',
    at: n.at,
    json,
    slack: { text: lines.join('\n') },
    mail: { subject: `[airlock] ${ascii(headline(n))} (session ${s.id})`, text },
    context: { event: 'command.risky', sessionId: s.id, recordingId: s.recording },
  };
}

/** Subjects stay plain ASCII (notification-messages.ts). */
function ascii(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?');
}
