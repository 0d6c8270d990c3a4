import type { AcceptConnection, ServerChannel } from 'ssh2';
import { AirlockError } from '../core/index.js';
import type { LiveRecording } from '../recordings/index.js';
import type { ChannelHost } from './channel-host.js';
import { relayChannel } from './relay.js';
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
 */
export async function startSftp(host: ChannelHost, ok: AcceptConnection<ServerChannel>): Promise<void> {
  const ch = ok();
  if (!ch) return;
  host.track(ch);
  let link: TargetLink;
  let rec: LiveRecording;
  try {
    link = await host.link();
    if (!link.scope.allowSftp) {
      host.refused('sftp', {});
      throw new AirlockError('ERR_GRANT_NO_FILE_TRANSFER', 'file transfer (SFTP) is not allowed by your grant');
    }
    rec = await host.record(link, 'sftp', undefined);
  } catch (err) {
    return host.deny(ch, err, '\n');
  }
  if (!ch.writable) return host.finishRecording(rec); // the engineer closed it meanwhile
  const { session } = link;
  const { deps } = host;
  try {
    link.client.subsys(
      'sftp',
      host.guard.wrap('sftp subsystem', (err: Error | undefined, targetCh) => {
        if (err) {
          host.finishRecording(rec);
          return host.deny(ch, new AirlockError('ERR_TARGET_REFUSED', 'the target refused SFTP', { cause: err }), '\n');
        }
        host.channelOpened(session, { kind: 'sftp' });
        const observer = new SftpObserver(
          (op) => {
            deps.sessions.addFileOp(session, op);
            rec.recorder.marker(JSON.stringify({ sftp: op }));
            deps.logger.info({ session: session.id, user: session.userName, target: session.targetName, ...op }, 'sftp file operation');
          },
          (reason) => deps.logger.warn({ session: session.id, reason }, 'sftp observation stopped'),
        );
        relayChannel(ch, targetCh, {
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
      }),
    );
  } catch (err) {
    // ssh2 throws at once when the target connection is already gone.
    host.finishRecording(rec);
    host.deny(ch, new AirlockError('ERR_TARGET_UNREACHABLE', 'the connection to the target is gone', { cause: err }), '\n');
  }
}
