/** Session analysis (see analyse.ts): what the rest of recordings/ uses of it. */
export { analyseCast, analyseFile, analyseFrames } from './sources.js';
export { readsCommandsOnStdin } from './analyse.js';
export type { AnalysedCommand, AnalysisOptions, AnalysisResult, Keyframe, OnCommand } from './analyse.js';
export type { Risk } from '../risk-rules.js';
export type { CommandContext } from './command-detector.js';
