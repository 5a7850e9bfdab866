// The visible text of an HTML page, read defensively: for pages netcanary recognises by
// their words (Zscaler's check page, its block page). Only what a reader would see counts:
// scripts, styles, comments and templates are dropped, so a script that merely mentions a
// sentence cannot decide what the page says. One forward scan with indexOf and sticky
// regular expressions (no backtracking over the page), so any input costs linear time; an
// unterminated comment or script swallows the rest, as a browser would.
//
// Leaf module: no imports from the rest of the agent.

export interface HtmlText {
  /** Visible text, one line per block element, whitespace collapsed, empty lines dropped. */
  readonly lines: readonly string[];
  /** The first <title>'s text, whitespace collapsed; undefined when there is none. */
  readonly title: string | undefined;
}

/** Elements whose content is not shown (raw text up to their end tag). */
const HIDDEN = new Set(["script", "style", "template", "noscript", "iframe", "object", "svg"]);
/** Elements that start a new line of text. */
const BLOCK = new Set([
  "address", "article", "aside", "blockquote", "body", "br", "dd", "div", "dl", "dt", "fieldset", "figcaption",
  "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "head", "header", "hr", "html", "li", "main",
  "nav", "ol", "p", "pre", "section", "table", "tbody", "td", "tfoot", "th", "thead", "title", "tr", "ul",
]);
/** Elements inside a run of text: no separator, so "<b>Paris</b> IV" reads "Paris IV". */
const INLINE = new Set(["a", "abbr", "b", "bdi", "bdo", "cite", "code", "em", "font", "i", "kbd", "mark", "q", "s", "small", "span", "strong", "sub", "sup", "u", "var"]);

const TAG = /<(\/?)([a-zA-Z][a-zA-Z0-9:-]{0,63})/y;
const ENTITY = /&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});/g;
const NAMED_ENTITIES: Readonly<Record<string, string>> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: " " };

/** Decodes the character references a page like these uses; unknown names stay as written. */
export function decodeEntities(text: string): string {
  return text.replace(ENTITY, (whole, body: string) => {
    if (body.startsWith("#")) {
      const code = body[1] === "x" || body[1] === "X" ? Number.parseInt(body.slice(2), 16) : Number.parseInt(body.slice(1), 10);
      const valid = code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff);
      return valid ? String.fromCodePoint(code) : "\ufffd";
    }
    return NAMED_ENTITIES[body.toLowerCase()] ?? whole;
  });
}

/** Index just after the end tag `</name ...>` at or after `from`, or the text's length. */
function afterEndTag(html: string, name: string, from: number): { contentEnd: number; next: number } {
  // `\s*`, not `[^>]*`: each candidate scans only its own whitespace, so the search stays linear.
  const end = new RegExp(`</${name}\\s*>`, "gi");
  end.lastIndex = from;
  const found = end.exec(html);
  return found === null ? { contentEnd: html.length, next: html.length } : { contentEnd: found.index, next: found.index + found[0].length };
}

/** Source line breaks are only whitespace: lines come from block elements. */
function spaced(text: string): string {
  return text.replace(/\s+/g, " ");
}

function collapse(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

/** The visible text of `html`, at most `maxChars` characters of it (the page is read whole). */
export function htmlText(html: string, maxChars = 1 << 20): HtmlText {
  const parts: string[] = [];
  let title: string | undefined;
  let i = 0;
  const n = html.length;
  while (i < n) {
    const lt = html.indexOf("<", i);
    if (lt < 0) {
      parts.push(spaced(html.slice(i)));
      break;
    }
    parts.push(spaced(html.slice(i, lt)));
    if (html.startsWith("<!--", lt)) {
      const end = html.indexOf("-->", lt + 4);
      i = end < 0 ? n : end + 3;
      parts.push(" ");
      continue;
    }
    const next = html[lt + 1];
    if (next === "!" || next === "?") {
      // <!DOCTYPE ...>, <![CDATA[...]]>, <?xml ...?>: not text.
      const end = html.indexOf(">", lt);
      i = end < 0 ? n : end + 1;
      continue;
    }
    TAG.lastIndex = lt;
    const tag = TAG.exec(html);
    if (tag === null) {
      parts.push("<");
      i = lt + 1;
      continue;
    }
    const closing = tag[1] === "/";
    const name = (tag[2] ?? "").toLowerCase();
    const gt = html.indexOf(">", lt + tag[0].length);
    if (gt < 0) break;
    i = gt + 1;
    if (!closing && HIDDEN.has(name)) {
      i = afterEndTag(html, name, i).next;
      parts.push(" ");
      continue;
    }
    if (!closing && name === "title") {
      const { contentEnd, next: after } = afterEndTag(html, name, i);
      const text = collapse(decodeEntities(html.slice(i, contentEnd)));
      title ??= text;
      parts.push("\n", spaced(html.slice(i, contentEnd)), "\n");
      i = after;
      continue;
    }
    parts.push(BLOCK.has(name) ? "\n" : INLINE.has(name) ? "" : " ");
  }
  const text = decodeEntities(parts.join("")).slice(0, maxChars);
  const lines = text
    .split("\n")
    .map(collapse)
    .filter((line) => line !== "");
  return { lines, title };
}
