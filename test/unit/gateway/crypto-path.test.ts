import { describe, expect, it } from 'vitest';
import { sshCryptoPath } from '../../../gateway/index.js';

describe('the SSH crypto path', () => {
  it('is the native binding after npm install (package.json allows ssh2 and cpu-features to build)', () => {
    expect(sshCryptoPath()).toEqual({ native: true, detail: "native (ssh2's sshcrypto.node binding)" });
  });
});
