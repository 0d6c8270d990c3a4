import type { ServerChannel } from 'ssh2';
import type { Scheduler } from '../core/index.js';

/**
 * Ends a connection so that the last notice written to its channels is read.
 * OpenSSH drops channel data that arrives together with a disconnect, so the
 * reason was often never shown. Close the channels first (the client prints
 * what it got, answers the close and goes away); hang up once they are closed,
 * at the latest `graceMs` later. The notice goes on stderr, which ssh2 does not
 * wait for when a channel ends: end each channel only once its stderr has been
 * handed to the transport.
 */
export function hangUp(channels: ServerChannel[], end: () => void, scheduler: Scheduler, graceMs = 2000): void {
  if (channels.length === 0) return end();
  const timer = scheduler.after(graceMs, end);
  let open = channels.length;
  for (const ch of channels) {
    ch.once('close', () => {
      if (--open > 0) return;
      timer.cancel();
      end();
    });
    const endChannel = () => {
      try {
        ch.end();
      } catch {
        /* gone */
      }
    };
    if (ch.stderr.writableLength === 0) endChannel();
    else ch.stderr.once('drain', endChannel);
  }
}
