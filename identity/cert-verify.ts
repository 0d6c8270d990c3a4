import { isIP } from 'node:net';
import { AirlockError } from '../core/index.js';
import type { Clock, ErrorCode } from '../core/index.js';
import type { Login, Logins } from './logins.js';
import type { SshCa } from './ssh-ca.js';
import { parseCertificate, verifyEd25519Signature, CERT_TYPE, USER_CERT } from './ssh-cert.js';
import type { SshCertificate } from './ssh-cert.js';
import type { User, Users } from './users.js';

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
  /**
   * `error.code` is what a caller acts on; `reason` names the exact check that
   * failed, for the audit log only. A plain (non-certificate) key has reason
   * "not_a_certificate": clients offer those on their own, so callers may skip
   * auditing that one.
   */
  | { ok: false; reason: string; error: AirlockError };

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

interface Parts {
  ca: Pick<SshCa, 'trustedBlob'>;
  logins: Pick<Logins, 'get' | 'isLive'>;
  users: Pick<Users, 'getById'>;
  clock: Clock;
}

const CODE_OF: Record<string, ErrorCode> = {
  unknown_ca: 'ERR_CERT_UNKNOWN_CA',
  bad_ca_signature: 'ERR_CERT_UNKNOWN_CA',
  not_yet_valid: 'ERR_CERT_EXPIRED',
  expired: 'ERR_CERT_EXPIRED',
  login_expired: 'ERR_CERT_EXPIRED',
  revoked: 'ERR_CERT_REVOKED',
  source_address: 'ERR_CERT_SOURCE',
  user_disabled: 'ERR_ACCOUNT_DISABLED',
};

function refused(reason: string): CertCheck {
  const code = CODE_OF[reason] ?? 'ERR_CERT_INVALID';
  return { ok: false, reason, error: new AirlockError(code, 'certificate not accepted', { details: { reason } }) };
}

export async function checkCertificate(parts: Parts, offer: CertOffer): Promise<CertCheck> {
  const { ca: authority, logins, users, clock } = parts;
  if (offer.keyAlgo !== CERT_TYPE) return refused('not_a_certificate');
  let cert: SshCertificate;
  try {
    cert = parseCertificate(offer.keyData);
  } catch (err) {
    return refused(`malformed_certificate: ${(err as Error).message.slice(0, 80)}`);
  }
  if (cert.type !== USER_CERT) return refused('not_a_user_certificate');
  const ca = authority.trustedBlob(cert.signatureKey);
  if (!ca) return refused('unknown_ca');
  if (!verifyEd25519Signature(ca.raw, cert.signature, cert.signedPart)) return refused('bad_ca_signature');

  const now = BigInt(Math.floor(clock.now().getTime() / 1000));
  if (now < cert.validAfter) return refused('not_yet_valid');
  if (now >= cert.validBefore) return refused('expired');
  if (cert.principals.length !== 1 || cert.principals[0] !== offer.username) return refused('wrong_principal');
  for (const [name, value] of cert.criticalOptions) {
    if (name !== 'source-address') return refused(`unsupported_critical_option ${name.slice(0, 40)}`);
    if (!sourceAllowed(offer.source, value)) return refused('source_address');
  }

  const m = /^airlock:([^:]+):([0-9a-f-]{36})$/.exec(cert.keyId);
  if (!m || m[1] !== offer.username) return refused('bad_key_id');
  const login = await logins.get(m[2] as string);
  if (!login || login.certSerial !== cert.serial.toString()) return refused('unknown_serial');
  if (login.revokedAt) return refused('revoked');
  if (!logins.isLive(login)) return refused('login_expired');
  const user = await users.getById(login.userId);
  if (!user || user.name !== offer.username) return refused('wrong_user');
  if (user.status !== 'active') return refused('user_disabled');

  if (offer.signature) {
    // ssh2 leaves the SSH wrapper (string algorithm + string signature) on
    // certificate signatures; verifyEd25519Signature reads exactly that form.
    if (!offer.blob || !verifyEd25519Signature(cert.publicKey, offer.signature, offer.blob)) return refused('bad_signature');
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
