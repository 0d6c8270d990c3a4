import { generateSecret, generateURI, verify, generate } from 'otplib';

/**
 * TOTP per RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps, ±window steps of skew.
 * otplib keeps no state, so replay protection (RFC 6238 §5.2: a code is accepted once)
 * is ours: the caller stores the step of the last accepted code and passes it back
 * as `afterStep`; a code at or before it is a replay.
 */
export const TOTP_PERIOD = 30;

export function newTotpSecret(): string {
  return generateSecret({ length: 20 }); // 160 bits, base32
}

export function totpUri(secret: string, account: string, issuer = 'airlock'): string {
  return generateURI({ issuer, label: account, secret, algorithm: 'sha1', digits: 6, period: TOTP_PERIOD });
}

export type TotpCheck = { ok: true; step: number } | { ok: false; reason: 'invalid' | 'replayed' };

export async function checkTotp(options: {
  secret: string;
  code: string;
  now: Date;
  window: number;
  afterStep: number | null;
}): Promise<TotpCheck> {
  const code = options.code.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(code)) return { ok: false, reason: 'invalid' };
  const epoch = Math.floor(options.now.getTime() / 1000);
  const tolerance = options.window * TOTP_PERIOD;
  const result = await verify({ secret: options.secret, token: code, epoch, epochTolerance: tolerance, period: TOTP_PERIOD });
  if (!result.valid) return { ok: false, reason: 'invalid' };
  const step = Math.floor(epoch / TOTP_PERIOD) + result.delta;
  if (options.afterStep !== null && step <= options.afterStep) return { ok: false, reason: 'replayed' };
  return { ok: true, step };
}

/** The current code; for the demo and for tests. */
export function currentTotp(secret: string, now: Date): Promise<string> {
  return generate({ secret, epoch: Math.floor(now.getTime() / 1000), period: TOTP_PERIOD });
}
