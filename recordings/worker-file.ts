import { existsSync } from 'node:fs';

/**
 * A worker thread's script: the compiled file beside the caller (dist/), or,
 * when running from the TypeScript sources (the tests do), the build's copy,
 * which the tests' global setup compiles before any test runs
 * (test/global-setup.ts), so it is never older than the sources.
 */
export function workerFile(name: string): URL {
  const here = new URL(`./${name}`, import.meta.url);
  if (existsSync(here)) return here;
  return new URL(`../dist/recordings/${name}`, import.meta.url);
}
