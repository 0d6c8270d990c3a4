/**
 * core's second public entry: what has no I/O and imports nothing beyond Node
 * itself, for code that runs in worker threads (the recording thread, the
 * analysis worker). Importing core/index.ts there would load the database
 * drivers, the config schema and the logger into every thread: measured, it
 * added 0.3 s to a worker's start and ~30 MB to its memory. index.ts
 * re-exports all of this, so the main thread never needs this file.
 */
export { AirlockError, isAirlockError, isErrorCode, publicMessage, toAirlockError } from './errors.js';
export type { ErrorCode, AirlockErrorOptions } from './errors.js';
export { canonicalJson } from './canonical-json.js';
export { parseDuration, formatDuration } from './duration.js';
export { inertText } from './inert-text.js';
export { parseTimeSpec, TIME_SPEC_HELP } from './time-spec.js';
