// "Did you mean ...?": the known word nearest to a mistyped option or subcommand. Pure.

/** Edit distance (insertions, deletions, substitutions, swaps of neighbours), bounded work: both words are short. */
export function editDistance(a: string, b: string): number {
  if (a.length > 100 || b.length > 100) return Math.max(a.length, b.length);
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number) => rows[i]?.[j] ?? Number.POSITIVE_INFINITY;
  for (let i = 1; i <= a.length; i++) {
    const row = rows[i] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      row[j] = best;
    }
  }
  return at(a.length, b.length);
}

/**
 * The known word the typed one most likely meant: the only one it is a prefix of, else the
 * nearest within a third of its length (at least 2 edits). undefined when nothing is close.
 */
export function nearest(typed: string, known: readonly string[]): string | undefined {
  const candidates = known.filter((word) => word !== typed);
  const extending = candidates.filter((word) => typed.length >= 3 && word.startsWith(typed));
  if (extending.length === 1) return extending[0];
  const limit = Math.max(2, Math.floor(typed.length / 3));
  let best: { word: string; distance: number } | undefined;
  for (const word of candidates) {
    const distance = editDistance(typed.toLowerCase(), word.toLowerCase());
    if (distance <= limit && (best === undefined || distance < best.distance)) best = { word, distance };
  }
  return best?.word;
}

/** ' (did you mean "check"?)' for a word, " (did you mean --queries?)" for an option; nothing without a guess. */
export function suggestion(guess: string | undefined, as: "word" | "option" = "word"): string {
  if (guess === undefined) return "";
  return as === "option" ? ` (did you mean --${guess}?)` : ` (did you mean "${guess}"?)`;
}
