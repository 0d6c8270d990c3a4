import { describe, it, expect } from 'vitest';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileTransferProtocol, initPrefix, ProtocolSniffer } from '../../../gateway/file-transfer.js';

describe('fileTransferProtocol', () => {
  it('recognises what scp -O, rsync and a hand-started SFTP server run', () => {
    expect(fileTransferProtocol('scp -t /tmp/x')).toBe('scp');
    expect(fileTransferProtocol('scp -f /etc/passwd')).toBe('scp');
    expect(fileTransferProtocol('scp -r -t -- /tmp/dir')).toBe('scp');
    expect(fileTransferProtocol('scp -pt /tmp')).toBe('scp');
    expect(fileTransferProtocol('/usr/bin/scp -v -d -t /tmp')).toBe('scp');
    expect(fileTransferProtocol('  LANG=C scp -f x')).toBe('scp');
    expect(fileTransferProtocol('sudo scp -t /root')).toBe('scp');
    expect(fileTransferProtocol('rsync --server -vlogDtpre.iLsfxC . /tmp/x')).toBe('rsync');
    expect(fileTransferProtocol('/usr/lib/openssh/sftp-server')).toBe('sftp');
    expect(fileTransferProtocol('exec /usr/lib/openssh/sftp-server -e')).toBe('sftp');
    expect(fileTransferProtocol('internal-sftp')).toBe('sftp');
  });

  it('sees through sudo whatever its options: flags, options with a value apart or attached, long options, --', () => {
    for (const cmd of [
      'sudo -n scp -t /x',
      'sudo -E rsync --server -vlogDtpre.iLsfxC . /tmp/x',
      'sudo -- scp -t /x',
      'sudo -u root scp -t /x',
      'sudo -uroot scp -t /x',
      'sudo -nu root -- scp -f /etc/shadow',
      'sudo -HiS -g wheel scp -t /x',
      'sudo --user=root --preserve-env scp -t /x',
      'sudo --user root -n /usr/bin/scp -t /x',
      'sudo -C 3 -D /tmp -T 10 scp -t /x',
      'doas -u root scp -t /x',
      'env -i sudo -n env LANG=C nice -n 5 scp -t /x',
      'sudo -n sh -c "scp -t /x"',
    ]) {
      expect(fileTransferProtocol(cmd), cmd).toMatch(/^(?:scp|rsync)$/);
    }
    expect(fileTransferProtocol('sudo -n /usr/lib/openssh/sftp-server')).toBe('sftp');
    expect(fileTransferProtocol('sudo -u root systemctl restart nginx')).toBeUndefined();
    expect(fileTransferProtocol('sudo -n cat /etc/shadow')).toBeUndefined();
  });

  it('leaves ordinary commands alone, including ones that mention scp or rsync', () => {
    for (const cmd of [
      'ls -la',
      'scp --help',
      'man scp',
      'echo scp -t',
      'rsync -av /a /b',
      'which sftp-server',
      'cat /var/log/scp-transfers.log',
      'systemctl status rsync',
      'grep -r "scp -t" /etc',
      'scpx -t',
    ]) {
      expect(fileTransferProtocol(cmd), cmd).toBeUndefined();
    }
  });
});

/** An SSH_FXP_INIT packet as a client sends it: length, type 1, the version asked for, then extensions. */
function init(version: number, extension = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(9 + extension.length);
  b.writeUInt32BE(5 + extension.length, 0);
  b[4] = 1;
  b.writeUInt32BE(version, 5);
  extension.copy(b, 9);
  return b;
}

/** What a sniffer lets through of these chunks, and whether it refused. */
async function sniff(chunks: Buffer[]): Promise<{ passed: Buffer; refused: boolean }> {
  let refused = false;
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    new ProtocolSniffer(() => {
      refused = true;
    }),
    new Writable({
      write(c: Buffer, _e, done) {
        out.push(c);
        done();
      },
    }),
  );
  return { passed: Buffer.concat(out), refused };
}

describe('ProtocolSniffer', () => {
  it('refuses an SFTP INIT whatever version it asks for, with or without extensions', async () => {
    for (const v of [0, 1, 3, 6, 7, 255, 0xffffffff]) {
      const r = await sniff([init(v)]);
      expect(r, `version ${v}`).toEqual({ passed: Buffer.alloc(0), refused: true });
    }
    expect(await sniff([init(3, Buffer.alloc(200_000, 7))])).toMatchObject({ refused: true });
  });

  it('decides on an INIT split into chunks of any size down to one byte', async () => {
    const packet = Buffer.concat([init(3), Buffer.from('more')]);
    for (const size of [1, 2, 3, 4]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < packet.length; i += size) chunks.push(packet.subarray(i, i + size));
      expect(await sniff(chunks), `chunks of ${size}`).toEqual({ passed: Buffer.alloc(0), refused: true });
    }
  });

  it('passes typed text, piped text and binary that is not an INIT unchanged', async () => {
    const cases = [
      [Buffer.from('ls -la\n')],
      [Buffer.from('t'), Buffer.from('ouch /tmp/x\n')],
      [Buffer.from([0, 0, 0, 9, 2, 0, 0, 0, 3])], // type 2 (VERSION), not INIT
      [Buffer.from([0, 4, 0, 0, 1, 0, 0, 0, 3])], // a length of 256 KiB or more
      [Buffer.from([0, 0, 0, 4, 1, 0, 0, 0, 3])], // a length too short for an INIT
      [Buffer.from([0]), Buffer.from([0, 0]), Buffer.from([0, 7, 9])],
    ];
    for (const chunks of cases) {
      expect(await sniff(chunks)).toEqual({ passed: Buffer.concat(chunks), refused: false });
    }
  });

  it('passes what it held when the input ends before it could decide', async () => {
    expect(await sniff([Buffer.from([0, 0, 0])])).toEqual({ passed: Buffer.from([0, 0, 0]), refused: false });
    expect(await sniff([])).toEqual({ passed: Buffer.alloc(0), refused: false });
  });

  it('initPrefix: maybe while undecided, no at the first byte that cannot be an INIT', () => {
    expect(initPrefix(Buffer.alloc(0))).toBe('maybe');
    expect(initPrefix(Buffer.from([0, 0, 0, 5]))).toBe('maybe');
    expect(initPrefix(Buffer.from([1]))).toBe('no');
    expect(initPrefix(Buffer.from([0, 4]))).toBe('no');
    expect(initPrefix(Buffer.from([0, 0, 0, 5, 1]))).toBe('yes');
  });
});
