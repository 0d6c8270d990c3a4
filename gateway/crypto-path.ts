import { createRequire } from 'node:module';

/**
 * Which code encrypts SSH traffic. ssh2 has a native binding (AES-GCM,
 * ChaCha20-Poly1305 in C with OpenSSL) and falls back to per-packet JavaScript
 * when the binding was not built, silently, at half the throughput or less
 * (NOTES.md: 206 against 369 MB/s through airlock). npm 11 builds it only for
 * packages allowed in package.json's "allowScripts" (ssh2 and cpu-features are).
 * airlock says which path it runs on at start-up, in `airlock status` and in the
 * admin readiness details, and warns loudly on the slow one.
 */
export interface SshCryptoPath {
  native: boolean;
  /** For people: what runs, and what to do about it if it is the slow path. */
  detail: string;
}

export function sshCryptoPath(): SshCryptoPath {
  const require = createRequire(import.meta.url);
  let native = false;
  try {
    native = (require('ssh2/lib/protocol/crypto.js') as { bindingAvailable?: boolean }).bindingAvailable === true;
  } catch {
    native = false;
  }
  return native
    ? { native, detail: "native (ssh2's sshcrypto.node binding)" }
    : {
        native,
        detail:
          "JavaScript fallback: ssh2's native crypto binding is not built, so SSH throughput is about half. " +
          'Run "npm rebuild ssh2 cpu-features" where airlock is installed (it needs python3, make and g++).',
      };
}
