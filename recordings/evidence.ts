import { createHash } from 'node:crypto';
import { AirlockError } from '../core/pure.js';

/**
 * An evidence bundle: a POSIX ustar archive holding the recording (the stored
 * file, and for airlock-format recordings its asciicast export), its chain file,
 * the recording public key, the session's metadata, the verification report,
 * and MANIFEST.json with the SHA-256 of every other file. Any tar reads it; the
 * manifest lets an auditor show later that nothing in it changed.
 *
 * Streamed: a file's bytes go out as they are read and hashed on the way, and
 * the manifest comes last, so a bundle of a large recording never sits in
 * memory. tar needs each size up front; the caller knows them (the stored
 * file's size, the export's counted in a first pass).
 *
 * Hand-written: the archive is six plain files, and the tar libraries on npm
 * (tar, tar-stream) would add a dependency for 30 lines of a fixed format.
 */
export interface BundleFile {
  name: string;
  size: number;
  /** The file's bytes, exactly `size` of them. */
  data: () => AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
}

function header(name: string, size: number, mtime: number): Buffer {
  const h = Buffer.alloc(512, 0);
  h.write(name.slice(0, 100), 0, 'utf8');
  h.write('0000644\0', 100, 'ascii'); // mode
  h.write('0000000\0', 108, 'ascii'); // uid
  h.write('0000000\0', 116, 'ascii'); // gid
  if (size < 8 ** 11) h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'ascii');
  else {
    // 8 GiB or more: the size field in base-256 (the GNU and POSIX-2001 readers' extension), high bit set.
    h[124] = 0x80;
    h.writeBigUInt64BE(BigInt(size), 128);
  }
  h.write(Math.floor(mtime).toString(8).padStart(11, '0') + '\0', 136, 'ascii');
  h.write('        ', 148, 'ascii'); // checksum placeholder
  h.write('0', 156, 'ascii'); // regular file
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}

/** A small file whose bytes are at hand. */
export function bundleFile(name: string, data: Buffer | string): BundleFile {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  return { name, size: bytes.length, data: () => [bytes] };
}

/** The archive, streamed; throws (ending the stream) if a file does not give the bytes it declared. */
export async function* evidenceBundle(files: BundleFile[], meta: Record<string, unknown>, mtime: Date): AsyncGenerator<Buffer> {
  const seconds = mtime.getTime() / 1000;
  const listed: Array<{ name: string; bytes: number; sha256: string }> = [];
  for (const f of files) {
    yield header(f.name, f.size, seconds);
    const hash = createHash('sha256');
    let sent = 0;
    for await (const chunk of f.data()) {
      sent += chunk.length;
      if (sent > f.size) throw new AirlockError('ERR_INTERNAL', `evidence: ${f.name} gave more than its ${f.size} bytes`);
      hash.update(chunk);
      yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    }
    if (sent !== f.size) throw new AirlockError('ERR_INTERNAL', `evidence: ${f.name} gave ${sent} of its ${f.size} bytes`);
    const pad = (512 - (f.size % 512)) % 512;
    if (pad) yield Buffer.alloc(pad);
    listed.push({ name: f.name, bytes: f.size, sha256: hash.digest('hex') });
  }
  const manifest = Buffer.from(JSON.stringify({ ...meta, files: listed }, null, 2) + '\n');
  yield header('MANIFEST.json', manifest.length, seconds);
  yield manifest;
  const pad = (512 - (manifest.length % 512)) % 512;
  if (pad) yield Buffer.alloc(pad);
  yield Buffer.alloc(1024);
}
