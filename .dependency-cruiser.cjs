/**
 * The layering of DESIGN.md, enforced (test/unit/layering.test.ts runs this in
 * `npm test`; `npx depcruise --config .dependency-cruiser.cjs core identity approvals
 * gateway recordings web server cli bench` prints the same report).
 *
 *   core ← identity ← approvals ← gateway;  recordings needs only core;
 *   gateway feeds recordings; web sits on the parts; server/ wires everything;
 *   cli sits on top and nothing imports it; bench drives the server.
 *
 * A part is a top-level folder. Another part may import it only through its
 * index.ts (and core also through core/pure.ts, for worker threads); inside a
 * part, files import each other directly.
 */
const PARTS = ['core', 'identity', 'approvals', 'gateway', 'recordings', 'web', 'server', 'cli', 'bench'];
const part = (...names) => `^(${names.join('|')})/`;

/** What each part may import (besides itself and node_modules). */
const ALLOWED = {
  core: [],
  identity: ['core'],
  approvals: ['core', 'identity'],
  recordings: ['core'],
  gateway: ['core', 'identity', 'approvals', 'recordings'],
  web: ['core', 'identity', 'approvals', 'gateway', 'recordings'],
  server: ['core', 'identity', 'approvals', 'gateway', 'recordings', 'web'],
  cli: ['core', 'identity', 'approvals', 'gateway', 'recordings', 'web', 'server'],
  bench: ['core', 'identity', 'approvals', 'gateway', 'recordings', 'web', 'server'],
};

const arrows = Object.entries(ALLOWED).map(([from, allowed]) => ({
  name: `${from}-imports`,
  comment: `${from}/ may import only ${allowed.length ? allowed.join(', ') : 'nothing of airlock'} (DESIGN.md "Layout")`,
  severity: 'error',
  from: { path: part(from) },
  to: { path: part(...PARTS.filter((p) => p !== from && !allowed.includes(p))) },
}));

module.exports = {
  forbidden: [
    ...arrows,
    {
      name: 'nothing-depends-on-cli',
      comment: 'cli/ parses arguments and calls the server or the API; nothing imports it',
      severity: 'error',
      from: { path: part(...PARTS.filter((p) => p !== 'cli')) },
      to: { path: part('cli') },
    },
    {
      name: 'recordings-know-no-ssh-or-http',
      comment: 'recordings/ stores and analyses bytes: no SSH library, no HTTP server, no sockets',
      severity: 'error',
      from: { path: part('recordings') },
      to: { path: ['node_modules/(ssh2|express|ws|cpu-features)/', '^(node:)?(http|https|http2|net|tls|dgram)$'] },
    },
    {
      name: 'through-index',
      comment: 'another part is imported through its index.ts only (what it exposes), never its internals',
      severity: 'error',
      from: { path: `^(${PARTS.join('|')})/` },
      // core/pure.ts is core's second entry: what worker threads may load (see its header).
      to: { path: `^(${PARTS.join('|')})/`, pathNot: ['^$1/', `^(${PARTS.join('|')})/index\\.ts$`, '^core/pure\\.ts$'] },
    },
    {
      name: 'no-circular',
      comment: 'a cycle between files makes start-up order fragile',
      severity: 'error',
      from: { path: `^(${PARTS.join('|')})/` },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['^dist/', '^test/', '\\.d\\.ts$'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
