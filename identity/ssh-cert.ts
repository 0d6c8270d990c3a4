import { createPublicKey, randomBytes, sign as edSign, verify as edVerify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { u32, u64, wireString, WireReader } from './ssh-wire.js';

/**
 * OpenSSH certificates (PROTOCOL.certkeys), Ed25519 only:
 *
 *   string "ssh-ed25519-cert-v01@openssh.com"   string nonce        string pk
 *   uint64 serial     uint32 type (1 = user)     string key id       string valid principals
 *   uint64 valid after       uint64 valid before                     string critical options
 *   string extensions        string reserved     string signature key    string signature
 *
 * The signature covers everything before it. The signature key must be a plain
 * Ed25519 key (a certificate as CA key is refused: Teleport CVE-2025-49825).
 */
export const CERT_TYPE = 'ssh-ed25519-cert-v01@openssh.com';
export const ED25519 = 'ssh-ed25519';
export const USER_CERT = 1;

export interface SshCertificate {
  nonce: Buffer;
  /** The certified Ed25519 public key, 32 raw bytes. */
  publicKey: Buffer;
  serial: bigint;
  type: number;
  keyId: string;
  principals: string[];
  validAfter: bigint;
  validBefore: bigint;
  criticalOptions: Map<string, string>;
  extensions: Map<string, string>;
  /** CA public key blob (string "ssh-ed25519" + string key). */
  signatureKey: Buffer;
  signature: Buffer;
  /** The bytes the signature covers. */
  signedPart: Buffer;
}

// ------------------------------------------------------------------ encoding

const str = wireString;

/** Name/value pairs; a non-empty value is itself wrapped as a string. */
function options(map: Map<string, string>): Buffer {
  const names = [...map.keys()].sort();
  return Buffer.concat(names.map((n) => Buffer.concat([str(n), str(map.get(n) ? str(map.get(n) as string) : Buffer.alloc(0))])));
}

export function ed25519Blob(raw: Buffer): Buffer {
  return Buffer.concat([str(ED25519), str(raw)]);
}

/** Raw 32-byte Ed25519 public key of a Node KeyObject. */
export function rawEd25519(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || !jwk.x) throw new Error('not an Ed25519 key');
  return Buffer.from(jwk.x, 'base64url');
}

export function ed25519KeyObject(raw: Buffer): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

export interface CertificateRequest {
  publicKey: Buffer;
  serial: bigint;
  keyId: string;
  principals: string[];
  validAfter: Date;
  validBefore: Date;
  criticalOptions?: Map<string, string>;
  extensions?: Map<string, string>;
}

/** Builds and signs a user certificate with the CA's private key. */
export function signCertificate(req: CertificateRequest, caPrivate: KeyObject, caPublicRaw: Buffer): Buffer {
  const body = Buffer.concat([
    str(CERT_TYPE),
    str(randomBytes(32)),
    str(req.publicKey),
    u64(req.serial),
    u32(USER_CERT),
    str(req.keyId),
    str(Buffer.concat(req.principals.map((p) => str(p)))),
    u64(BigInt(Math.floor(req.validAfter.getTime() / 1000))),
    u64(BigInt(Math.floor(req.validBefore.getTime() / 1000))),
    str(options(req.criticalOptions ?? new Map())),
    str(options(req.extensions ?? new Map())),
    str(Buffer.alloc(0)),
    str(ed25519Blob(caPublicRaw)),
  ]);
  const signature = edSign(null, body, caPrivate);
  return Buffer.concat([body, str(Buffer.concat([str(ED25519), str(signature)]))]);
}

// ------------------------------------------------------------------ decoding

function readOptions(data: Buffer, kind: string): Map<string, string> {
  const r = new WireReader(data);
  const map = new Map<string, string>();
  let last = '';
  while (!r.done) {
    const name = r.string();
    const value = r.bytes();
    if (map.has(name)) throw new Error(`duplicate ${kind} ${name}`);
    if (name < last) throw new Error(`${kind} not in lexical order`);
    last = name;
    map.set(name, value.length ? new WireReader(value).string() : '');
  }
  return map;
}

/** Parses a certificate blob. Throws on anything malformed; checks no signature. */
export function parseCertificate(blob: Buffer): SshCertificate {
  if (blob.length > 16 * 1024) throw new Error('certificate too large');
  const r = new WireReader(blob);
  const type = r.string();
  if (type !== CERT_TYPE) throw new Error(`unsupported certificate type ${type.slice(0, 64)}`);
  const nonce = r.bytes();
  const publicKey = r.bytes();
  if (publicKey.length !== 32) throw new Error('bad Ed25519 key length');
  const serial = r.uint64();
  const certType = r.uint32();
  const keyId = r.string();
  const principalsReader = new WireReader(r.bytes());
  const principals: string[] = [];
  while (!principalsReader.done) principals.push(principalsReader.string());
  const validAfter = r.uint64();
  const validBefore = r.uint64();
  const criticalOptions = readOptions(r.bytes(), 'critical option');
  const extensions = readOptions(r.bytes(), 'extension');
  r.bytes(); // reserved
  const signatureKey = r.bytes();
  const signedPart = blob.subarray(0, r.offset);
  const signature = r.bytes();
  if (!r.done) throw new Error('trailing bytes after the certificate');
  return { nonce, publicKey, serial, type: certType, keyId, principals, validAfter, validBefore, criticalOptions, extensions, signatureKey, signature, signedPart };
}

/**
 * Verifies an SSH Ed25519 signature blob (string "ssh-ed25519" + string sig) over
 * data with the raw public key. Anything else (other algorithm, wrong length,
 * bad signature) is false.
 */
export function verifyEd25519Signature(rawPublic: Buffer, sshSignature: Buffer, data: Buffer): boolean {
  try {
    const r = new WireReader(sshSignature);
    if (r.string() !== ED25519) return false;
    const sig = r.bytes();
    if (!r.done || sig.length !== 64 || rawPublic.length !== 32) return false;
    return edVerify(null, data, ed25519KeyObject(rawPublic), sig);
  } catch {
    return false;
  }
}

/** The raw key inside a plain "ssh-ed25519" key blob, or undefined for anything else (certificates included). */
export function plainEd25519(blob: Buffer): Buffer | undefined {
  try {
    const r = new WireReader(blob);
    if (r.string() !== ED25519) return undefined;
    const raw = r.bytes();
    return r.done && raw.length === 32 ? raw : undefined;
  } catch {
    return undefined;
  }
}
