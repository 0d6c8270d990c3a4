import { isIP } from 'node:net';
import type { Clock } from '../core/index.js';
import { parseCertificate, verifyEd25519Signature, USER_CERT } from '../identity/index.js';
import type { Identity, Login, SshCertificate, User } from '../identity/index.js';

/**
 * Checks an OpenSSH user certificate offered at the front door. ssh2 parses none
 * of it and verifies no signature (NOTES.md), so everything is checked here:
 *  - it is an Ed25519 user certificate, well formed;
 *  - its signature key is one of airlock's trusted CA keys, byte for byte (so a
 *    certificate cannot act as a CA: Teleport CVE-2025-49825), and the CA
 *    signature over the certificate is valid;
 *  - the validity window contains now; the only principal is the requested user;
 *  - critical options are understood (source-address, checked) or refused;
 *  - the key id names a login that is live, of that user, with that serial;
 *  - the user is active;
 *  - and, on the signed request, the client's signature over the session data is
 *    valid for the certified key.
 */
export type CertCheck =
  | { ok: true; user: User; login: Login; cert: SshCertificate }
  | { ok: false; reason: string };

export interface CertOffer {
  username: string;
  keyAlgo: string;
  keyData: Buffer;
  /** Present on the signed request; absent on the query. */
  signature?: Buffer | undefined;
  /** The data the client signed. */
  blob?: Buffer | undefined;
  source: string;
}

export async function checkCertificate(identity: Identity, clock: Clock, offer: CertOffer): Promise<CertCheck> {
  if (offer.keyAlgo !== 'ssh-ed25519-cert-v01@openssh.com') return { ok: false, reason: 'not_a_certificate' };
  let cert: SshCertificate;
  try {
    cert = parseCertificate(offer.keyData);
  } catch (err) {
    return { ok: false, reason: `malformed_certificate: ${(err as Error).message}` };
  }
  if (cert.type !== USER_CERT) return { ok: false, reason: 'not_a_user_certificate' };
  const ca = identity.ca.trustedBlob(cert.signatureKey);
  if (!ca) return { ok: false, reason: 'unknown_ca' };
  if (!verifyEd25519Signature(ca.raw, cert.signature, cert.signedPart)) return { ok: false, reason: 'bad_ca_signature' };

  const now = BigInt(Math.floor(clock.now().getTime() / 1000));
  if (now < cert.validAfter) return { ok: false, reason: 'not_yet_valid' };
  if (now >= cert.validBefore) return { ok: false, reason: 'expired' };
  if (cert.principals.length !== 1 || cert.principals[0] !== offer.username) return { ok: false, reason: 'wrong_principal' };
  for (const [name, value] of cert.criticalOptions) {
    if (name !== 'source-address') return { ok: false, reason: `unsupported_critical_option ${name.slice(0, 40)}` };
    if (!sourceAllowed(offer.source, value)) return { ok: false, reason: 'source_address' };
  }

  const m = /^airlock:([^:]+):([0-9a-f-]{36})$/.exec(cert.keyId);
  if (!m || m[1] !== offer.username) return { ok: false, reason: 'bad_key_id' };
  const login = await identity.logins.get(m[2] as string);
  if (!login || login.certSerial !== cert.serial.toString()) return { ok: false, reason: 'unknown_serial' };
  if (login.revokedAt) return { ok: false, reason: 'revoked' };
  if (!identity.logins.isLive(login)) return { ok: false, reason: 'login_expired' };
  const user = await identity.users.getById(login.userId);
  if (!user || user.name !== offer.username) return { ok: false, reason: 'wrong_user' };
  if (user.status !== 'active') return { ok: false, reason: 'user_disabled' };

  if (offer.signature) {
    // ssh2 leaves the SSH wrapper (string algorithm + string signature) on
    // certificate signatures; verifyEd25519Signature reads exactly that form.
    if (!offer.blob || !verifyEd25519Signature(cert.publicKey, offer.signature, offer.blob)) return { ok: false, reason: 'bad_signature' };
  }
  return { ok: true, user, login, cert };
}

/** source-address: comma-separated addresses and CIDR ranges (PROTOCOL.certkeys). */
export function sourceAllowed(source: string, list: string): boolean {
  return list.split(',').some((entry) => cidrContains(entry.trim(), source));
}

function cidrContains(cidr: string, address: string): boolean {
  const [net, bitsText] = cidr.split('/');
  if (!net) return false;
  const family = isIP(net);
  if (family === 0 || family !== isIP(address)) return false;
  const bits = bitsText === undefined ? (family === 4 ? 32 : 128) : Number(bitsText);
  const a = toBytes(net, family);
  const b = toBytes(address, family);
  if (!Number.isInteger(bits) || bits < 0 || bits > a.length * 8) return false;
  for (let i = 0; i < bits; i++) {
    const byte = i >> 3;
    const mask = 0x80 >> (i & 7);
    if (((a[byte] as number) & mask) !== ((b[byte] as number) & mask)) return false;
  }
  return true;
}

function toBytes(ip: string, family: number): number[] {
  if (family === 4) return ip.split('.').map(Number);
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.flatMap((g) => {
    const n = parseInt(g || '0', 16);
    return [n >> 8, n & 0xff];
  });
}
