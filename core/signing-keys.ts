import type { Clock } from './clock.js';
import type { Db } from './db.js';
import type { Vault } from './vault.js';

/**
 * The one store over the signing_keys table, for the three kinds of key airlock
 * signs with: API tokens (identity/tokens.ts), the SSH user CA
 * (identity/ssh-ca.ts) and recording checkpoints (recordings/keys.ts). Private
 * halves are sealed under the master key, bound to their purpose and kid, so a
 * key cannot be moved from one use to another; every node reads the same keys.
 * At most one key per purpose signs (retired_at NULL); retired ones keep
 * verifying for as long as their user decides.
 */
export type KeyPurpose = 'api-token' | 'ssh-user-ca' | 'recording';

/** Sealing contexts as they have always been, so existing databases keep opening. */
const CONTEXT: Record<KeyPurpose, (kid: string) => string> = {
  'api-token': (kid) => `airlock:signing-key:${kid}`,
  'ssh-user-ca': (kid) => `airlock:ssh-ca:${kid}`,
  recording: (kid) => `airlock:recording-key:${kid}`,
};

export interface StoredKey {
  kid: string;
  alg: string;
  /** The public half as a JWK (jsonb). */
  publicJwk: Record<string, unknown>;
  /** The private half, unsealed: a PEM or a JWK's JSON, as it was stored. */
  privateText: string;
  createdAt: Date;
  retiredAt: Date | null;
}

export interface NewKey {
  kid: string;
  alg: string;
  publicJwk: Record<string, unknown>;
  privateText: string;
}

interface Row {
  kid: string;
  alg: string;
  public_jwk: Record<string, unknown>;
  private_enc: string;
  created_at: Date;
  retired_at: Date | null;
}

export class SigningKeyStore {
  constructor(
    private readonly db: Db,
    private readonly vault: Vault,
    private readonly clock: Clock,
  ) {}

  /** Every key of a purpose, oldest first. */
  async list(purpose: KeyPurpose): Promise<StoredKey[]> {
    const rows = (
      await this.db.query<Row>('SELECT kid, alg, public_jwk, private_enc, created_at, retired_at FROM signing_keys WHERE purpose = $1 ORDER BY created_at, kid', [
        purpose,
      ])
    ).rows;
    return rows.map((r) => ({
      kid: r.kid,
      alg: r.alg,
      publicJwk: r.public_jwk,
      privateText: this.vault.decrypt(r.private_enc, CONTEXT[purpose](r.kid)).toString('utf8'),
      createdAt: r.created_at,
      retiredAt: r.retired_at,
    }));
  }

  /** Adds a key that signs from now on; the one that signed before only verifies. */
  async rotate(purpose: KeyPurpose, key: NewKey): Promise<void> {
    const now = this.clock.now();
    await this.db.transaction(async (tx) => {
      await tx.query('UPDATE signing_keys SET retired_at = $2 WHERE purpose = $1 AND retired_at IS NULL', [purpose, now]);
      await tx.query('INSERT INTO signing_keys (kid, purpose, alg, public_jwk, private_enc, created_at) VALUES ($1, $2, $3, $4, $5, $6)', [
        key.kid,
        purpose,
        key.alg,
        JSON.stringify(key.publicJwk),
        this.vault.encrypt(key.privateText, CONTEXT[purpose](key.kid)),
        now,
      ]);
    });
  }
}
