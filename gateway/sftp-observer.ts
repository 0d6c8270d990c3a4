import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { WireReader } from '../identity/index.js';
import { storedPath } from './stored-path.js';
import type { StoredPath } from './stored-path.js';

/**
 * Watches an SFTP (v3, draft-ietf-secsh-filexfer-02) conversation passing through
 * the relay and reports file operations: opens with their path and mode, bytes
 * read and written per file with the SHA-256 of what moved (when the file was
 * read or written front to back, as sftp and scp do; otherwise no hash is
 * claimed), removes, renames, mkdir/rmdir, setstat, symlinks, and whether the
 * server said OK. It only reads copies of the bytes; the relay
 * never waits for it. A packet it cannot parse stops observation (reported once),
 * never the transfer. Paths are reported as airlock keeps them (stored-path.ts):
 * a long one cut, with its full length and SHA-256; the relay passes it whole.
 */
export interface FileOperation {
  op: 'read' | 'write' | 'remove' | 'rename' | 'mkdir' | 'rmdir' | 'setstat' | 'symlink' | 'open-failed';
  path: string;
  /** A path longer than MAX_STORED_PATH: its full length in bytes and SHA-256; `path` is its beginning and "…". */
  pathLength?: number;
  pathSha256?: string;
  path2?: string;
  path2Length?: number;
  path2Sha256?: string;
  bytes?: number;
  /** SHA-256 of the bytes transferred, for files moved front to back. */
  sha256?: string;
  ok: boolean;
}

const T = {
  OPEN: 3, CLOSE: 4, READ: 5, WRITE: 6, SETSTAT: 9, REMOVE: 13, MKDIR: 14, RMDIR: 15, RENAME: 18, SYMLINK: 20, EXTENDED: 200,
  STATUS: 101, HANDLE: 102, DATA: 103,
} as const;
const FXF_READ = 0x1;
const FXF_WRITE = 0x2;
const MAX_PACKET = 1024 * 1024;

/** Splits a byte stream into length-prefixed packets (uint32 length + body). */
class PacketSplitter {
  #chunks: Buffer[] = [];
  #size = 0;
  constructor(private readonly onPacket: (body: Buffer) => void) {}

  push(data: Buffer): void {
    this.#chunks.push(data);
    this.#size += data.length;
    for (;;) {
      if (this.#size < 4) return;
      const head = this.#peek(4);
      const len = head.readUInt32BE(0);
      if (len > MAX_PACKET) throw new Error(`SFTP packet of ${len} bytes`);
      if (this.#size < 4 + len) return;
      const packet = this.#take(4 + len);
      this.onPacket(packet.subarray(4));
    }
  }

  #peek(n: number): Buffer {
    const first = this.#chunks[0] as Buffer;
    if (first.length >= n) return first;
    return Buffer.concat(this.#chunks).subarray(0, n);
  }

  #take(n: number): Buffer {
    const first = this.#chunks[0] as Buffer;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      const all = Buffer.concat(this.#chunks);
      out = all.subarray(0, n);
      this.#chunks = all.length > n ? [all.subarray(n)] : [];
    }
    this.#size -= n;
    return out;
  }
}

interface OpenFile {
  path: StoredPath;
  mode: number;
  read: number;
  written: number;
  /** Running hashes while the transfer stays sequential; undefined once it is not. */
  readHash: Hash | undefined;
  writeHash: Hash | undefined;
}

type Pending =
  | { kind: 'open'; path: StoredPath; mode: number }
  | { kind: 'simple'; op: FileOperation['op']; path: StoredPath; path2?: StoredPath }
  | { kind: 'read'; handle: string; offset: bigint }
  | { kind: 'close'; handle: string };

export class SftpObserver {
  #pending = new Map<number, Pending>();
  #handles = new Map<string, OpenFile>();
  #broken = false;
  readonly #requests: PacketSplitter;
  readonly #responses: PacketSplitter;

  constructor(
    private readonly report: (op: FileOperation) => void,
    private readonly onBroken: (reason: string) => void = () => {},
  ) {
    this.#requests = new PacketSplitter((p) => this.#onRequest(p));
    this.#responses = new PacketSplitter((p) => this.#onResponse(p));
  }

  /** Bytes from the engineer's SFTP client. */
  request(data: Buffer): void {
    this.#feed(this.#requests, data);
  }

  /** Bytes from the target's SFTP server. */
  response(data: Buffer): void {
    this.#feed(this.#responses, data);
  }

  /** Files still open when the channel ends are reported with what moved. */
  end(): void {
    for (const f of this.#handles.values()) this.#reportFile(f, true);
    this.#handles.clear();
  }

  #feed(splitter: PacketSplitter, data: Buffer): void {
    if (this.#broken) return;
    try {
      splitter.push(data);
    } catch (err) {
      this.#broken = true;
      this.onBroken((err as Error).message);
    }
  }

  #onRequest(p: Buffer): void {
    const type = p[0];
    if (type === undefined || type === 1 /* INIT */) return;
    const r = new WireReader(p.subarray(1));
    const id = r.uint32();
    switch (type) {
      case T.OPEN: {
        const path = pathOf(r);
        this.#pending.set(id, { kind: 'open', path, mode: r.uint32() });
        break;
      }
      case T.CLOSE:
        this.#pending.set(id, { kind: 'close', handle: r.bytes().toString('hex') });
        break;
      case T.READ: {
        const handle = r.bytes().toString('hex');
        this.#pending.set(id, { kind: 'read', handle, offset: r.uint64() });
        break;
      }
      case T.WRITE: {
        const f = this.#handles.get(r.bytes().toString('hex'));
        const offset = r.uint64();
        const data = r.bytes();
        if (f) {
          if (offset === BigInt(f.written)) f.writeHash?.update(data);
          else f.writeHash = undefined;
          f.written += data.length;
        }
        break;
      }
      case T.REMOVE:
        this.#pending.set(id, { kind: 'simple', op: 'remove', path: pathOf(r) });
        break;
      case T.MKDIR:
        this.#pending.set(id, { kind: 'simple', op: 'mkdir', path: pathOf(r) });
        break;
      case T.RMDIR:
        this.#pending.set(id, { kind: 'simple', op: 'rmdir', path: pathOf(r) });
        break;
      case T.SETSTAT:
        this.#pending.set(id, { kind: 'simple', op: 'setstat', path: pathOf(r) });
        break;
      case T.RENAME: {
        const from = pathOf(r);
        this.#pending.set(id, { kind: 'simple', op: 'rename', path: from, path2: pathOf(r) });
        break;
      }
      case T.SYMLINK: {
        const a = pathOf(r);
        this.#pending.set(id, { kind: 'simple', op: 'symlink', path: a, path2: pathOf(r) });
        break;
      }
      case T.EXTENDED: {
        const name = r.string();
        if (name === 'posix-rename@openssh.com') {
          const from = pathOf(r);
          this.#pending.set(id, { kind: 'simple', op: 'rename', path: from, path2: pathOf(r) });
        }
        break;
      }
      default:
        break;
    }
  }

  #onResponse(p: Buffer): void {
    const type = p[0];
    if (type === undefined || type === 2 /* VERSION */) return;
    const r = new WireReader(p.subarray(1));
    const id = r.uint32();
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    if (type === T.HANDLE && pending.kind === 'open') {
      this.#handles.set(r.bytes().toString('hex'), {
        path: pending.path,
        mode: pending.mode,
        read: 0,
        written: 0,
        readHash: createHash('sha256'),
        writeHash: createHash('sha256'),
      });
    } else if (type === T.DATA && pending.kind === 'read') {
      const f = this.#handles.get(pending.handle);
      if (f) {
        const data = r.bytes();
        if (pending.offset === BigInt(f.read)) f.readHash?.update(data);
        else f.readHash = undefined;
        f.read += data.length;
      }
    } else if (type === T.STATUS) {
      const ok = r.uint32() === 0;
      if (pending.kind === 'open' && !ok) this.report({ op: 'open-failed', ...paths(pending.path), ok: false });
      if (pending.kind === 'simple') this.report({ op: pending.op, ...paths(pending.path, pending.path2), ok });
      if (pending.kind === 'close') {
        const f = this.#handles.get(pending.handle);
        if (f) {
          this.#handles.delete(pending.handle);
          this.#reportFile(f, ok);
        }
      }
    }
  }

  #reportFile(f: OpenFile, ok: boolean): void {
    if (f.mode & FXF_WRITE || f.written > 0) {
      this.report({ op: 'write', ...paths(f.path), bytes: f.written, ...(f.writeHash ? { sha256: f.writeHash.digest('hex') } : {}), ok });
    }
    if ((f.mode & FXF_READ && !(f.mode & FXF_WRITE)) || f.read > 0) {
      this.report({ op: 'read', ...paths(f.path), bytes: f.read, ...(f.readHash ? { sha256: f.readHash.digest('hex') } : {}), ok });
    }
  }
}

/** A path field of a request, read as bytes and kept as airlock stores it. */
function pathOf(r: WireReader): StoredPath {
  return storedPath(r.bytes());
}

/** The path fields of an operation, with the length and hash of a path that was cut. */
function paths(p: StoredPath, p2?: StoredPath): Pick<FileOperation, 'path' | 'pathLength' | 'pathSha256' | 'path2' | 'path2Length' | 'path2Sha256'> {
  return {
    path: p.path,
    ...(p.length !== undefined ? { pathLength: p.length, pathSha256: p.sha256 as string } : {}),
    ...(p2 ? { path2: p2.path, ...(p2.length !== undefined ? { path2Length: p2.length, path2Sha256: p2.sha256 as string } : {}) } : {}),
  };
}
