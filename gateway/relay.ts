import type { ServerChannel, ClientChannel } from 'ssh2';
import type { Duplex, Readable, Transform, Writable } from 'node:stream';
import { patchSsh2, patchStderrOf } from './ssh2-patches.js';

patchSsh2();

/**
 * Relays one channel between the engineer (server side of airlock) and the target
 * (client side), the way a plain OpenSSH connection behaves:
 *  - bytes flow as Buffers through pipe(), so SSH window back-pressure reaches
 *    both ends (a slow client slows the target; memory is bounded by the windows);
 *  - the engineer's EOF reaches the target as EOF (pipes: `ssh host cat < file`);
 *  - when the target closes, remaining output is written first, then exit-status
 *    (or exit-signal), then EOF and close, so `ssh host 'exit 7'` returns 7;
 *  - if the engineer goes away first, the target channel is closed.
 * Hooks see the bytes each way (counters, recording, SFTP observation) without
 * sitting in the stream: they must not block.
 */
export interface RelayHooks {
  /** engineer → target */
  onInput?(data: Buffer): void;
  /** target → engineer, stdout */
  onOutput?(data: Buffer): void;
  /** target → engineer, stderr */
  onStderr?(data: Buffer): void;
  onExit?(exit: ExitInfo): void;
  /** Both sides are closed. */
  onClosed?(exit: ExitInfo | undefined): void;
  /**
   * The recorder, in the path of every direction: bytes wait while it is
   * backlogged, so a slow disk slows the session (an upload as much as a
   * download) instead of filling memory.
   */
  record?: RecordTap;
  /** In the engineer→target path after the recorder: may hold or drop bytes (gateway/file-transfer.ts). */
  stdinFilter?: Transform;
  /** The target channel was held before the relay (holdChannel): what it saw meanwhile. */
  held?: HeldChannel;
}

export interface RecordTap {
  input(data: Buffer): void;
  output(data: Buffer): void;
  stderr(data: Buffer): void;
  readonly backlogged: boolean;
  once(event: 'drain', listener: () => void): unknown;
}

/**
 * Moves src's bytes to dst as pipe() does (src waits while dst is full), showing
 * each chunk to `observe` first and also waiting while `gate` (the recorder) is
 * backlogged. Not a Transform between the two: at bulk rates a stream stage per
 * chunk costs the relay's thread more than the recording does.
 */
interface Pump {
  stop(): void;
}

function pump(src: Readable, dst: Writable, o: { observe?: (data: Buffer) => void; gate?: RecordTap | undefined; end: boolean }): Pump {
  let stopped = false;
  const onData = (chunk: Buffer) => {
    o.observe?.(chunk);
    if (stopped || dst.destroyed || !dst.writable) return; // the far side is gone: the channel is closing
    const full = !dst.write(chunk);
    const held = o.gate?.backlogged === true;
    if (!full && !held) return;
    src.pause();
    let waits = (full ? 1 : 0) + (held ? 1 : 0);
    const go = () => {
      if (--waits === 0 && !stopped) src.resume();
    };
    if (full) dst.once('drain', go);
    if (held) o.gate?.once('drain', go);
  };
  const onEnd = () => {
    if (!stopped && o.end && !dst.destroyed) dst.end();
  };
  src.on('data', onData);
  src.once('end', onEnd);
  // As pipe() does: a source that ended already still ends its destination, and
  // one paused before (a menu read from it) flows again.
  if (src.readableEnded) process.nextTick(onEnd);
  else src.resume();
  return {
    stop() {
      stopped = true;
      src.off('data', onData);
      src.off('end', onEnd);
      // As unpipe() did: nothing more is read (other 'data' listeners would keep it flowing).
      src.pause();
    },
  };
}

export type ExitInfo = { code: number } | { signal: string; coreDumped: boolean; message: string };

/** ssh2's 'exit' event arguments as one value. */
function exitInfo(code: number | null, signal?: string, coreDumped?: boolean, message?: string): ExitInfo {
  return code !== null && code !== undefined ? { code } : { signal: signal ?? 'KILL', coreDumped: Boolean(coreDumped), message: message ?? '' };
}

/**
 * A target channel accepted but not relayed yet: its recording is being made.
 * Its output waits in the channel meanwhile, bounded by the SSH window (ssh2
 * opens the window again only as the stream is read), and ssh2 emits its close
 * only once that output has been read; but an exit status would be lost, and
 * an error would throw, with nobody listening. Both are kept here for the relay.
 */
export interface HeldChannel {
  readonly exit: ExitInfo | undefined;
  /** Stops holding (the relay took over, or the channel is being closed). */
  release(): void;
}

export function holdChannel(target: ClientChannel): HeldChannel {
  let exit: ExitInfo | undefined;
  const onExit = (code: number | null, signal?: string, coreDumped?: boolean, message?: string) => {
    exit = exitInfo(code, signal, coreDumped, message);
  };
  const onError = () => {};
  target.on('exit', onExit);
  target.on('error', onError);
  return {
    get exit() {
      return exit;
    },
    release() {
      target.off('exit', onExit);
      target.off('error', onError);
    },
  };
}

/** Stops the target's output from reaching the engineer (before a termination notice). */
export interface RelayControl {
  stop(): void;
}

export function relayChannel(client: ServerChannel, target: ClientChannel, hooks: RelayHooks = {}): RelayControl {
  let exit: ExitInfo | undefined;
  let closed = false;
  patchStderrOf(client);
  const exited = (e: ExitInfo) => {
    if (exit) return;
    exit = e;
    hooks.onExit?.(e);
  };
  const early = hooks.held?.exit;
  hooks.held?.release();

  if (hooks.onInput) client.on('data', hooks.onInput);
  if (hooks.onOutput) target.on('data', hooks.onOutput);
  if (hooks.onStderr) (target.stderr as Readable).on('data', hooks.onStderr);

  const rec = hooks.record;
  const stdout = target;
  const stderr = target.stderr as Readable;
  const out = pump(stdout, client, { ...(rec ? { observe: (d: Buffer) => rec.output(d) } : {}), gate: rec, end: false });
  const err = pump(stderr, client.stderr, { ...(rec ? { observe: (d: Buffer) => rec.stderr(d) } : {}), gate: rec, end: false });
  // The engineer's EOF → target.end() → EOF to the target.
  const filter = hooks.stdinFilter;
  const inp = pump(client, filter ?? target, { ...(rec ? { observe: (d: Buffer) => rec.input(d) } : {}), gate: rec, end: true });
  if (filter) filter.pipe(target);

  target.on('exit', (code: number | null, signal?: string, coreDumped?: boolean, message?: string) => exited(exitInfo(code, signal, coreDumped, message)));
  // An exit status that came while the channel was held follows the output held with it, as it did on the wire.
  if (early) void Promise.all([ended(stdout), ended(stderr)]).then(() => exited(early));

  const finish = () => {
    if (closed) return;
    closed = true;
    hooks.onClosed?.(exit);
  };

  target.once('close', () => {
    void (async () => {
      // All output the target sent must reach the engineer before exit and close.
      await Promise.all([ended(stdout), ended(stderr)]);
      if (early) exited(early);
      await Promise.all([flushed(client), flushed(client.stderr)]);
      if (client.writable) {
        if (exit && 'code' in exit) client.exit(exit.code);
        else if (exit) client.exit(exit.signal, exit.coreDumped, exit.message);
        client.end();
      }
      finish();
    })();
  });

  client.once('close', () => {
    out.stop();
    err.stop();
    target.close();
    finish();
  });
  // Errors on either side end the relay; the close handlers do the rest.
  client.on('error', () => target.close());
  target.on('error', () => client.close());
  return {
    stop() {
      out.stop();
      err.stop();
      target.pause();
      inp.stop();
      if (filter) filter.unpipe(target);
    },
  };
}

/**
 * Resolves once a readable side has delivered everything (or is gone). No timeout:
 * ssh2 ends a channel's readable sides when the channel closes (even without EOF),
 * and a slow engineer may take long to take the rest; giving up early would end
 * the engineer's channel while output is still on its way and cut it off.
 */
function ended(stream: Readable): Promise<void> {
  if (stream.readableEnded || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    if (!stream.readableFlowing && stream.readableLength === 0) stream.resume();
  });
}

/**
 * Resolves once everything written to a writable side has been handed on. Not by
 * waiting for 'drain': that comes only after a write() that returned false, so with
 * less than the high-water mark buffered it never comes. An empty write's callback
 * runs once every write queued before it is done.
 */
function flushed(stream: Writable | Duplex): Promise<void> {
  if (stream.writableLength === 0 || stream.destroyed || !stream.writable) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stream.off('close', done);
      resolve();
    };
    stream.once('close', done);
    stream.write(Buffer.alloc(0), done);
  });
}

/** Forwarded TCP: plain duplex relay, EOF each way, close both when either closes. */
export function relayTcp(a: Duplex, b: Duplex, onBytes?: (aToB: number, bToA: number) => void): void {
  a.pipe(b);
  b.pipe(a);
  if (onBytes) {
    a.on('data', (d: Buffer) => onBytes(d.length, 0));
    b.on('data', (d: Buffer) => onBytes(0, d.length));
  }
  const closeBoth = () => {
    a.destroy();
    b.destroy();
  };
  a.once('close', closeBoth);
  b.once('close', closeBoth);
  a.on('error', closeBoth);
  b.on('error', closeBoth);
}
