import { existsSync } from 'node:fs';

/**
 * A worker thread's script: the compiled file beside the caller (dist/), or,
 * when running from the TypeScript sources (the tests run them; `npm test`
 * builds first), the build's copy.
 */
export function workerFile(name: string): URL {
  const here = new URL(`./${name}`, import.meta.url);
  if (existsSync(here)) return here;
  return new URL(`../dist/recordings/${name}`, import.meta.url);
}
