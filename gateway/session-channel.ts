import type { AcceptConnection, ClientChannel, PseudoTtyInfo, ServerChannel, Session } from 'ssh2';
import { AirlockError } from '../core/index.js';
import type { LiveRecording, Recorder } from '../recordings/index.js';
import type { ChannelHost } from './channel-host.js';
import { acceptsEnv, MAX_COMMAND, validSignal, validSize, validTerm } from './channel-limits.js';
import { fileTransferProtocol, ProtocolSniffer } from './file-transfer.js';
import { holdChannel, relayChannel } from './relay.js';
import { startSftp } from './sftp-channel.js';
import type { TargetLink } from './target-link.js';

/**
 * A session channel (RFC 4254 §6): its requests before it starts (pty, env),
 * then one of shell, exec or the sftp subsystem, and while it runs window
 * changes and signals. Requests are answered synchronously: OpenSSH sends EOF
 * right after `exec` when stdin is /dev/null, and a deferred accept would find
 * the channel gone (NOTES.md). Agent and X11 forwarding are refused and audited.
 *
 * The recording is made once the target has accepted the channel and its
 * shell or exec, not before: a channel the target refuses (its MaxSessions, a
 * failed pty) leaves no recording, so a client opening channels by the
 * thousand cannot make recordings by the thousand. Nothing passes between the
 * engineer and the target before the recording exists: the target's first
 * output waits in its channel (holdChannel), the engineer's input in theirs,
 * and the exec's command line is in the recording's header and the audit.
 */

/** What a running channel's requests (resize, signal) reach. */
interface ChannelState {
  target?: ClientChannel;
  recorder?: Recorder;
}

export function acceptSession(host: ChannelHost, accept: AcceptConnection<Session>, release: () => void): void {
  const s = accept();
  s.once('close', release);
  const { guard } = host;
  let pty: PseudoTtyInfo | undefined;
  const env: Record<string, string> = {};
  const state: ChannelState = {};
  let started = false;

  s.on(
    'pty',
    guard.wrap('pty-req', (ok, no, info: PseudoTtyInfo) => {
      if (!validTerm(info)) return no?.();
      pty = { ...info };
      ok?.();
    }),
  );
  s.on(
    'window-change',
    guard.wrap('window-change', (ok, no, info) => {
      if (!validSize(info)) return no?.();
      if (pty) Object.assign(pty, { cols: info.cols, rows: info.rows, width: info.width, height: info.height });
      state.target?.setWindow(info.rows, info.cols, info.height, info.width);
      state.recorder?.resize(info.cols, info.rows);
      ok?.();
    }),
  );
  s.on(
    'env',
    guard.wrap('env', (ok, no, info) => {
      if (!acceptsEnv(env, info.key, info.val)) return no?.();
      env[info.key] = info.val;
      ok?.();
    }),
  );
  s.on(
    'signal',
    guard.wrap('signal', (ok, _no, info) => {
      if (validSignal(info.name)) {
        state.target?.signal(info.name);
        state.recorder?.marker(`signal ${info.name}`);
      }
      ok?.();
    }),
  );
  s.on(
    'auth-agent',
    guard.wrap('auth-agent-req', (_ok, no) => {
      no?.();
      host.refused('agent-forwarding', {});
    }),
  );
  s.on(
    'x11',
    guard.wrap('x11-req', (_ok, no) => {
      no?.();
      host.refused('x11', {});
    }),
  );
  s.on(
    'shell',
    guard.wrap('shell', (ok, no) => {
      if (started) return no?.();
      started = true;
      guard.run('shell', startChannel(host, ok(), 'shell', pty, env, undefined, state));
    }),
  );
  s.on(
    'exec',
    guard.wrap('exec', (ok, no, info) => {
      if (started || info.command.length > MAX_COMMAND) return no?.();
      started = true;
      guard.run('exec', startChannel(host, ok(), 'exec', pty, env, info.command, state));
    }),
  );
  s.on(
    'subsystem',
    guard.wrap('subsystem', (ok, no, info) => {
      if (started || info.name !== 'sftp') {
        no?.();
        if (info.name !== 'sftp') host.refused('subsystem', { name: info.name.slice(0, 64) });
        return;
      }
      started = true;
      guard.run('sftp', startSftp(host, ok));
    }),
  );
}

async function startChannel(
  host: ChannelHost,
  ch: ServerChannel | undefined,
  kind: 'shell' | 'exec',
  pty: PseudoTtyInfo | undefined,
  env: Record<string, string>,
  command: string | undefined,
  state: ChannelState,
): Promise<void> {
  if (!ch) return;
  host.track(ch);
  const nl = pty ? '\r\n' : '\n';
  let link: TargetLink;
  try {
    link = await host.link(pty ? { ch, pty, shell: kind === 'shell' } : undefined);
    const protocol = command !== undefined ? fileTransferProtocol(command) : undefined;
    if (protocol && !link.scope.allowSftp) {
      host.refused(protocol, { command: command?.slice(0, 200) });
      throw new AirlockError('ERR_GRANT_NO_FILE_TRANSFER', `file transfer (${protocol}) is not allowed by your grant`);
    }
    // Fail closed before the target runs anything: no recording can be made now.
    host.deps.recordings.assertHealthy();
  } catch (err) {
    return host.deny(ch, err, nl);
  }
  if (!ch.writable) return; // the engineer closed it meanwhile
  const window = pty ? { term: pty.term, cols: pty.cols, rows: pty.rows, width: pty.width, height: pty.height, modes: pty.modes } : undefined;
  const opened = host.guard.wrap(`target ${kind}`, (err: Error | undefined, targetCh: ClientChannel) => {
    if (err) {
      host.deps.logger.info({ session: link.session.id, user: host.userName, kind, err: err.message }, 'the target refused a channel');
      return host.deny(ch, new AirlockError('ERR_TARGET_REFUSED', `the target refused the ${kind}`, { cause: err }), nl);
    }
    host.guard.run(`record ${kind}`, relayAccepted(host, ch, targetCh, link, kind, pty, window, command, state));
  });
  try {
    if (kind === 'shell') link.client.shell(window ?? false, { env }, opened);
    else link.client.exec(command as string, { env, ...(window ? { pty: window } : {}) }, opened);
  } catch (err) {
    // ssh2 throws at once when the target connection is already gone.
    host.deny(ch, new AirlockError('ERR_TARGET_UNREACHABLE', 'the connection to the target is gone', { cause: err }), nl);
  }
}

/** The target accepted: the recording, then the relay through it. */
async function relayAccepted(
  host: ChannelHost,
  ch: ServerChannel,
  targetCh: ClientChannel,
  link: TargetLink,
  kind: 'shell' | 'exec',
  pty: PseudoTtyInfo | undefined,
  sent: { cols: number; rows: number } | undefined,
  command: string | undefined,
  state: ChannelState,
): Promise<void> {
  const nl = pty ? '\r\n' : '\n';
  if (!ch.writable) return void targetCh.close(); // the engineer closed it while the target was asked
  const held = holdChannel(targetCh);
  const { session } = link;
  host.channelOpened(session, { kind, ...(command !== undefined ? { command } : {}) });
  let rec: LiveRecording;
  try {
    rec = await host.record(link, pty ? 'terminal' : 'exec', pty, command);
  } catch (err) {
    held.release();
    targetCh.close();
    return host.deny(ch, err, nl);
  }
  if (!ch.writable) {
    // The engineer closed it meanwhile.
    held.release();
    targetCh.close();
    return host.finishRecording(rec);
  }
  state.target = targetCh;
  state.recorder = rec.recorder;
  // A window change that came before the target had the channel: it gets the size the terminal has now.
  if (pty && sent && (pty.cols !== sent.cols || pty.rows !== sent.rows)) targetCh.setWindow(pty.rows, pty.cols, pty.height, pty.width);
  let removeRelay = () => {};
  // Without file transfer, an exec channel that speaks SFTP is refused whatever its command line says.
  const sniffer = link.scope.allowSftp
    ? undefined
    : new ProtocolSniffer(() => {
        relay.stop();
        targetCh.close();
        host.refused('sftp', { via: 'exec', command: command?.slice(0, 200) ?? null });
        rec.recorder.marker('airlock: refused: the channel spoke SFTP and the grant has no file transfer');
        host.deny(ch, new AirlockError('ERR_GRANT_NO_FILE_TRANSFER', 'file transfer (SFTP) is not allowed by your grant'), nl);
      });
  const relay = relayChannel(ch, targetCh, {
    held,
    onInput: (d) => {
      session.bytesIn += d.length;
    },
    onOutput: (d) => {
      session.bytesOut += d.length;
    },
    onStderr: (d) => {
      session.bytesOut += d.length;
    },
    onExit: (exit) => {
      host.exited(exit);
      rec.recorder.marker('code' in exit ? `exit-status ${exit.code}` : `exit-signal ${exit.signal}${exit.coreDumped ? ' (core dumped)' : ''}`);
    },
    record: rec.recorder,
    ...(sniffer ? { stdinFilter: sniffer } : {}),
    onClosed: () => {
      removeRelay();
      host.finishRecording(rec);
    },
  });
  removeRelay = host.addRelay(relay);
}
