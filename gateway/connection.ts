import type { AuthContext, PublicKeyAuthContext, Client, ClientChannel, Connection, KeyboardAuthContext, PseudoTtyInfo, ServerChannel, Session, TcpipRequestInfo, AcceptConnection, RejectConnection } from 'ssh2';
import { AirlockError, isAirlockError } from '../core/index.js';
import type { Login, User } from '../identity/index.js';
import type { AccessScope, Target } from '../approvals/index.js';
import type { GatewayDeps } from './deps.js';
import { checkCertificate } from './cert-auth.js';
import { breakGlass } from './break-glass.js';
import { chooseTarget } from './menu.js';
import { connectTarget, TargetConnectError } from './connector.js';
import { relayChannel, relayTcp } from './relay.js';
import type { ExitInfo, RelayControl } from './relay.js';
import type { LiveSession } from './sessions.js';
import { SftpObserver } from './sftp-observer.js';
import { fileTransferProtocol } from './file-transfer.js';
import { parseSshUser } from './ssh-user.js';
import type { SshUser } from './ssh-user.js';
import type { LiveRecording, Recorder } from '../recordings/index.js';

/**
 * One engineer's SSH connection through airlock: authentication, the policy check,
 * airlock's own connection to the target, and the relay of every channel.
 *
 * The identity is set only at the moment an authentication request is accepted,
 * from that request's own user name (Warpgate CVE-2023-48712 switched identities
 * between attempts). Nothing but authentication is possible before that: ssh2
 * refuses channels and global requests until the user is authenticated.
 */
const ENV_ALLOWED = /^(LANG|LC_[A-Z]+|TERM)$/;
const MAX_COMMAND = 64 * 1024;
const MAX_TERM = 64;
const MAX_COLS_ROWS = 10_000;
const MAX_PIXELS = 100_000;
/** Offered after "none": certificates first, then password + code. */
const METHODS = ['publickey', 'keyboard-interactive'] as const;

interface TargetLink {
  client: Client;
  scope: AccessScope;
  session: LiveSession;
}

/** What a session channel's requests (resize, signal) need to reach. */
interface ChannelState {
  target?: ClientChannel;
  recorder?: Recorder;
}

/** The target needs an approved break-glass request first. */
class ApprovalRequired extends AirlockError {
  constructor(
    message: string,
    readonly target: Target,
    readonly login: string,
  ) {
    super('ERR_FORBIDDEN', message);
  }
}

type EndStatus = { status: 'closed' | 'terminated' | 'failed'; reason: string };

export class GatewayConnection {
  #user: User | undefined;
  #login: Login | undefined;
  #spec: SshUser | undefined;
  /** A certificate accepted as first factor, awaiting a fresh code (critical targets). */
  #pendingCert: { user: User; login: Login; username: string } | undefined;
  #failures = 0;
  #link: Promise<TargetLink> | undefined;
  #channels = new Set<ServerChannel>();
  #lastExit: ExitInfo | undefined;
  #end: EndStatus = { status: 'closed', reason: 'engineer disconnected' };
  #channelIndex = 0;
  #recordings = new Set<LiveRecording>();
  #recordingsDone: Array<Promise<void>> = [];
  #relays = new Set<RelayControl>();
  #closed = false;
  /** terminate() was called: no new channels, the connection is being hung up. */
  #terminating = false;
  #settled!: () => void;
  /** Resolves once the connection is closed and its session row completed. */
  readonly finished = new Promise<void>((resolve) => {
    this.#settled = resolve;
  });

  constructor(
    private readonly deps: GatewayDeps,
    private readonly conn: Connection,
    readonly source: string,
    private readonly onAuthenticated: () => void,
  ) {
    conn.on('authentication', (ctx) => void this.#authenticate(ctx));
    conn.on('ready', () => this.#ready());
    conn.on('session', (accept, reject) => (this.#terminating ? reject() : this.#session(accept, reject)));
    conn.on('tcpip', (accept, reject, info) => (this.#terminating ? reject() : this.#directTcpip(accept, reject, info)));
    conn.on('request', (accept, reject, name, info) => (this.#terminating ? reject?.() : this.#globalRequest(accept, reject, name, info)));
    conn.on('openssh.streamlocal', (_accept: unknown, reject: RejectConnection) => {
      reject();
      this.#refused('streamlocal', {});
    });
    conn.on('close', () => void this.#onClose());
    conn.on('error', (err) => deps.logger.debug({ err: err.message, source }, 'ssh connection error'));
  }

  get user(): User | undefined {
    return this.#user;
  }

  // ------------------------------------------------------------ authentication

  async #authenticate(ctx: AuthContext): Promise<void> {
    if (ctx.method === 'none') return ctx.reject([...METHODS]);
    // A changed user name abandons any half-finished login (CVE-2023-48712).
    if (this.#pendingCert && this.#pendingCert.username !== ctx.username) this.#pendingCert = undefined;
    const spec = parseSshUser(ctx.username);
    if (!spec) {
      await this.#auditFailure(ctx.username.slice(0, 64), 'invalid_user_name');
      return this.#reject(ctx, 'the user name must look like user@target (or just user for a menu)');
    }
    if (ctx.method === 'keyboard-interactive') return this.#keyboardInteractive(ctx, spec);
    if (ctx.method === 'publickey') return this.#publicKey(ctx, spec);
    // password and hostbased are not offered.
    return this.#reject(ctx);
  }

  /**
   * Certificates issued by `airlock login`. Plain public keys are never a way in.
   * OpenSSH first asks whether a key would do (no signature), then signs; both
   * are checked in full, the second also for the client's signature.
   */
  async #publicKey(ctx: PublicKeyAuthContext, spec: SshUser): Promise<void> {
    const check = await checkCertificate(this.deps.identity, this.deps.clock, {
      username: spec.user,
      keyAlgo: ctx.key.algo,
      keyData: ctx.key.data,
      signature: ctx.signature,
      blob: ctx.blob,
      source: this.source,
    });
    if (!check.ok) {
      // Plain keys probed by a client are not worth an audit row; anything signed,
      // or any certificate that fails, is.
      if (ctx.signature || check.reason !== 'not_a_certificate') {
        await this.#auditFailure(spec.user, check.reason.startsWith('not_a_cert') ? 'publickey_not_accepted' : `certificate_${check.reason}`, { method: 'publickey' });
      }
      if (ctx.signature) return this.#reject(ctx);
      return ctx.reject([...METHODS]);
    }
    if (!ctx.signature) return ctx.accept(); // "this key would do": the signed request follows
    const { user, login } = check;
    if (!this.deps.config.ssh.allowedRoles.includes(user.role)) {
      await this.#auditFailure(user.name, 'role_not_allowed', { role: user.role });
      return this.#reject(ctx);
    }
    if (spec.target && (await this.#wantsFreshCode(spec.target))) {
      this.#pendingCert = { user, login, username: ctx.username };
      return ctx.reject(['keyboard-interactive'], true); // partial success: a code next
    }
    await this.#accept(ctx, user, login, spec, 'publickey');
  }

  async #wantsFreshCode(targetName: string): Promise<boolean> {
    if (!this.deps.config.ssh.freshTotpForCritical) return false;
    return (await this.deps.targets.find(targetName))?.sensitivity === 'critical';
  }

  #keyboardInteractive(ctx: KeyboardAuthContext, spec: SshUser): void {
    const pending = this.#pendingCert;
    const prompts = pending
      ? [{ prompt: 'Verification code: ', echo: false }]
      : [
          { prompt: 'Password: ', echo: false },
          { prompt: 'Verification code: ', echo: false },
        ];
    ctx.prompt(prompts, '', pending ? 'airlock: this target needs a fresh verification code.' : '', (answers: string[] | Error) => {
      void (async () => {
        if (!Array.isArray(answers) || answers.length !== prompts.length) return this.#reject(ctx);
        let user: User;
        try {
          if (pending) {
            user = await this.deps.identity.verifyTotp(spec.user, answers[0] as string, this.source, 'ssh');
          } else {
            const [password, totp] = answers as [string, string];
            user = await this.deps.identity.authenticate({ name: spec.user, password, totp, source: this.source }, 'ssh');
          }
        } catch (err) {
          const message = isAirlockError(err) && err.expose ? err.message : 'login failed';
          if (!isAirlockError(err) || !err.expose) this.deps.logger.error({ err }, 'ssh authentication error');
          return this.#reject(ctx, message);
        }
        if (!this.deps.config.ssh.allowedRoles.includes(user.role)) {
          await this.#auditFailure(user.name, 'role_not_allowed', { role: user.role });
          return this.#reject(ctx, `the ${user.role} role may not open SSH sessions`);
        }
        const login = pending && pending.user.id === user.id ? pending.login : await this.deps.identity.sshLogin(user, this.source, { target: spec.target ?? null, login: spec.login ?? null });
        await this.#accept(ctx, user, login, spec, pending ? 'certificate+totp' : 'keyboard-interactive');
      })();
    });
  }

  /** The one place an identity is set: from the request being accepted. */
  async #accept(ctx: AuthContext, user: User, login: Login, spec: SshUser, method: string): Promise<void> {
    this.#user = user;
    this.#login = login;
    this.#spec = spec;
    this.#pendingCert = undefined;
    if (method !== 'keyboard-interactive') {
      await this.deps.audit.record({
        action: 'auth.ssh.accepted',
        outcome: 'success',
        actor: user.name,
        target: user.name,
        source: this.source,
        details: { method, loginId: login.id, certificateSerial: login.certSerial, target: spec.target ?? null },
      });
    }
    ctx.accept();
  }

  /**
   * Refuses one attempt. With a message, it is shown first as the instruction of an
   * empty keyboard-interactive round (RFC 4256 §3.2 allows zero prompts; OpenSSH
   * prints the instruction), since SSH has no other way to say why mid-login.
   */
  #reject(ctx: AuthContext, message?: string): void {
    this.#failures++;
    const finish = () => {
      ctx.reject([...METHODS]);
      if (this.#failures >= this.deps.config.ssh.maxAuthAttempts) {
        this.deps.logger.info({ source: this.source }, 'too many authentication attempts; disconnecting');
        void this.deps.audit.record({ action: 'auth.ssh.too_many_attempts', outcome: 'failure', source: this.source, details: { attempts: this.#failures } });
        this.conn.end();
      }
    };
    if (message && ctx.method === 'keyboard-interactive') ctx.prompt([], 'airlock', `airlock: ${message}`, () => finish());
    else finish();
  }

  #auditFailure(name: string, reason: string, details: Record<string, unknown> = {}): Promise<unknown> {
    return this.deps.audit.record({
      action: 'auth.login.failed',
      outcome: 'failure',
      target: name,
      source: this.source,
      details: { channel: 'ssh', reason, ...details },
    });
  }

  #ready(): void {
    this.onAuthenticated();
    // Start the policy check and target connection at once, while the client is
    // still opening its channel; a failure is reported on that channel.
    if (this.#spec?.target) {
      this.#link = this.#connect(this.#spec.target, this.#spec.login);
      this.#link.catch(() => {});
    }
  }

  // ------------------------------------------------------------ target

  async #connect(targetName: string, login: string | undefined): Promise<TargetLink> {
    const { policy, targets, sessions, audit, config, logger } = this.deps;
    const user = this.#user as User;
    const decision = await policy.decide(user, targetName, login);
    if (!decision.allowed) {
      await audit.record({
        action: 'session.denied',
        outcome: 'failure',
        actor: user.name,
        target: `${targetName}:${login ?? '-'}`,
        source: this.source,
        details: { reason: decision.code, detail: decision.detail },
      });
      if (decision.code === 'approval_required') throw new ApprovalRequired(decision.reason, decision.target, decision.login);
      throw new AirlockError('ERR_FORBIDDEN', decision.reason);
    }
    const { scope } = decision;
    this.deps.recordings.assertHealthy(); // fail closed: nothing runs unrecorded
    if (sessions.count() >= config.ssh.maxSessions) throw new AirlockError('ERR_UNAVAILABLE', 'airlock is at its session limit; try again later');
    if (sessions.countFor(user.id) >= config.ssh.maxSessionsPerUser) {
      throw new AirlockError('ERR_FORBIDDEN', `you already have ${config.ssh.maxSessionsPerUser} open sessions; close one first`);
    }
    const secret = await targets.secret(scope.target, scope.login);
    if (!secret) throw new AirlockError('ERR_FORBIDDEN', `no credential for ${scope.target.name} as ${scope.login}`);
    let client: Client;
    try {
      client = await connectTarget({ target: scope.target, login: scope.login, secret, timeoutMs: config.ssh.targetConnectTimeout });
    } catch (err) {
      const reason = err instanceof TargetConnectError ? err.reason : 'unreachable';
      await audit.record({
        action: reason === 'host_key_mismatch' ? 'session.target.host_key_mismatch' : 'session.target.failed',
        outcome: 'failure',
        actor: user.name,
        target: `${scope.target.name}:${scope.login}`,
        source: this.source,
        details: { reason, ...((err as AirlockError).details ?? {}) },
      });
      logger.warn({ target: scope.target.name, reason, err: (err as Error).message }, 'target connection failed');
      throw err;
    }
    if (this.#closed) {
      client.end();
      throw new AirlockError('ERR_UNAVAILABLE', 'the engineer disconnected');
    }
    const airlockLogin = this.#login as Login;
    const session = await sessions.start(
      {
        userId: user.id,
        userName: user.name,
        targetId: scope.target.id,
        targetName: scope.target.name,
        login: scope.login,
        source: this.source,
        loginId: airlockLogin.id,
        expiresAt: scope.until && scope.until < airlockLogin.expiresAt ? scope.until : airlockLogin.expiresAt,
        ...(scope.requestId ? { requestId: scope.requestId } : {}),
      },
      { terminate: (reason) => this.terminate(reason), notify: (message) => this.notify(message) },
    );
    client.on('error', (err) => logger.debug({ err: err.message, session: session.id }, 'target connection error'));
    client.on('close', () => {
      if (this.#closed) return;
      this.#end = { status: 'closed', reason: 'the target closed the connection' };
      // Give relays a moment to deliver the last output, then hang up.
      setTimeout(() => this.conn.end(), this.#channels.size ? 2000 : 0).unref();
    });
    return { client, scope, session };
  }

  /** The link for this connection, starting the menu-less path if needed. */
  #ensureLink(): Promise<TargetLink> {
    if (!this.#link) return Promise.reject(new AirlockError('ERR_INVALID_INPUT', 'name a target: ssh user@TARGET@airlock'));
    return this.#link;
  }

  // ------------------------------------------------------------ session channels

  #session(accept: AcceptConnection<Session>, _reject: RejectConnection): void {
    const s = accept();
    let pty: PseudoTtyInfo | undefined;
    const env: Record<string, string> = {};
    const state: ChannelState = {};
    let started = false;

    s.on('pty', (ok, no, info) => {
      if (!validTerm(info)) return no?.();
      pty = { ...info };
      ok?.();
    });
    s.on('window-change', (ok, no, info) => {
      if (!validSize(info)) return no?.();
      if (pty) Object.assign(pty, { cols: info.cols, rows: info.rows, width: info.width, height: info.height });
      state.target?.setWindow(info.rows, info.cols, info.height, info.width);
      state.recorder?.resize(info.cols, info.rows);
      ok?.();
    });
    s.on('env', (ok, no, info) => {
      if (!ENV_ALLOWED.test(info.key) || info.val.length > 256 || Object.keys(env).length >= 32) return no?.();
      env[info.key] = info.val;
      ok?.();
    });
    s.on('signal', (ok, _no, info) => {
      if (/^[A-Z0-9]{1,16}$/.test(info.name)) {
        state.target?.signal(info.name);
        state.recorder?.marker(`signal ${info.name}`);
      }
      ok?.();
    });
    s.on('auth-agent', (_ok, no) => {
      no?.();
      this.#refused('agent-forwarding', {});
    });
    s.on('x11', (_ok, no) => {
      no?.();
      this.#refused('x11', {});
    });
    s.on('shell', (ok, no) => {
      if (started) return no?.();
      started = true;
      // Accepted at once: OpenSSH may send EOF right after (NOTES.md), and a
      // deferred accept would then find the channel gone.
      void this.#startChannel(ok(), 'shell', pty, env, undefined, state);
    });
    s.on('exec', (ok, no, info) => {
      if (started || info.command.length > MAX_COMMAND) return no?.();
      started = true;
      void this.#startChannel(ok(), 'exec', pty, env, info.command, state);
    });
    s.on('subsystem', (ok, no, info) => {
      if (started || info.name !== 'sftp') {
        no?.();
        if (info.name !== 'sftp') this.#refused('subsystem', { name: info.name.slice(0, 64) });
        return;
      }
      started = true;
      void this.#startSftp(ok);
    });
  }

  async #startChannel(
    ch: ServerChannel | undefined,
    kind: 'shell' | 'exec',
    pty: PseudoTtyInfo | undefined,
    env: Record<string, string>,
    command: string | undefined,
    state: ChannelState,
  ): Promise<void> {
    if (!ch) return;
    this.#track(ch);
    const nl = pty ? '\r\n' : '\n';
    let link: TargetLink;
    let rec: LiveRecording;
    try {
      if (!this.#link) {
        if (kind !== 'shell' || !pty) throw new AirlockError('ERR_INVALID_INPUT', 'name a target: ssh user@TARGET@airlock');
        const choice = await this.#menu(ch);
        if (!choice) return this.#closeChannel(ch, 0);
        this.#spec = { ...(this.#spec as SshUser), target: choice };
        this.#link = this.#connect(choice, this.#spec.login);
      }
      link = await this.#link.catch((err: unknown) => this.#approvalFirst(err, ch, pty));
      const protocol = command !== undefined ? fileTransferProtocol(command) : undefined;
      if (protocol && !link.scope.allowSftp) {
        this.#refused(protocol, { command: command?.slice(0, 200) });
        throw new AirlockError('ERR_FORBIDDEN', `file transfer (${protocol}) is not allowed by your grant`);
      }
      // The recording exists before a single byte reaches the target.
      rec = await this.#record(link, pty ? 'terminal' : 'exec', pty, command);
    } catch (err) {
      return this.#deny(ch, err, nl);
    }
    state.recorder = rec.recorder;
    const window = pty ? { term: pty.term, cols: pty.cols, rows: pty.rows, width: pty.width, height: pty.height, modes: pty.modes } : undefined;
    const opened = (err: Error | undefined, targetCh: ClientChannel) => {
      if (err) {
        this.#finishRecording(rec);
        return this.#deny(ch, new AirlockError('ERR_UNAVAILABLE', `the target refused the ${kind}`, { cause: err }), nl);
      }
      state.target = targetCh;
      this.#recordChannel(link.session, { kind, ...(command !== undefined ? { command } : {}) });
      const hooks = this.#byteHooks(link.session);
      const relay = relayChannel(ch, targetCh, {
        ...hooks,
        onInput: (d) => {
          hooks.onInput(d);
          rec.recorder.input(d);
        },
        record: rec.recorder,
        onClosed: () => {
          this.#relays.delete(relay);
          this.#finishRecording(rec);
        },
      });
      this.#relays.add(relay);
    };
    if (kind === 'shell') link.client.shell(window ?? false, { env }, opened);
    else link.client.exec(command as string, { env, ...(window ? { pty: window } : {}) }, opened);
  }

  /**
   * A target that needs approval: with a terminal, ask for it right here and
   * continue once granted; without one, say how to ask.
   */
  async #approvalFirst(err: unknown, ch: ServerChannel, pty: PseudoTtyInfo | undefined): Promise<TargetLink> {
    if (!(err instanceof ApprovalRequired)) throw err;
    if (!pty) {
      throw new AirlockError(
        'ERR_FORBIDDEN',
        `${err.message}: connect with a terminal (ssh -t) to ask for it, or ask ahead with "airlock request ${err.target.name} --reason …"`,
      );
    }
    const outcome = await breakGlass(this.deps, ch, this.#user as User, err.target, err.login, this.source);
    if (!outcome.approved) throw new AirlockError('ERR_FORBIDDEN', outcome.message);
    this.#link = this.#connect(err.target.name, err.login);
    return this.#link;
  }

  async #record(link: TargetLink, kind: 'terminal' | 'exec' | 'sftp', pty: PseudoTtyInfo | undefined, command?: string): Promise<LiveRecording> {
    const { session, scope } = link;
    const rec = await this.deps.recordings.start({
      sessionId: session.id,
      channelIndex: ++this.#channelIndex,
      kind,
      user: session.userName,
      target: session.targetName,
      login: session.login,
      source: this.source,
      sensitivity: scope.target.sensitivity,
      width: pty?.cols ?? 80,
      height: pty?.rows ?? 24,
      term: pty?.term,
      command,
      approvalId: scope.requestId,
    });
    if (scope.requestId) rec.recorder.marker(`break-glass approval ${scope.requestId}, access until ${session.expiresAt.toISOString()}`);
    this.#recordings.add(rec);
    rec.recorder.once('failed', () => this.terminate('could not write the recording of this session, so the session was ended', 'failed'));
    return rec;
  }

  #finishRecording(rec: LiveRecording): void {
    if (!this.#recordings.delete(rec)) return;
    this.#recordingsDone.push(rec.finish().catch((err: unknown) => this.deps.logger.error({ err, recording: rec.id }, 'cannot seal a recording')));
  }

  /** A gateway event, marked in every live recording of this connection. */
  #marker(text: string): void {
    for (const rec of this.#recordings) rec.recorder.marker(text);
  }

  async #startSftp(ok: AcceptConnection<ServerChannel>): Promise<void> {
    // Accepted at once, like shell and exec: OpenSSH's sftp sends its INIT right
    // behind the subsystem request without waiting for the reply, and ssh2 drops
    // data on a channel not yet accepted, so a deferred accept left sftp hanging.
    // The channel holds that input until the relay reads it; a refusal is told on
    // stderr with a non-zero exit.
    const ch = ok();
    if (!ch) return;
    this.#track(ch);
    let link: TargetLink;
    let rec: LiveRecording;
    try {
      link = await this.#ensureLink();
      if (!link.scope.allowSftp) {
        this.#refused('sftp', {});
        throw new AirlockError('ERR_FORBIDDEN', 'file transfer (SFTP) is not allowed by your grant');
      }
      rec = await this.#record(link, 'sftp', undefined);
    } catch (err) {
      return this.#deny(ch, err, '\n');
    }
    const { session } = link;
    link.client.subsys('sftp', (err, targetCh) => {
      if (err) {
        this.#finishRecording(rec);
        return this.#deny(ch, new AirlockError('ERR_UNAVAILABLE', 'the target refused SFTP', { cause: err }), '\n');
      }
      this.#recordChannel(session, { kind: 'sftp' });
      const observer = new SftpObserver(
        (op) => {
          this.deps.sessions.addFileOp(session, op);
          rec.recorder.marker(JSON.stringify({ sftp: op }));
          this.deps.logger.info({ session: session.id, user: session.userName, target: session.targetName, ...op }, 'sftp file operation');
        },
        (reason) => this.deps.logger.warn({ session: session.id, reason }, 'sftp observation stopped'),
      );
      const hooks = this.#byteHooks(session);
      relayChannel(ch, targetCh, {
        onInput: (d) => {
          hooks.onInput(d);
          observer.request(d);
        },
        onOutput: (d) => {
          hooks.onOutput(d);
          observer.response(d);
        },
        onClosed: () => {
          observer.end();
          this.#finishRecording(rec);
        },
      });
    });
  }

  async #menu(ch: ServerChannel): Promise<string | undefined> {
    const user = this.#user as User;
    const available = await this.deps.policy.available(user);
    const choice = await chooseTarget(
      ch,
      user.name,
      available.map(({ target }) => ({ name: target.name, sensitivity: target.sensitivity, description: target.description })),
    );
    ch.pause(); // the menu read in flowing mode; hold input until the relay pipes it
    return choice;
  }

  #byteHooks(session: LiveSession) {
    return {
      onInput: (d: Buffer) => {
        session.bytesIn += d.length;
      },
      onOutput: (d: Buffer) => {
        session.bytesOut += d.length;
      },
      onStderr: (d: Buffer) => {
        session.bytesOut += d.length;
      },
      onExit: (exit: ExitInfo) => {
        this.#lastExit = exit;
      },
    };
  }

  #recordChannel(session: LiveSession, record: { kind: 'shell' | 'exec' | 'sftp' | 'direct-tcpip' | 'forwarded-tcpip'; command?: string; detail?: string }): void {
    session.channels.push({ ...record, at: this.deps.clock.now().toISOString() });
    if (record.kind === 'direct-tcpip' || record.kind === 'forwarded-tcpip') this.#marker(`${record.kind} ${record.detail ?? ''}`);
    void this.deps.audit.record({
      action: `session.${record.kind}`,
      outcome: 'success',
      actor: session.userName,
      target: `${session.targetName}:${session.login}`,
      source: this.source,
      details: { sessionId: session.id, ...(record.command !== undefined ? { command: record.command.slice(0, 4096) } : {}), ...(record.detail ? { detail: record.detail } : {}) },
    });
  }

  #track(ch: ServerChannel): void {
    this.#channels.add(ch);
    ch.once('close', () => this.#channels.delete(ch));
  }

  #deny(ch: ServerChannel, err: unknown, nl: string): void {
    // Our own unavailability reasons (no recording, target unreachable) are for the engineer too.
    const message = isAirlockError(err) && (err.expose || err.code === 'ERR_UNAVAILABLE') ? err.message : 'cannot open the session';
    if (!isAirlockError(err)) this.deps.logger.error({ err }, 'session channel failed');
    try {
      ch.stderr.write(`airlock: ${message}${nl}`);
    } catch {
      /* channel already gone */
    }
    this.#closeChannel(ch, 1);
  }

  #closeChannel(ch: ServerChannel, code: number): void {
    if (!ch.writable) return;
    ch.exit(code);
    ch.end();
  }

  // ------------------------------------------------------------ forwarding

  #directTcpip(accept: AcceptConnection<ServerChannel>, reject: RejectConnection, info: TcpipRequestInfo): void {
    void (async () => {
      let link: TargetLink;
      try {
        link = await this.#ensureLink();
      } catch {
        return reject();
      }
      const dest = `${info.destIP}:${info.destPort}`;
      if (!link.scope.allowForwarding) {
        reject();
        return this.#refused('direct-tcpip', { dest });
      }
      link.client.forwardOut(info.srcIP, info.srcPort, info.destIP, info.destPort, (err, targetCh) => {
        if (err) return reject();
        const ch = accept();
        this.#recordChannel(link.session, { kind: 'direct-tcpip', detail: dest });
        relayTcp(ch, targetCh, (i, o) => {
          link.session.bytesIn += i;
          link.session.bytesOut += o;
        });
      });
    })();
  }

  #globalRequest(
    accept: ((port?: number) => void) | undefined,
    reject: (() => void) | undefined,
    name: string,
    info: unknown,
  ): void {
    if (name !== 'tcpip-forward' && name !== 'cancel-tcpip-forward') {
      reject?.();
      if (name.includes('forward')) this.#refused(name.slice(0, 64), {});
      return;
    }
    const bind = info as { bindAddr: string; bindPort: number };
    void (async () => {
      let link: TargetLink;
      try {
        link = await this.#ensureLink();
      } catch {
        return reject?.();
      }
      if (!link.scope.allowForwarding) {
        reject?.();
        return this.#refused('tcpip-forward', { bind: `${bind.bindAddr}:${bind.bindPort}` });
      }
      if (name === 'cancel-tcpip-forward') {
        link.client.unforwardIn(bind.bindAddr, bind.bindPort, (err) => (err ? reject?.() : accept?.()));
        return;
      }
      this.#listenForwarded(link);
      link.client.forwardIn(bind.bindAddr, bind.bindPort, (err, port) => {
        if (err) return reject?.();
        this.#recordChannel(link.session, { kind: 'forwarded-tcpip', detail: `${bind.bindAddr}:${port}` });
        accept?.(port);
      });
    })();
  }

  #forwardedListening = false;
  #listenForwarded(link: TargetLink): void {
    if (this.#forwardedListening) return;
    this.#forwardedListening = true;
    link.client.on('tcp connection', (details, acceptT, rejectT) => {
      this.conn.forwardOut(details.destIP, details.destPort, details.srcIP, details.srcPort, (err, ch) => {
        if (err) return rejectT();
        relayTcp(ch, acceptT(), (toEngineer, toTarget) => {
          link.session.bytesOut += toEngineer;
          link.session.bytesIn += toTarget;
        });
      });
    });
  }

  #refused(kind: string, details: Record<string, unknown>): void {
    void this.deps.audit.record({
      action: 'session.forward.refused',
      outcome: 'failure',
      actor: this.#user?.name,
      target: this.#spec?.target ? `${this.#spec.target}:${this.#spec.login ?? '-'}` : undefined,
      source: this.source,
      details: { kind, ...details },
    });
  }

  // ------------------------------------------------------------ ending

  /** Writes a line to every open channel of the engineer (warnings). */
  notify(message: string): void {
    this.#marker(`airlock: ${message}`);
    for (const ch of this.#channels) {
      try {
        ch.stderr.write(`\r\nairlock: ${message}\r\n`);
      } catch {
        /* gone */
      }
    }
  }

  /** Ends the connection from outside, telling the engineer why. */
  terminate(reason: string, status: EndStatus['status'] = 'terminated'): void {
    if (this.#closed || this.#terminating) return;
    this.#terminating = true;
    this.#end = { status, reason };
    // Nothing more from the target: the notice must not queue behind its output.
    for (const relay of this.#relays) relay.stop();
    this.notify(reason);
    // OpenSSH drops channel data that arrives together with a disconnect, so the
    // reason was often never shown. Close the channels first (the client prints
    // what it got, answers the close and goes away); hang up once they are closed,
    // at the latest a second later.
    // The notice goes on stderr, which ssh2 does not wait for when a channel ends:
    // end each channel only once its stderr has been handed to the transport.
    const channels = [...this.#channels];
    if (channels.length === 0) return void this.conn.end();
    const timer = setTimeout(() => this.conn.end(), 2000);
    timer.unref();
    let open = channels.length;
    for (const ch of channels) {
      ch.once('close', () => {
        if (--open > 0) return;
        clearTimeout(timer);
        this.conn.end();
      });
      const end = () => {
        try {
          ch.end();
        } catch {
          /* gone */
        }
      };
      if (ch.stderr.writableLength === 0) end();
      else ch.stderr.once('drain', end);
    }
  }

  async #onClose(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#completeSession();
    } finally {
      this.#settled();
    }
  }

  async #completeSession(): Promise<void> {
    for (const rec of [...this.#recordings]) this.#finishRecording(rec);
    await Promise.allSettled(this.#recordingsDone);
    let link: TargetLink | undefined;
    try {
      link = await this.#link;
    } catch {
      return;
    }
    if (!link) return;
    link.client.end();
    const exit = this.#lastExit;
    await this.deps.sessions
      .finish(link.session, {
        ...this.#end,
        exitCode: exit && 'code' in exit ? exit.code : null,
        exitSignal: exit && 'signal' in exit ? exit.signal : null,
      })
      .catch((err: unknown) => this.deps.logger.error({ err, session: link.session.id }, 'cannot record the end of a session'));
  }
}

function validTerm(info: PseudoTtyInfo): boolean {
  return typeof info.term === 'string' && info.term.length <= MAX_TERM && /^[A-Za-z0-9._+-]*$/.test(info.term) && validSize(info);
}

function validSize(info: { cols: number; rows: number; width: number; height: number }): boolean {
  return (
    Number.isInteger(info.cols) && info.cols >= 0 && info.cols <= MAX_COLS_ROWS &&
    Number.isInteger(info.rows) && info.rows >= 0 && info.rows <= MAX_COLS_ROWS &&
    Number.isInteger(info.width) && info.width >= 0 && info.width <= MAX_PIXELS &&
    Number.isInteger(info.height) && info.height >= 0 && info.height <= MAX_PIXELS
  );
}
