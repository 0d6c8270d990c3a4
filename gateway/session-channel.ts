import type { AcceptConnection, ClientChannel, PseudoTtyInfo, ServerChannel, Session } from 'ssh2';
import { AirlockError } from '../core/index.js';
import type { Recorder } from '../recordings/index.js';
import type { ChannelHost } from './channel-host.js';
import { acceptsEnv, MAX_COMMAND, validSignal, validSize, validTerm } from './channel-limits.js';
import { fileTransferProtocol, ProtocolSniffer } from './file-transfer.js';
import { relayChannel } from './relay.js';
import { startSftp } from './sftp-channel.js';

/**
 * A session channel (RFC 4254 §6): its requests before it starts (pty, env),
 * then one of shell, exec or the sftp subsystem, and while it runs window
 * changes and signals. Requests are answered synchronously: OpenSSH sends EOF
 * right after `exec` when stdin is /dev/null, and a deferred accept would find
 * the channel gone (NOTES.md). Agent and X11 forwarding are refused and audited.
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
  let link;
  let rec;
  try {
    link = await host.link(pty ? { ch, pty, shell: kind === 'shell' } : undefined);
    const protocol = command !== undefined ? fileTransferProtocol(command) : undefined;
    if (protocol && !link.scope.allowSftp) {
      host.refused(protocol, { command: command?.slice(0, 200) });
      throw new AirlockError('ERR_GRANT_NO_FILE_TRANSFER', `file transfer (${protocol}) is not allowed by your grant`);
    }
    // The recording exists before a single byte reaches the target.
    rec = await host.record(link, pty ? 'terminal' : 'exec', pty, command);
  } catch (err) {
    return host.deny(ch, err, nl);
  }
  if (!ch.writable) return host.finishRecording(rec); // the engineer closed it meanwhile
  state.recorder = rec.recorder;
  const { session } = link;
  const window = pty ? { term: pty.term, cols: pty.cols, rows: pty.rows, width: pty.width, height: pty.height, modes: pty.modes } : undefined;
  const opened = host.guard.wrap(`target ${kind}`, (err: Error | undefined, targetCh: ClientChannel) => {
    if (err) {
      host.finishRecording(rec);
      return host.deny(ch, new AirlockError('ERR_TARGET_REFUSED', `the target refused the ${kind}`, { cause: err }), nl);
    }
    state.target = targetCh;
    host.channelOpened(session, { kind, ...(command !== undefined ? { command } : {}) });
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
  });
  try {
    if (kind === 'shell') link.client.shell(window ?? false, { env }, opened);
    else link.client.exec(command as string, { env, ...(window ? { pty: window } : {}) }, opened);
  } catch (err) {
    // ssh2 throws at once when the target connection is already gone.
    host.finishRecording(rec);
    host.deny(ch, new AirlockError('ERR_TARGET_UNREACHABLE', 'the connection to the target is gone', { cause: err }), nl);
  }
}
