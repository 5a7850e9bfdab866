// Plain-text columns for terminal output, printed a row at a time: a table of thousands of
// rows is never one string. Cells hold names from outside: each is one line, its control
// characters escaped before the columns are measured. A cell that lists names lists a few
// and counts the rest (listed()), so that no cell grows with the size of the input.

import { printable } from "../text/printable.js";

/** Names shown in one cell before the rest are counted. */
const NAMES_PER_CELL = 3;

/** "a, b, c and 7,996 more": at most `limit` names, then how many are left out. */
export function listed(names: readonly string[], limit: number = NAMES_PER_CELL): string {
  if (names.length <= limit) return names.join(", ");
  return `${names.slice(0, limit).join(", ")} and ${(names.length - limit).toLocaleString("en-US")} more`;
}

/** Prints the header line and each row, columns padded to their widest cell. */
export function printTable(print: (line: string) => void, headers: readonly string[], cellRows: readonly (readonly string[])[]): void {
  const rows = cellRows.map((row) => row.map(printable));
  const widths = headers.map((header) => header.length);
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  print(line(headers));
  for (const row of rows) print(line(row));
}
