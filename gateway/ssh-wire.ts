import ssh2 from 'ssh2';
import { createHash } from 'node:crypto';

/**
 * Small helpers for the SSH wire format (RFC 4251 §5): strings are a uint32
 * length and bytes. Used to read key blobs and signatures that ssh2 hands over
 * unparsed.
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

export function wireString(data: Buffer | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

/** OpenSSH's "SHA256:…" fingerprint of a public key blob. */
export function fingerprint(blob: Buffer): string {
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

/**
 * An Ed25519 key pair in OpenSSH formats. ssh2 1.17's generator drops a leading
 * zero byte of the public key about once in 256 keys (upstream mscdex/ssh2#1390),
 * producing a key its own parser rejects; such pairs are thrown away.
 */
export function generateEd25519(comment: string): { privateKey: string; publicKey: string } {
  for (let attempt = 0; attempt < 32; attempt++) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment });
    const priv = ssh2.utils.parseKey(pair.private);
    const pub = ssh2.utils.parseKey(pair.public);
    if (priv instanceof Error || pub instanceof Error) continue;
    const blob = pub.getPublicSSH();
    if (blob.length !== 51 || !priv.getPublicSSH().equals(blob)) continue;
    return { privateKey: pair.private, publicKey: pair.public };
  }
  throw new Error('could not generate a valid Ed25519 key pair');
}
