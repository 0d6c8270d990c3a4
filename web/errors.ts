import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { ZodError } from 'zod';
import { AirlockError, publicMessage, toAirlockError } from '../core/index.js';
import type { Logger } from '../core/index.js';

/**
 * The one place errors become HTTP responses: `{ error: { code, message } }` with
 * the error's status. A message the error does not expose (core/errors.ts) is
 * replaced by a generic one; the log keeps everything, with the cause.
 */
export function errorBody(err: AirlockError): { error: { code: string; message: string } } {
  return { error: { code: err.code, message: publicMessage(err, 'internal error') } };
}

export function fromZod(err: ZodError): AirlockError {
  const first = err.issues[0];
  const where = first?.path.length ? `${first.path.join('.')}: ` : '';
  return new AirlockError('ERR_INVALID_INPUT', `invalid request: ${where}${first?.message ?? 'bad value'}`, { details: { field: first?.path.join('.') ?? null } });
}

/** body-parser and express raise plain errors with `type`/`status`; give them codes. */
function fromHttpError(err: unknown): AirlockError | undefined {
  const e = err as { type?: string; status?: number; message?: string };
  if (e.type === 'entity.too.large') return new AirlockError('ERR_BODY_TOO_LARGE', 'request body too large', { cause: err });
  if (e.type === 'entity.parse.failed') return new AirlockError('ERR_INVALID_INPUT', 'request body is not valid JSON', { cause: err, details: { field: 'body' } });
  if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') {
    return new AirlockError('ERR_UNSUPPORTED_MEDIA_TYPE', 'unsupported body encoding', { cause: err });
  }
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    return new AirlockError('ERR_INVALID_INPUT', e.message ?? 'bad request', { status: e.status, cause: err });
  }
  return undefined;
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const error = err instanceof AirlockError ? err : (fromHttpError(err) ?? toAirlockError(err));
    const log = { code: error.code, status: error.status, method: req.method, path: req.path, details: error.details, cause: error.cause };
    if (error.status >= 500) logger.error(log, error.message);
    else logger.debug(log, error.message);
    // A download already under way cannot become an error answer: it is cut short.
    if (res.headersSent) return void res.destroy();
    if (error.retryAfter !== undefined) res.setHeader('Retry-After', String(error.retryAfter));
    if (error.status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="airlock"');
    res.status(error.status).json(errorBody(error));
  };
}

export const notFound: RequestHandler = (req, _res, next) => {
  next(new AirlockError('ERR_NOT_FOUND', `no such endpoint: ${req.method} ${req.path}`));
};
