// Text from outside, made safe to print. A name, a path or a value read from a manifest can
// hold control characters: printed raw, a newline forges a line of a CI log (a fake summary,
// "0 failed"), an ANSI escape rewrites the terminal, a bidirectional override reorders what
// the reader sees. Every such character is shown as an escape instead (\n, \x1b, \u202e):
// C0 and C1 controls, DEL, the Unicode line and paragraph separators, the bidirectional
// marks, embeddings, overrides and isolates, and the byte-order mark.
//
// Leaf module: no imports from the rest of the agent.

const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;

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

/**
 * A value as indented JSON, one printable line per element of the array: the characters that
 * JSON.stringify leaves raw inside strings (DEL, C1 controls, the Unicode separators and
 * bidirectional marks) written as \u escapes, which JSON reads back as the same characters.
 * (JSON.stringify escapes C0 controls itself, so the only raw newlines are its own.)
 */
export function printableJson(value: unknown): string[] {
  const text = JSON.stringify(value, null, 2).replace(UNPRINTABLE, (character) => (character === "\n" ? character : `\\u${character.charCodeAt(0).toString(16).padStart(4, "0")}`));
  return text.split("\n");
}
