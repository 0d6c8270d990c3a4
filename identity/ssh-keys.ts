import ssh2 from 'ssh2';

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
