// JSON.stringify(value, null, indent), paced, for documents that grow with the edges (the
// results: one entry per edge). Arrays and plain objects near the top are walked here, pausing
// between members (the loop is given back when a slice is spent, the writer waits while its
// output is full); each member below MAX_DEPTH is written by JSON.stringify itself. The text
// is exactly JSON.stringify's (tests hold it to that); a value JSON.stringify gives nothing
// for (undefined, a function) is written as null.

import type { TextSink } from "../text/sink.js";

/** Depth to which containers are walked here; deeper ones are one JSON.stringify each (an entry). */
const MAX_DEPTH = 3;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return (prototype === Object.prototype || prototype === null) && typeof (value as { toJSON?: unknown }).toJSON !== "function";
}

/** What JSON.stringify leaves out of an object (and writes as null in an array). */
function isOmitted(value: unknown): boolean {
  return value === undefined || typeof value === "function" || typeof value === "symbol";
}

export async function writeJson(value: unknown, out: TextSink, indent = 2): Promise<void> {
  const pad = (depth: number) => " ".repeat(indent * depth);

  const write = async (item: unknown, depth: number): Promise<void> => {
    if (depth < MAX_DEPTH && Array.isArray(item) && item.length > 0) {
      out.write("[");
      for (let i = 0; i < item.length; i++) {
        await out.pause();
        out.write(`${i === 0 ? "" : ","}\n${pad(depth + 1)}`);
        const element: unknown = item[i];
        if (isOmitted(element)) out.write("null");
        else await write(element, depth + 1);
      }
      out.write(`\n${pad(depth)}]`);
      return;
    }
    if (depth < MAX_DEPTH && isPlainObject(item)) {
      const keys = Object.keys(item).filter((key) => !isOmitted(item[key]));
      if (keys.length > 0) {
        out.write("{");
        for (const [i, key] of keys.entries()) {
          await out.pause();
          out.write(`${i === 0 ? "" : ","}\n${pad(depth + 1)}${JSON.stringify(key)}: `);
          await write(item[key], depth + 1);
        }
        out.write(`\n${pad(depth)}}`);
        return;
      }
    }
    // JSON strings hold no raw newline: every newline is the layout's, indented one level per depth.
    const text = JSON.stringify(item, null, indent) ?? "null";
    out.write(depth === 0 ? text : text.replaceAll("\n", `\n${pad(depth)}`));
  };

  await write(value, 0);
}
