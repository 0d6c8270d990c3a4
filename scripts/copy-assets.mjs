// Copies the files tsc does not emit (SQL migrations) next to the compiled code,
// so dist/ runs on its own.
import { cpSync, mkdirSync } from 'node:fs';

mkdirSync('dist/core/migrations', { recursive: true });
cpSync('core/migrations', 'dist/core/migrations', { recursive: true, filter: (p) => !p.endsWith('.ts') });
