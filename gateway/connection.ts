import type { AcceptConnection, Connection, RejectConnection, ServerChannel, Session, TcpipRequestInfo } from 'ssh2';
import { AirlockError, inertText, toAirlockError } from '../core/index.js';
import type { LiveRecording } from '../recordings/index.js';
import type { ChannelHost, Terminal } from './channel-host.js';
import { ChannelBudget, ChannelRefusals } from './channel-budget.js';
import type { Admission, ChannelKind } from './channel-budget.js';
import { ConnectionRecordings } from './connection-recordings.js';
import { hangUp } from './hang-up.js';
import { breakGlass } from './break-glass.js';
import type { GatewayDeps } from './deps.js';
import { Forwarding } from './forwarding.js';
import { Guard } from './guard.js';
import { readLine } from './line-input.js';
import { chooseTarget } from './menu.js';
import type { ExitInfo, RelayControl } from './relay.js';
import { acceptSession } from './session-channel.js';
import type { ChannelRecord, LiveSession } from './sessions.js';
import { SshAuth, wantsFreshCode } from './ssh-auth.js';
import type { Authenticated } from './ssh-auth.js';
import { sshLine, sshMessage } from './ssh-errors.js';
import { OPEN_FAILURE, rejectChannel } from './ssh2-patches.js';
import { openTargetLink } from './target-link.js';
import type { ApprovalNeeded, LinkResult, TargetLink } from './target-link.js';

/**
 * One engineer's SSH connection through airlock. Its state is one Phase:
 *
 *   authenticating → authenticated ─(target named, or chosen from the menu)→ linking
 *   linking → linked | approval | refused;   approval ─(approved in the terminal)→ linking
 *   any → ending (terminate(), the target went away, a failure) → closed
 *
 * The phases themselves live in their own files: ssh-auth (who), target-link
 * (policy and airlock's connection to the target), session-channel,
 * sftp-channel and forwarding (what the engineer opens), break-glass and menu
 * (talking to the engineer in the terminal). Every ssh2 event reaches this
 * class through the connection's Guard, so a failure ends this connection and
 * nothing else. Nothing but authentication is possible before `authenticated`,
 * and nothing reaches a target before `linked`: a channel asks link() and waits.
 */
type EndStatus = { status: 'closed' | 'terminated' | 'failed'; reason: string };

type Phase =
  | { kind: 'authenticating' }
  | { kind: 'authenticated'; who: Authenticated }
  | { kind: 'linking'; who: Authenticated; pending: Promise<unknown> }
  | { kind: 'approval'; who: Authenticated; needed: ApprovalNeeded; waiting?: Promise<void> }
  | { kind: 'linked'; who: Authenticated; link: TargetLink }
  | { kind: 'refused'; who: Authenticated; error: AirlockError }
  | { kind: 'ending'; who?: Authenticated; end: EndStatus }
  | { kind: 'closed'; end: EndStatus };

const DISCONNECTED: EndStatus = { status: 'closed', reason: 'engineer disconnected' };

export class GatewayConnection implements ChannelHost {
  readonly guard: Guard;
  #phase: Phase = { kind: 'authenticating' };
  /** The latest target link attempt; the session row it made is completed at close. */
  #attempt: Promise<TargetLink | undefined> | undefined;
  readonly #auth: SshAuth;
  readonly #forwarding: Forwarding;
  readonly #budget: ChannelBudget;
  readonly #refusals = new ChannelRefusals();
  readonly #channels = new Set<ServerChannel>();
  readonly #recordings: ConnectionRecordings;
  readonly #relays = new Set<RelayControl>();
  #lastExit: ExitInfo | undefined;
  #settled!: () => void;
  /** Resolves once the connection is closed and its session row completed. */
  readonly finished = new Promise<void>((resolve) => {
    this.#settled = resolve;
  });

  constructor(
    readonly deps: GatewayDeps,
    private readonly conn: Connection,
    readonly source: string,
    private readonly onAuthenticated: () => void,
  ) {
    this.guard = new Guard(deps, () => ({ source, user: this.#who()?.user.name }), (reason) => this.#failed(reason));
    this.#auth = new SshAuth(deps, conn, source, this.guard, (who) => this.#accepted(who));
    this.#forwarding = new Forwarding(this, conn, (kind) => this.#admit(kind));
    this.#budget = new ChannelBudget(deps.config.ssh.maxChannelsPerConnection, deps.channels);
    this.#recordings = new ConnectionRecordings(deps, source, () => this.terminate('could not write the recording of this session, so the session was ended', 'failed'));
    const g = this.guard;
    conn.on('authentication', g.wrap('authentication', (ctx) => this.#auth.handle(ctx)));
    conn.on('ready', g.wrap('ready', () => this.#ready()));
    conn.on('session', g.wrap('session', (accept: AcceptConnection<Session>, reject: RejectConnection) => this.#session(accept, reject)));
    conn.on('tcpip', g.wrap('direct-tcpip', (accept: AcceptConnection<ServerChannel>, reject: RejectConnection, info: TcpipRequestInfo) => this.#tcpip(accept, reject, info)));
    conn.on(
      'request',
      g.wrap('global request', (accept: ((port?: number) => void) | undefined, reject: (() => void) | undefined, name: string, info: unknown) => {
        if (this.#ending()) return reject?.();
        return this.#forwarding.globalRequest(accept, reject, name, info);
      }),
    );
    conn.on(
      'openssh.streamlocal',
      g.wrap('streamlocal', (_accept: unknown, reject: RejectConnection) => {
        reject();
        this.refused('streamlocal', {});
      }),
    );
    conn.on('close', g.wrap('close', () => this.#onClose()));
    conn.on('error', (err) => deps.logger.debug({ err: err.message, source }, 'ssh connection error'));
  }

  get userName(): string {
    return this.#who()?.user.name ?? '';
  }

  // ------------------------------------------------------------ phases

  #who(): Authenticated | undefined {
    const p = this.#phase;
    return 'who' in p ? p.who : undefined;
  }

  #ending(): boolean {
    return this.#phase.kind === 'ending' || this.#phase.kind === 'closed';
  }

  /** SshAuth accepted a request: the one place the connection gets its identity. */
  #accepted(who: Authenticated): void {
    if (this.#phase.kind !== 'authenticating') throw new AirlockError('ERR_INTERNAL', `authenticated twice (phase ${this.#phase.kind})`);
    this.#phase = { kind: 'authenticated', who };
  }

  #ready(): void {
    this.onAuthenticated();
    // Start the policy check and target connection at once, while the client is
    // still opening its channel; a failure is reported on that channel.
    const p = this.#phase;
    if (p.kind === 'authenticated' && p.who.spec.target) this.#startLinking(p.who, p.who.spec.target, p.who.spec.login);
  }

  #startLinking(who: Authenticated, target: string, targetLogin: string | undefined): void {
    const attempt = openTargetLink(
      this.deps,
      { user: who.user, login: who.login, source: this.source, target, targetLogin },
      {
        terminate: (reason) => this.terminate(reason),
        notify: (message) => this.notify(message),
        closed: () => this.#phase.kind === 'closed',
        targetClosed: () => this.#targetClosed(),
      },
    );
    const settled = attempt.then(
      (result: LinkResult) => {
        if (this.#phase === linking) this.#phase = result.ok ? { kind: 'linked', who, link: result.link } : { kind: 'approval', who, needed: result.approvalRequired };
        return result.ok ? result.link : undefined;
      },
      (err: unknown) => {
        if (this.#phase === linking) this.#phase = { kind: 'refused', who, error: toAirlockError(err) };
        return undefined;
      },
    );
    const linking: Phase = { kind: 'linking', who, pending: settled };
    this.#phase = linking;
    this.#attempt = settled;
  }

  /**
   * The target link for a channel: waits while it is being made, runs the menu
   * or break-glass where the engineer has a terminal, and otherwise says why not.
   */
  async link(terminal?: Terminal): Promise<TargetLink> {
    for (;;) {
      const p = this.#phase;
      switch (p.kind) {
        case 'linked':
          return p.link;
        case 'linking':
          await p.pending;
          continue;
        case 'refused':
          throw p.error;
        case 'authenticated':
          if (!terminal?.shell) throw new AirlockError('ERR_TARGET_REQUIRED', 'name a target: ssh user@TARGET@airlock');
          await this.#fromMenu(p.who, terminal);
          continue;
        case 'approval':
          if (!terminal) {
            throw new AirlockError(
              'ERR_APPROVAL_REQUIRED',
              `${p.needed.reason}: connect with a terminal (ssh -t) to ask for it, or ask ahead with "airlock request ${p.needed.target.name} --reason …"`,
            );
          }
          p.waiting ??= this.#askApproval(p, terminal);
          await p.waiting;
          continue;
        case 'ending':
        case 'closed':
          throw new AirlockError('ERR_ACCESS_ENDED', 'this connection is closing');
        case 'authenticating':
          throw new AirlockError('ERR_INTERNAL', 'a channel before authentication');
      }
    }
  }

  /** A plain "ssh alice@airlock" with a terminal: the engineer picks a target. */
  async #fromMenu(who: Authenticated, terminal: Terminal): Promise<void> {
    const { policy, scheduler } = this.deps;
    const available = await policy.available(who.user);
    const choice = await chooseTarget(
      terminal.ch,
      scheduler,
      who.user.name,
      available.map(({ target }) => ({ name: target.name, sensitivity: target.sensitivity, description: target.description })),
    );
    terminal.ch.pause(); // the menu read in flowing mode; hold input until the relay pipes it
    if (!choice) throw new AirlockError('ERR_CANCELLED', 'no target chosen');
    if (this.#phase.kind !== 'authenticated') return; // another channel chose meanwhile, or the connection is ending
    let chosen: Authenticated = { ...who, spec: { ...who.spec, target: choice } };
    // The same rule as for "ssh alice@db01@airlock": a certificate alone does not open a critical target.
    if (who.method === 'publickey' && (await wantsFreshCode(this.deps, choice))) {
      terminal.ch.write(`\r\nairlock: ${choice} is critical: it needs a fresh verification code.\r\n`);
      const code = await readLine(terminal.ch, 'Verification code: ', { scheduler, echo: false, maxLength: 16, timeoutMs: 120_000 });
      terminal.ch.pause();
      if (code === undefined) throw new AirlockError('ERR_OTP_INVALID', 'no verification code was given');
      await this.deps.identity.verifyTotp(who.user.name, code, this.source, 'ssh');
      chosen = { ...chosen, method: 'certificate+totp' };
    }
    if (this.#phase.kind !== 'authenticated') return;
    this.#startLinking(chosen, choice, chosen.spec.login);
  }

  /** Break-glass in the terminal; on approval the same connection links again. */
  async #askApproval(p: Extract<Phase, { kind: 'approval' }>, terminal: Terminal): Promise<void> {
    const { target, login } = p.needed;
    let approved = false;
    try {
      const outcome = await breakGlass(this.deps, terminal.ch, p.who.user, target, login, this.source);
      if (this.#phase !== p) return;
      if (!outcome.approved) throw outcome.error;
      approved = true;
      this.#startLinking(p.who, target.name, login);
    } finally {
      if (!approved) p.waiting = undefined; // a later channel may ask again
    }
  }

  // ------------------------------------------------------------ channels

  #session(accept: AcceptConnection<Session>, reject: RejectConnection): void {
    if (this.#ending()) return reject();
    const release = this.#admitOrRefuse('session', reject);
    if (release) acceptSession(this, accept, release);
  }

  #tcpip(accept: AcceptConnection<ServerChannel>, reject: RejectConnection, info: TcpipRequestInfo): Promise<void> | void {
    if (this.#ending()) return reject();
    const release = this.#admitOrRefuse('direct-tcpip', reject);
    if (release) return this.#forwarding.directTcpip(accept, reject, info, release);
  }

  /** A channel the engineer opens: admitted, or refused with an SSH channel-open failure (RFC 4254 §5.1). */
  #admitOrRefuse(kind: ChannelKind, reject: RejectConnection): (() => void) | undefined {
    const release = this.#admit(kind);
    if (release) return release;
    // The engineer reads the general reason; which cap, and the numbers, are in the log and the audit.
    const error = new AirlockError('ERR_CHANNEL_LIMIT', 'too many channels open at once; close some and try again');
    rejectChannel(this.conn, reject, OPEN_FAILURE.resourceShortage, sshMessage(error));
    return undefined;
  }

  /** Takes a channel from this connection's budget and its user's; a refusal is tallied, logged and (the first) audited. */
  #admit(kind: ChannelKind): (() => void) | undefined {
    const who = this.#who();
    if (!who) return undefined; // ssh2 opens no channel before authentication; never admit one without a user
    const admission: Admission = this.#budget.take(who.user.id);
    if (admission.ok) return admission.release;
    const { cap, open, max } = admission;
    const first = this.#refusals.add(kind, admission);
    const facts = { source: this.source, user: who.user.name, kind, cap, open, max };
    if (!first) {
      this.deps.logger.debug(facts, 'channel refused: too many open');
      return undefined;
    }
    this.deps.logger.warn(facts, 'channel refused: too many open (further refusals on this connection are summed at its end)');
    this.guard.audit({
      action: 'session.channel.refused',
      outcome: 'failure',
      actor: who.user.name,
      target: this.#auditTarget(),
      source: this.source,
      details: { kind, cap, open, max },
    });
    return undefined;
  }

  /** At the end of a connection that was refused channels more than once: one row with the sum. */
  #auditRefusals(): void {
    if (this.#refusals.count === 0) return;
    const summary = this.#refusals.summary();
    const user = this.#who()?.user.name;
    this.deps.logger.warn({ source: this.source, user, ...summary }, 'channels refused on this connection: too many open');
    if (this.#refusals.count < 2) return; // the first was audited when it happened
    this.guard.audit({
      action: 'session.channel.refused',
      outcome: 'failure',
      actor: user,
      target: this.#auditTarget(),
      source: this.source,
      details: { ...summary, maxPerConnection: this.#budget.max, maxPerUser: this.deps.channels.max },
    });
  }

  #auditTarget(): string | undefined {
    const spec = this.#who()?.spec;
    return spec?.target ? `${spec.target}:${spec.login ?? '-'}` : undefined;
  }

  record(link: TargetLink, kind: 'terminal' | 'exec' | 'sftp', pty: { cols: number; rows: number; term: string } | undefined, command?: string): Promise<LiveRecording> {
    return this.#recordings.start(link, kind, pty, command);
  }

  finishRecording(rec: LiveRecording): void {
    this.#recordings.finish(rec);
  }

  track(ch: ServerChannel): void {
    this.#channels.add(ch);
    ch.once('close', () => this.#channels.delete(ch));
  }

  addRelay(relay: RelayControl): () => void {
    this.#relays.add(relay);
    return () => this.#relays.delete(relay);
  }

  exited(exit: ExitInfo): void {
    this.#lastExit = exit;
  }

  channelOpened(session: LiveSession, record: Omit<ChannelRecord, 'at'>): void {
    session.channels.push({ ...record, at: this.deps.clock.now().toISOString() });
    if (record.kind === 'direct-tcpip' || record.kind === 'forwarded-tcpip') this.#recordings.marker(`${record.kind} ${record.detail ?? ''}`);
    this.guard.audit({
      action: `session.${record.kind}`,
      outcome: 'success',
      actor: session.userName,
      target: `${session.targetName}:${session.login}`,
      source: this.source,
      details: { sessionId: session.id, ...(record.command !== undefined ? { command: record.command.slice(0, 4096) } : {}), ...(record.detail ? { detail: record.detail } : {}) },
    });
  }

  refused(kind: string, details: Record<string, unknown>): void {
    this.guard.audit({
      action: 'session.forward.refused',
      outcome: 'failure',
      actor: this.#who()?.user.name,
      target: this.#auditTarget(),
      source: this.source,
      details: { kind, ...details },
    });
  }

  deny(ch: ServerChannel, err: unknown, nl: '\r\n' | '\n'): void {
    const error = toAirlockError(err);
    if (error.code !== 'ERR_CANCELLED') {
      try {
        ch.stderr.write(sshLine(error, nl, this.deps.logger, { source: this.source, user: this.userName }));
      } catch {
        /* channel already gone */
      }
    }
    this.closeChannel(ch, error.code === 'ERR_CANCELLED' ? 0 : 1);
  }

  closeChannel(ch: ServerChannel, code: number): void {
    if (!ch.writable) return;
    ch.exit(code);
    ch.end();
  }

  // ------------------------------------------------------------ ending

  /**
   * Writes a line to every open channel of the engineer (warnings, why a session
   * ends). Messages may quote what someone typed (a revoke comment, a terminate
   * reason), so they are made inert for the terminal here, for every caller.
   */
  notify(message: string): void {
    const line = inertText(message, { max: 500 });
    this.#recordings.marker(`airlock: ${line}`);
    for (const ch of this.#channels) {
      try {
        ch.stderr.write(`\r\nairlock: ${line}\r\n`);
      } catch {
        /* gone */
      }
    }
  }

  /** Ends the connection from outside, telling the engineer why. */
  terminate(reason: string, status: EndStatus['status'] = 'terminated'): void {
    if (this.#ending()) return;
    this.#phase = { kind: 'ending', who: this.#who(), end: { status, reason } };
    // Nothing more from the target: the notice must not queue behind its output.
    for (const relay of this.#relays) relay.stop();
    this.notify(reason);
    hangUp([...this.#channels], () => this.conn.end(), this.deps.scheduler);
  }

  /** The guard caught a failure: end this connection, recorded as failed. */
  #failed(reason: string): void {
    if (this.#phase.kind === 'authenticating') return void this.conn.end();
    this.terminate(reason, 'failed');
  }

  #targetClosed(): void {
    if (this.#ending()) return;
    this.#phase = { kind: 'ending', who: this.#who(), end: { status: 'closed', reason: 'the target closed the connection' } };
    // Give relays a moment to deliver the last output, then hang up.
    this.deps.scheduler.after(this.#channels.size ? 2000 : 0, () => this.conn.end());
  }

  async #onClose(): Promise<void> {
    if (this.#phase.kind === 'closed') return;
    const end = this.#phase.kind === 'ending' ? this.#phase.end : DISCONNECTED;
    this.#auditRefusals();
    this.#budget.releaseAll();
    this.#phase = { kind: 'closed', end };
    try {
      await this.#completeSession(end);
    } finally {
      this.#settled();
    }
  }

  async #completeSession(end: EndStatus): Promise<void> {
    await this.#recordings.finishAll();
    const link = await this.#attempt;
    if (!link) return;
    link.client.end();
    const exit = this.#lastExit;
    await this.deps.sessions
      .finish(link.session, {
        ...end,
        exitCode: exit && 'code' in exit ? exit.code : null,
        exitSignal: exit && 'signal' in exit ? exit.signal : null,
      })
      .catch((err: unknown) => this.deps.logger.error({ err, session: link.session.id }, 'cannot record the end of a session'));
  }
}
