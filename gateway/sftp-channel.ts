import type { AcceptConnection, ClientChannel, ServerChannel } from 'ssh2';
import { AirlockError } from '../core/index.js';
import type { LiveRecording } from '../recordings/index.js';
import type { ChannelHost } from './channel-host.js';
import { holdChannel, relayChannel } from './relay.js';
import { SftpObserver } from './sftp-observer.js';
import type { TargetLink } from './target-link.js';

/**
 * The SFTP subsystem: allowed only by a grant with file transfer. The channel
 * is relayed to the target's SFTP server byte for byte, and observed packet by
 * packet (operations, paths, sizes, SHA-256 of files written or read whole) for
 * the session row and the recording. The bytes themselves (file contents) are
 * recorded only where recordings.captureFileContent is on for the target's
 * sensitivity.
 *
 * The channel is accepted at once, like shell and exec: OpenSSH's sftp sends its
 * INIT right behind the subsystem request without waiting for the reply, and
 * ssh2 drops data on a channel not yet accepted, so a deferred accept left sftp
 * hanging. The channel holds that input until the relay reads it; a refusal is
 * told on stderr with a non-zero exit.
 *
 * As for shells and execs (session-channel.ts), the recording is made once the
 * target has accepted the subsystem: one the target refuses leaves none. The
 * engineer's first packets wait in their channel, the target's answers in its.
 */
export async function startSftp(host: ChannelHost, ok: AcceptConnection<ServerChannel>): Promise<void> {
  const ch = ok();
  if (!ch) return;
  host.track(ch);
  let link: TargetLink;
  try {
    link = await host.link();
    if (!link.scope.allowSftp) {
      host.refused('sftp', {});
      throw new AirlockError('ERR_GRANT_NO_FILE_TRANSFER', 'file transfer (SFTP) is not allowed by your grant');
    }
    host.deps.recordings.assertHealthy(); // fail closed before the target is asked
  } catch (err) {
    return host.deny(ch, err, '\n');
  }
  if (!ch.writable) return; // the engineer closed it meanwhile
  try {
    link.client.subsys(
      'sftp',
      host.guard.wrap('sftp subsystem', (err: Error | undefined, targetCh: ClientChannel) => {
        if (err) {
          host.deps.logger.info({ session: link.session.id, user: host.userName, kind: 'sftp', err: err.message }, 'the target refused a channel');
          return host.deny(ch, new AirlockError('ERR_TARGET_REFUSED', 'the target refused SFTP', { cause: err }), '\n');
        }
        host.guard.run('record sftp', relayAccepted(host, ch, targetCh, link));
      }),
    );
  } catch (err) {
    // ssh2 throws at once when the target connection is already gone.
    host.deny(ch, new AirlockError('ERR_TARGET_UNREACHABLE', 'the connection to the target is gone', { cause: err }), '\n');
  }
}

/** The target accepted SFTP: the recording, then the observed relay. */
async function relayAccepted(host: ChannelHost, ch: ServerChannel, targetCh: ClientChannel, link: TargetLink): Promise<void> {
  if (!ch.writable) return void targetCh.close(); // the engineer closed it while the target was asked
  const held = holdChannel(targetCh);
  const { session } = link;
  const { deps } = host;
  host.channelOpened(session, { kind: 'sftp' });
  let rec: LiveRecording;
  try {
    rec = await host.record(link, 'sftp', undefined);
  } catch (err) {
    held.release();
    targetCh.close();
    return host.deny(ch, err, '\n');
  }
  if (!ch.writable) {
    held.release();
    targetCh.close();
    return host.finishRecording(rec);
  }
  const observer = new SftpObserver(
    (op) => {
      deps.sessions.addFileOp(session, op);
      rec.recorder.marker(JSON.stringify({ sftp: op }));
      deps.logger.info({ session: session.id, user: session.userName, target: session.targetName, ...op }, 'sftp file operation');
    },
    (reason) => deps.logger.warn({ session: session.id, reason }, 'sftp observation stopped'),
  );
  relayChannel(ch, targetCh, {
    held,
    onInput: (d) => {
      session.bytesIn += d.length;
      observer.request(d);
    },
    onOutput: (d) => {
      session.bytesOut += d.length;
      observer.response(d);
    },
    onClosed: () => {
      observer.end();
      host.finishRecording(rec);
    },
    // File contents, both ways, only where recordings.captureFileContent says so.
    ...(rec.bytes ? { record: rec.recorder } : {}),
  });
}
