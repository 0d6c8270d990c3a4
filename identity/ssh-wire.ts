import { createHash } from 'node:crypto';

/**
 * The SSH wire format (RFC 4251 §5): uint32 and uint64 big-endian, strings as a
 * uint32 length and bytes. The one reader and writer airlock has: certificates
 * (identity/ssh-cert.ts), key blobs and signatures that ssh2 hands over
 * unparsed, and SFTP packets the gateway observes. Every read is bounds-checked
 * and throws on truncation.
 */
export class WireReader {
  #pos = 0;
  constructor(private readonly buf: Buffer) {}

  get done(): boolean {
    return this.#pos >= this.buf.length;
  }

  get offset(): number {
    return this.#pos;
  }

  uint32(): number {
    if (this.#pos + 4 > this.buf.length) throw new Error('truncated uint32');
    const v = this.buf.readUInt32BE(this.#pos);
    this.#pos += 4;
    return v;
  }

  uint64(): bigint {
    if (this.#pos + 8 > this.buf.length) throw new Error('truncated uint64');
    const v = this.buf.readBigUInt64BE(this.#pos);
    this.#pos += 8;
    return v;
  }

  bytes(): Buffer {
    const len = this.uint32();
    if (this.#pos + len > this.buf.length) throw new Error('truncated string');
    const v = this.buf.subarray(this.#pos, this.#pos + len);
    this.#pos += len;
    return v;
  }

  string(): string {
    return this.bytes().toString('utf8');
  }
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

export function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
}

export function wireString(data: Buffer | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return Buffer.concat([u32(body.length), body]);
}

/** OpenSSH's "SHA256:…" fingerprint of a public key blob (ssh-keygen -l). */
export function sshFingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

/** "ssh-ed25519 AAAA…" → its algorithm name and blob. */
export function parsePublicKeyLine(line: string): { algo: string; blob: Buffer } {
  const [algo, b64] = line.trim().split(/\s+/);
  if (!algo || !b64) throw new Error('expected "<algorithm> <base64>"');
  const blob = Buffer.from(b64, 'base64');
  const inner = new WireReader(blob).string();
  if (inner !== algo) throw new Error(`key says ${inner}, line says ${algo}`);
  return { algo, blob };
}

export function publicKeyLine(blob: Buffer): string {
  return `${new WireReader(blob).string()} ${blob.toString('base64')}`;
}
