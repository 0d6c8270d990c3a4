import { createRequire } from 'node:module';
import type { ServerChannel } from 'ssh2';

/**
 * A fix for ssh2 1.17's server channels, applied once at start-up.
 *
 * When the peer's window fills, a channel keeps the unsent rest of stdout in
 * `_chunk` and of stderr in `_chunkErr`; on the next window adjust ssh2 resumes
 * `_chunk` if it is set, and only otherwise `_chunkErr`. But `_chunk` is never
 * cleared once sent, so after stdout has waited for the window once, stderr that
 * has to wait is never resumed: the target's stderr, and airlock's own notices
 * ("your access expires…", "session terminated…") sat unsent while stdout kept
 * flowing. Measured here: a session ended for a recording failure delivered all
 * stdout but not the 92-byte notice on stderr.
 *
 * The fix clears the stale state before each write and, once stdout has gone out,
 * resumes pending stderr if the window allows. Verified against ssh2 1.17.0
 * (lib/Channel.js, lib/server.js CHANNEL_WINDOW_ADJUST).
 */
const require = createRequire(import.meta.url);

interface InternalChannel {
  server: boolean;
  outgoing: { window: number };
  _chunk?: Buffer;
  _chunkcb?: () => void;
  _chunkErr?: Buffer;
  _chunkcbErr?: () => void;
  stderr: { _write(data: Buffer, enc: null, cb?: () => void): void };
}

type WriteFn = (this: InternalChannel, data: Buffer, enc: BufferEncoding | null, cb: () => void) => void;

let channelPatched = false;

export function patchSsh2(): void {
  if (channelPatched) return;
  channelPatched = true;
  const { Channel } = require('ssh2/lib/Channel.js') as { Channel: { prototype: { _write: WriteFn } } };
  const writeOut = Channel.prototype._write;
  Channel.prototype._write = function (data, enc, cb) {
    this._chunk = undefined;
    this._chunkcb = undefined;
    writeOut.call(this, data, enc, cb);
    if (this.server && this._chunk === undefined && this._chunkErr && this.outgoing.window > 0) {
      const rest = this._chunkErr;
      const done = this._chunkcbErr;
      this._chunkErr = undefined;
      this._chunkcbErr = undefined;
      this.stderr._write(rest, null, done);
    }
  };
}

const stderrPatched = new WeakSet<object>();

/** ServerStderr is not exported: patch its prototype from the first instance seen. */
export function patchStderrOf(ch: ServerChannel): void {
  const proto = Object.getPrototypeOf(ch.stderr) as { _write: (this: { _channel: InternalChannel }, d: Buffer, e: BufferEncoding | null, cb: () => void) => void };
  if (stderrPatched.has(proto)) return;
  stderrPatched.add(proto);
  const writeErr = proto._write;
  proto._write = function (data, enc, cb) {
    this._channel._chunkErr = undefined;
    this._channel._chunkcbErr = undefined;
    writeErr.call(this, data, enc, cb);
  };
}

interface OpenFailing {
  channelOpenFail(remote: number, reason: number, description?: string): void;
}

/** RFC 4254 §5.1 reason codes. */
export const OPEN_FAILURE = { prohibited: 1, connectFailed: 2, resourceShortage: 4 } as const;

/**
 * Refuses a channel open with a reason and a description the client prints.
 * ssh2's reject() sends CONNECT_FAILED with an empty description, so OpenSSH
 * showed "open failed: connect failed: " and nothing else. The description
 * goes on the one CHANNEL_OPEN_FAILURE that reject() sends, synchronously.
 */
export function rejectChannel(conn: object, reject: () => void, reason: number, description: string): void {
  const proto = (conn as { _protocol?: OpenFailing })._protocol;
  if (!proto || typeof proto.channelOpenFail !== 'function') return reject();
  const original = proto.channelOpenFail;
  proto.channelOpenFail = function (this: OpenFailing, remote: number) {
    proto.channelOpenFail = original;
    original.call(this, remote, reason, description);
  };
  try {
    reject();
  } finally {
    proto.channelOpenFail = original;
  }
}
