import { createHash } from 'node:crypto';

/**
 * An evidence bundle: a POSIX ustar archive holding the recording, its chain
 * file, the recording public key, the session's metadata, the verification
 * report, and MANIFEST.json with the SHA-256 of every other file. Any tar reads
 * it; the manifest lets an auditor show later that nothing in it changed.
 */
export interface BundleFile {
  name: string;
  data: Buffer;
}

function header(name: string, size: number, mtime: number): Buffer {
  const h = Buffer.alloc(512, 0);
  h.write(name.slice(0, 100), 0, 'utf8');
  h.write('0000644\0', 100, 'ascii'); // mode
  h.write('0000000\0', 108, 'ascii'); // uid
  h.write('0000000\0', 116, 'ascii'); // gid
  h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'ascii');
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

export function tar(files: BundleFile[], mtime: Date): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    parts.push(header(f.name, f.data.length, mtime.getTime() / 1000), f.data);
    const pad = (512 - (f.data.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export function evidenceBundle(files: BundleFile[], meta: Record<string, unknown>, mtime: Date): Buffer {
  const manifest = {
    ...meta,
    files: files.map((f) => ({ name: f.name, bytes: f.data.length, sha256: createHash('sha256').update(f.data).digest('hex') })),
  };
  return tar([...files, { name: 'MANIFEST.json', data: Buffer.from(JSON.stringify(manifest, null, 2) + '\n') }], mtime);
}
