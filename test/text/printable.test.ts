// Text from outside made printable: every control character shown as an escape.
import { describe, expect, it } from "vitest";
import { printable, printableJson } from "../../agent/text/printable.js";

describe("printable", () => {
  it("escapes newlines, carriage returns, tabs, ANSI escapes, DEL and C1 controls", () => {
    expect(printable("a\nb\rc\td\u001b[31me\u007ff\u0085g\u0000")).toBe("a\\nb\\rc\\td\\x1b[31me\\x7ff\\x85g\\x00");
  });
  it("escapes Unicode line separators, bidirectional overrides and isolates, and the byte-order mark", () => {
    expect(printable("a\u2028b\u2029c\u202ed\u2066e\u200ff\ufeffg")).toBe("a\\u2028b\\u2029c\\u202ed\\u2066e\\u200ff\\ufeffg");
  });
  it("leaves ordinary text, accents and emoji alone", () => {
    expect(printable("shop/web-0 -> café 🚀 [x] \\n")).toBe("shop/web-0 -> café 🚀 [x] \\n");
  });
  it("printableJson gives lines with no control character that JSON reads back as the same value", () => {
    const value = { name: "a\nb\u001b[2J\u007f\u0085\u2028\u202e\u061c\ufeff", list: [1, "\t"] };
    const lines = printableJson(value);
    for (const line of lines) expect(line).toBe(printable(line));
    expect(lines).toEqual(["{", '  "name": "a\\nb\\u001b[2J\\u007f\\u0085\\u2028\\u202e\\u061c\\ufeff",', '  "list": [', "    1,", '    "\\t"', "  ]", "}"]);
    expect(JSON.parse(lines.join("\n"))).toEqual(value);
  });
});
