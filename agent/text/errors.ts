// How an unexpected error is told, in one line, wherever the agent shows one: a probe's detail,
// a log line, an Event, a feed's failure. One place, so that every caller bounds the walk down
// a cause chain (which may be circular), keeps to the first line of each message (a stack or a
// response body may follow it), says the errno-style code ("ECONNREFUSED") once, and takes
// credentials out of any URL the HTTP clients quote (text/url-credentials.ts).

import { redactUrlsIn } from "./url-credentials.js";

/** Causes followed below the error itself: a real chain is short; a circular one must end. */
const MAX_CAUSES = 3;

/** The error and its causes, outermost first, at most 1 + MAX_CAUSES of them. */
function chain(error: unknown): unknown[] {
  const links: unknown[] = [];
  for (let current = error; current !== undefined && current !== null && links.length <= MAX_CAUSES; ) {
    links.push(current);
    current = typeof current === "object" && "cause" in current ? current.cause : undefined;
  }
  return links;
}

/** The first errno-style code ("ECONNRESET", "UND_ERR_CONNECT_TIMEOUT") on the error or its causes. */
export function errorCode(error: unknown): string | undefined {
  for (const link of chain(error)) {
    if (typeof link === "object" && link !== null && "code" in link && typeof link.code === "string") return link.code;
  }
  return undefined;
}

/**
 * "ECONNREFUSED: fetch failed: connect ECONNREFUSED 127.0.0.1:6443": the first line of the
 * error's message and of each cause's (a line already said is not repeated), the code in front
 * unless the text has it, without credentials, at most maxChars characters.
 */
export function describeError(error: unknown, maxChars = 500): string {
  const parts: string[] = [];
  for (const link of chain(error)) {
    const text = link instanceof Error ? link.message || link.name : String(link);
    const line = (text.split("\n")[0] ?? "").trim();
    if (line !== "" && !parts.some((part) => part.includes(line))) parts.push(line);
  }
  const code = errorCode(error);
  const joined = parts.join(": ");
  const text = redactUrlsIn(code !== undefined && !joined.includes(code) ? `${code}: ${joined}` : joined);
  return text.length > maxChars ? `${text.slice(0, maxChars - 3)}...` : text;
}
