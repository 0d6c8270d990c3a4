import type { Command } from 'commander';
import { loadConfig, createLogger } from '../core/index.js';
import type { Config, Logger } from '../core/index.js';
import { ApiClient } from './client.js';
import { createOutput, reportError } from './output.js';
import type { Output } from './output.js';

/** The options every verb understands (set on the root command). */
export interface GlobalOptions {
  json?: boolean;
  url?: string;
  config?: string;
  dataDir?: string;
}

export interface VerbContext {
  opts: GlobalOptions;
  out: Output;
  /** The configuration, for verbs that run locally (init, serve, demo, --direct). */
  config(overrides?: Record<string, unknown>): Config;
  logger(config: Config): Logger;
  /** An API client with the stored login. */
  api(): ApiClient;
}

export function contextOf(cmd: Command): VerbContext {
  const opts = cmd.optsWithGlobals<GlobalOptions>();
  return {
    opts,
    out: createOutput(Boolean(opts.json)),
    config: (overrides = {}) => loadConfig({ ...(opts.config ? { file: opts.config } : {}), overrides: { dataDir: opts.dataDir, ...overrides } }),
    logger: (config) => createLogger({ level: config.log.level, format: config.log.format }),
    api: () => ApiClient.fromStoredLogin(opts.url),
  };
}

/**
 * Wraps a verb: runs it, maps any error to a message and an exit code. The last
 * argument commander passes to an action is the Command itself.
 */
export function verb<A extends unknown[]>(fn: (ctx: VerbContext, ...args: A) => Promise<number | void>) {
  return async (...args: unknown[]): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const ctx = contextOf(cmd);
    try {
      const code = await fn(ctx, ...(args.slice(0, -1) as A));
      process.exitCode = code ?? 0;
    } catch (err) {
      process.exitCode = reportError(err, ctx.out.json, createLogger({ level: 'error' }));
    }
  };
}
