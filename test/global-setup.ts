import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Before any test runs: compile the sources to dist/, incrementally. Tests import
 * the TypeScript sources, but two kinds of code run from dist/: the worker
 * threads (the recording thread, the analysis worker: recordings/worker-file.ts)
 * and the real `airlock` command the CLI tests start as a child process. Without
 * this, `npx vitest` after an edit ran those from a stale build. A type error
 * stops the run here, with tsc's own messages.
 */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export default function setup(): void {
  const started = Date.now();
  const info = join(ROOT, 'node_modules/.cache/airlock/build.tsbuildinfo');
  // tsc --incremental trusts its build info even when dist/ was deleted since.
  if (!existsSync(join(ROOT, 'dist/cli/main.js'))) rmSync(info, { force: true });
  try {
    execFileSync(
      process.execPath,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--incremental', '--tsBuildInfoFile', info],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' },
    );
  } catch (err) {
    const out = err as { stdout?: string; stderr?: string };
    throw new Error(`the build for the tests failed (npm run build shows the same):\n${out.stdout ?? ''}${out.stderr ?? ''}`);
  }
  mkdirSync(join(ROOT, 'dist/core/migrations'), { recursive: true });
  cpSync(join(ROOT, 'core/migrations'), join(ROOT, 'dist/core/migrations'), { recursive: true });
  process.stdout.write(`[global-setup] dist/ is up to date (${Date.now() - started} ms)\n`);
}
