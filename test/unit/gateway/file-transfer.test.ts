import { describe, it, expect } from 'vitest';
import { fileTransferProtocol } from '../../../gateway/file-transfer.js';

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
