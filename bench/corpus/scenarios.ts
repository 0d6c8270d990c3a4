import type { Scenario } from './scenario.js';
import { EDITING } from './scenarios-editing.js';
import { PROGRAMS } from './scenarios-programs.js';
import { SCREEN } from './scenarios-screen.js';
import { SHELLS } from './scenarios-shells.js';

/** The whole corpus, in the order sessions are started (the slow, human-paced ones spread through it). */
export const CORPUS: readonly Scenario[] = check([...EDITING, ...SCREEN, ...PROGRAMS, ...SHELLS]);

function check(list: Scenario[]): Scenario[] {
  const seen = new Set<string>();
  for (const s of list) {
    if (seen.has(s.id)) throw new Error(`two corpus scenarios are named ${s.id}`);
    seen.add(s.id);
    if (!s.run && !s.stdin) throw new Error(`corpus scenario ${s.id} types nothing`);
  }
  return list;
}
