// Text from outside, made safe to print. A name, a path or a value read from a manifest can
// hold control characters: printed raw, a newline forges a line of a CI log (a fake summary,
// "0 failed"), an ANSI escape rewrites the terminal, a bidirectional override reorders what
// the reader sees. Every such character is shown as an escape instead (\n, \x1b, \u202e):
// C0 and C1 controls, DEL, the Unicode line and paragraph separators, the bidirectional
// marks, embeddings, overrides and isolates, and the byte-order mark.
//
// Leaf module: no imports from the rest of the agent.

const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;
const UNPRINTABLE_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;

const NAMED: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function escape(character: string): string {
  const named = NAMED[character];
  if (named) return named;
  const code = character.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
}

/** One line of text with every control character escaped (newlines included). */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, escape);
}

/** Text of several lines: the same, except that its newlines stay newlines. */
export function printableLines(text: string): string {
  return text.replace(UNPRINTABLE_BUT_NEWLINE, escape);
}
