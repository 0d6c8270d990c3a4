import { describe, expect, it } from 'vitest';
import { AirlockError, isErrorCode, publicMessage, toAirlockError } from '../../../core/index.js';

describe('the error model', () => {
  it('exposes 4xx messages and hides 5xx ones, unless the catalogue says otherwise', () => {
    expect(new AirlockError('ERR_TICKET_INVALID', 'ticket "x" does not look like one')).toMatchObject({ status: 400, expose: true });
    expect(new AirlockError('ERR_DB', 'database error: relation users at /var/lib/x')).toMatchObject({ status: 500, expose: false });
    expect(publicMessage(new AirlockError('ERR_DB', 'database error: relation users at /var/lib/x'))).not.toContain('/var/lib');
    // Our own reasons for not running a session are for the engineer, though 5xx.
    expect(new AirlockError('ERR_HOST_KEY_MISMATCH', 'the host key of db01 changed')).toMatchObject({ status: 502, expose: true });
    expect(new AirlockError('ERR_RECORDING_UNAVAILABLE', 'cannot record')).toMatchObject({ status: 503, expose: true });
    // Start-up errors are for the operator.
    expect(new AirlockError('ERR_CONFIG_INVALID', 'x').expose).toBe(true);
  });

  it('keeps the cause and wraps anything else as internal', () => {
    const cause = new Error('ECONNRESET');
    const e = toAirlockError(cause);
    expect(e).toMatchObject({ code: 'ERR_INTERNAL', status: 500, expose: false, cause });
    expect(publicMessage(e)).toMatch(/internal error/);
    expect(publicMessage(new Error('secret path /etc/x'))).not.toContain('/etc/x');
  });

  it('knows its codes', () => {
    expect(isErrorCode('ERR_APPROVAL_REQUIRED')).toBe(true);
    expect(isErrorCode('ERR_SESSION_LIMIT')).toBe(true);
    expect(isErrorCode('ERR_FORBIDDEN')).toBe(false);
    expect(isErrorCode('toString')).toBe(false);
  });
});
