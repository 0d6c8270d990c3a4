import { fileURLToPath } from 'node:url';

/**
 * The command line that runs this very airlock, by absolute path: what the
 * demo and the README tell people to alias. `npx airlock` is not it: outside
 * the clone npx fetches an unrelated package of the same name from npm.
 */
export function cliInvocation(): string {
  const main = fileURLToPath(new URL('./main.js', import.meta.url));
  return `node --no-memory-reducer ${/^[\w@%+=:,./-]+$/.test(main) ? main : `"${main.replace(/(["\\$`])/g, '\\$1')}"`}`;
}
