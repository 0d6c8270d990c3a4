import { createHash } from 'node:crypto';
import type { RequestHandler } from 'express';

/**
 * What a browser finds at `/` until the web console exists: a plain page that
 * says what this server is and where its parts are, instead of a JSON 404. It
 * carries no user data and no script; its one style block is allowed by hash,
 * so the strict Content-Security-Policy of every other response stays.
 */
const STYLE = 'body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}code{background:#eef1f4;padding:0 .25rem}';
const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64');

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>airlock</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>airlock</h1>
<p>This is an airlock server: the gateway through which outside engineers reach this company's servers, with MFA, approval and recording.</p>
<p>The web console is not built yet. What is here today:</p>
<ul>
<li>SSH access for engineers: <code>ssh -p 2222 user@target@this-host</code>, or <code>airlock login</code> for a certificate.</li>
<li>The HTTP API under <a href="/api/v1/status">/api/v1</a> (log in with <code>airlock login</code>; it needs a bearer token).</li>
<li>Health: <a href="/healthz">/healthz</a> and readiness: <a href="/readyz">/readyz</a>.</li>
</ul>
<p>Approvers, auditors and admins use the <code>airlock</code> command for now: <code>airlock requests list --pending</code>, <code>airlock recordings list</code>, <code>airlock audit tail</code>.</p>
</main>
</body>
</html>
`;

export const homePage: RequestHandler = (_req, res) => {
  res.setHeader('Content-Security-Policy', `default-src 'none'; style-src 'sha256-${STYLE_HASH}'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`);
  res.type('html').send(PAGE);
};
