import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { cruise } from 'dependency-cruiser';
import type { ICruiseOptions, ICruiseResult } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';

/**
 * The layering of DESIGN.md, held by dependency-cruiser with the rules in
 * .dependency-cruiser.cjs: allowed arrows between parts, nothing imports cli/,
 * recordings/ knows no SSH or HTTP, parts are imported through their index.ts,
 * no cycles. The second half cruises a small tree with one violation of each
 * rule, so a rule that silently stopped matching fails here.
 */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PARTS = ['core', 'identity', 'approvals', 'gateway', 'recordings', 'web', 'server', 'cli', 'bench'];

async function run(dir: string, paths: string[]): Promise<ICruiseResult> {
  const options = (await extractDepcruiseOptions(join(ROOT, '.dependency-cruiser.cjs'))) as ICruiseOptions;
  const cwd = process.cwd();
  process.chdir(dir); // rule paths are relative to the cruise's base directory
  try {
    const result = await cruise(paths, { ...options, validate: true }, {}, { tsConfig: extractTSConfig(join(dir, 'tsconfig.json')) });
    return result.output as ICruiseResult;
  } finally {
    process.chdir(cwd);
  }
}

const violations = (r: ICruiseResult) => r.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).sort();

describe('layering', () => {
  it('the code follows every rule', async () => {
    const result = await run(ROOT, PARTS);
    expect(result.summary.totalCruised).toBeGreaterThan(100);
    expect(violations(result)).toEqual([]);
  }, 60_000);

  describe('each rule catches its violation', () => {
    // Inside the repository, so "ssh2" resolves to the real package.
    const dir = mkdtempSync(join(ROOT, '.layering-fixture-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const file = (path: string, text: string) => {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    };
    file('tsconfig.json', JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }));
    file('core/index.ts', "export { a } from './a.js';\n");
    file('core/a.ts', "import { b } from '../identity/index.js';\nexport const a = b;\n");
    file('identity/index.ts', "export const b = 1;\n");
    file('identity/inner.ts', "export const inner = 2;\n");
    file('approvals/index.ts', "import { inner } from '../identity/inner.js';\nexport const c = inner;\n");
    file('recordings/index.ts', "import ssh2 from 'ssh2';\nimport { createServer } from 'node:http';\nexport const r = [ssh2, createServer];\n");
    file('web/index.ts', "import { x } from '../cli/index.js';\nexport const w = x;\n");
    file('cli/index.ts', "export const x = 3;\n");
    file('gateway/index.ts', "import { g2 } from './g2.js';\nexport const g1 = 1 + g2;\n");
    file('gateway/g2.ts', "import { g1 } from './index.js';\nexport const g2 = g1;\n");

    it('reports them all', async () => {
      const found = violations(await run(dir, ['core', 'identity', 'approvals', 'recordings', 'web', 'cli', 'gateway']));
      expect(found).toEqual(
        expect.arrayContaining([
          'core-imports: core/a.ts → identity/index.ts',
          'through-index: approvals/index.ts → identity/inner.ts',
          'recordings-know-no-ssh-or-http: recordings/index.ts → http',
          'web-imports: web/index.ts → cli/index.ts',
          'nothing-depends-on-cli: web/index.ts → cli/index.ts',
          'no-circular: gateway/g2.ts → gateway/index.ts',
        ]),
      );
      expect(found.some((v) => /^recordings-know-no-ssh-or-http: recordings\/index\.ts → .*node_modules\/ssh2\//.test(v))).toBe(true);
    }, 60_000);
  });
});
