// The agent's status page at "/": a static HTML shell, its stylesheet and its script (compiled
// from agent/page/status.ts by the build), all served by the agent itself, so the page works
// with no internet. The page only reads the agent's own JSON endpoints (/api/v1/status,
// /api/v1/results and, when another part of the agent serves it, /api/v1/flows): it takes no
// action and nothing in a request makes the agent connect anywhere. Its Content-Security-Policy
// allows only the agent's own files: no inline script or style, no other origin, no framing.

import { readFileSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The page's policy: its own script, stylesheet and JSON, nothing inline, nothing else. */
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** Headers on every page file: the policy, no sniffing, no referrer, no framing. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": PAGE_CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "cache-control": "no-store",
};

/** The compiled script is the build's own file; anything larger is not it. */
const SCRIPT_MAX_BYTES = 512 * 1024;

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>netcanary status</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/status.css">
<script type="module" src="/status.js"></script>
</head>
<body>
<header>
<h1>netcanary</h1>
<p id="summary" role="status">Loading the agent's state…</p>
</header>
<main>
<section aria-labelledby="matrix-title">
<h2 id="matrix-title">Edges: source by target</h2>
<ul id="legend" class="legend" aria-label="Status colours"></ul>
<div id="matrix" class="matrix"><p>No edges yet.</p></div>
</section>
<section id="detail" aria-labelledby="detail-title" hidden>
<h2 id="detail-title" tabindex="-1">Explanation</h2>
<div id="detail-body"></div>
</section>
<section aria-labelledby="state-title">
<h2 id="state-title">What the verdicts rest on</h2>
<div id="state" class="state"></div>
</section>
<section id="flows" aria-labelledby="flows-title" hidden>
<h2 id="flows-title">Traffic map</h2>
<div id="flows-body"></div>
</section>
</main>
<footer>
<noscript><p>This page needs JavaScript to draw; the same data is in the JSON below.</p></noscript>
<p>The agent's endpoints: <a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a> · <a href="/readyz">/readyz</a> · <a href="/api/v1/results">/api/v1/results</a> · <a href="/api/v1/status">/api/v1/status</a></p>
</footer>
</body>
</html>
`;

const CSS = `:root { color-scheme: light; font-family: system-ui, sans-serif; color: #1f2328; background: #ffffff; }
body { margin: 0 auto; max-width: 80rem; padding: 1rem; }
h1 { margin: 0 0 .25rem; font-size: 1.5rem; }
h2 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; }
h3 { font-size: 1rem; margin: 1rem 0 .25rem; }
table { border-collapse: collapse; }
caption { text-align: left; padding: .25rem 0; }
th, td { border: 1px solid #d0d7de; padding: .25rem .5rem; text-align: left; vertical-align: top; }
.matrix { overflow-x: auto; }
.matrix td { padding: 0; }
.cell { display: block; width: 100%; min-width: 8rem; min-height: 2.5rem; border: 0; padding: .35rem .5rem; font: inherit; text-align: left; cursor: pointer; }
.cell:focus-visible { outline: 3px solid #0969da; outline-offset: -3px; box-shadow: inset 0 0 0 5px #ffffff; }
.cell .why { display: block; font-size: .8rem; }
.cell.selected { box-shadow: inset 0 0 0 4px #1f2328; }
.status-ok { background: #1a7f37; color: #ffffff; }
.status-pending { background: #57606a; color: #ffffff; }
.status-unexpected_block { background: #b91c1c; color: #ffffff; }
.status-unexpected_allow { background: #6f42c1; color: #ffffff; }
.status-intent_violation { background: #953800; color: #ffffff; }
.status-unexpected_path { background: #0550ae; color: #ffffff; }
.status-unknown { background: #d0d7de; color: #1f2328; }
.legend { display: flex; flex-wrap: wrap; gap: .5rem; list-style: none; padding: 0; margin: 0 0 .5rem; }
.legend li { padding: .15rem .5rem; border-radius: .25rem; font-size: .85rem; }
.state { display: grid; grid-template-columns: repeat(auto-fit, minmax(18rem, 1fr)); gap: 1rem; }
.state section { border: 1px solid #d0d7de; border-radius: .375rem; padding: .5rem .75rem; }
.state h3 { margin-top: 0; }
.bad { color: #b91c1c; font-weight: 600; }
.muted { color: #57606a; }
.lines { margin: .25rem 0; padding-left: 1.25rem; }
.edge { border-top: 1px solid #d0d7de; padding-top: .5rem; }
footer { margin-top: 2rem; font-size: .9rem; }
a { color: #0550ae; }
code { font-family: ui-monospace, monospace; font-size: .9em; }
`;

/** A canary-yellow dot: the page's icon (a browser asks for one; without it, a 404 in its console). */
const ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#d4a72c"/></svg>`;

export interface PageFile {
  readonly type: string;
  readonly body: string | Buffer;
}

let script: Buffer | undefined;

/** The compiled page script, read once (dist/page/status.js next to this file's dist/server/). */
function pageScript(): Buffer | undefined {
  if (script) return script;
  try {
    const path = fileURLToPath(new URL("../page/status.js", import.meta.url));
    if (statSync(path).size > SCRIPT_MAX_BYTES) return undefined;
    script = readFileSync(path);
    return script;
  } catch {
    return undefined;
  }
}

/**
 * The page's files by path; undefined for any other path. The script is missing when the
 * agent runs from sources that were not built: the answer says so.
 */
export function pageFile(pathname: string): PageFile | undefined {
  switch (pathname) {
    case "/":
    case "/index.html":
      return { type: "text/html; charset=utf-8", body: HTML };
    case "/status.css":
      return { type: "text/css; charset=utf-8", body: CSS };
    case "/favicon.svg":
      return { type: "image/svg+xml", body: ICON };
    case "/status.js":
      return { type: "text/javascript; charset=utf-8", body: pageScript() ?? "// not built: run `npm run build`\n" };
    default:
      return undefined;
  }
}
