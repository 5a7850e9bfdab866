// Credentials out of URLs before they are printed or logged. A kubeconfig's server URL, a
// Zscaler mirror's base URL or a proxy URL may carry a user and password ("user:pw@host"), or a
// token in its query string; errors from the HTTP clients quote such URLs whole. Every URL the
// agent or the CLI shows goes through redactUrl (one URL) or redactUrlsIn (free text, such as
// an error message). Nothing is parsed with URL(): the text may be no valid URL at all, and
// URL() would change what it does not redact.
//
// - userinfo: everything up to the last "@" before the query becomes "***@" (a password may hold
//   "/" or "@" unencoded; a path with an "@" loses its start, which is the safe side);
// - the query: every parameter's value becomes "***" ("?token=***&limit=***"), a parameter
//   without "=" becomes "***";
// - the fragment: "#***".
// Scheme, host, port and path stay, so the message still says where.

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
/** A URL inside free text: a scheme, "://", then up to whitespace, a quote or an angle bracket. */
const URL_IN_TEXT = /[a-z][a-z0-9+.-]*:\/\/[^\s"'`<>]+/gi;
/** Punctuation that ends a sentence or a parenthesis rather than the URL. */
const TRAILING = /[),.;:!\]]+$/;
const HIDDEN = "***";

/** The URL with its userinfo, query values and fragment hidden; other text is returned as it is. */
export function redactUrl(url: string): string {
  const scheme = SCHEME.exec(url);
  if (!scheme) return url;
  const start = scheme[0].length;
  const queryAt = indexOrEnd(url, "?", start);
  const fragmentAt = indexOrEnd(url, "#", start);
  const beforeQuery = Math.min(queryAt, fragmentAt);
  const at = url.lastIndexOf("@", beforeQuery - 1);
  const authorityAndPath = at >= start ? `${HIDDEN}@${url.slice(at + 1, beforeQuery)}` : url.slice(start, beforeQuery);
  let rest = "";
  if (queryAt < fragmentAt) rest += `?${redactQuery(url.slice(queryAt + 1, fragmentAt))}`;
  if (fragmentAt < url.length) rest += fragmentAt + 1 < url.length ? `#${HIDDEN}` : "#";
  return `${scheme[0]}${authorityAndPath}${rest}`;
}

/** Every URL inside `text` (an error message, a log line) with redactUrl applied. */
export function redactUrlsIn(text: string): string {
  return text.replace(URL_IN_TEXT, (found) => {
    const trailing = TRAILING.exec(found)?.[0] ?? "";
    return redactUrl(found.slice(0, found.length - trailing.length)) + trailing;
  });
}

function redactQuery(query: string): string {
  return query
    .split("&")
    .map((parameter) => {
      if (parameter === "") return "";
      const equals = parameter.indexOf("=");
      return equals < 0 ? HIDDEN : `${parameter.slice(0, equals)}=${HIDDEN}`;
    })
    .join("&");
}

function indexOrEnd(text: string, search: string, from: number): number {
  const index = text.indexOf(search, from);
  return index < 0 ? text.length : index;
}
