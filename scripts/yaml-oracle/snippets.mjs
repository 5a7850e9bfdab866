// The YAML snippets whose Kubernetes reading is recorded in test/fixtures/kubernetes-yaml/oracle.json:
// plain scalars in every spelling where YAML 1.1 (go-yaml v2) and YAML 1.2 could differ, as
// values and as keys, merge keys, tags, aliases (alias bombs among them) and directives.
// Prints them as a JSON list.

const scalars = [
  // Words: YAML 1.1 booleans and nulls in their spellings, and near misses.
  "y", "Y", "yes", "Yes", "YES", "yEs", "n", "N", "no", "No", "NO", "nO",
  "true", "True", "TRUE", "tRue", "false", "False", "FALSE",
  "on", "On", "ON", "oN", "off", "Off", "OFF", "oFF",
  "~", "null", "Null", "NULL", "nULL", "", "<<", "=",
  // Integers: octal, hex, binary, signs, underscores, bounds.
  "0", "-0", "+0", "00", "07", "08", "09", "0755", "-0755", "+0755", "0_755", "0o17", "0O17", "0o", "0o8",
  "0x1F", "0X1F", "0x1f", "-0x1F", "+0x1F", "0x", "0x_1F", "0_x1F", "0xG",
  "0b101", "0B101", "-0b101", "0b-101", "0b+101", "0b2", "0b", "-0b",
  "1_000", "1__0", "_1", "1_", "12", "-12", "+12", "123abc",
  "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
  "18446744073709551615", "18446744073709551616", "100000000000000000000",
  "0x7FFFFFFFFFFFFFFF", "0x8000000000000000", "-0x8000000000000000", "-0x8000000000000001",
  "0xFFFFFFFFFFFFFFFF", "0x1FFFFFFFFFFFFFFFF", "-0x1FFFFFFFFFFFFFFFF", "0x1FFFFFFFFFFFFFFFFzz", "9007199254740993",
  // Floats.
  "1e3", "1E3", "1e+3", "1e-3", "1.5", "1.", "-1.5", "+1.5", ".5", "-.5", "+.5", ".5e3", ".1_0", ".1_e5", "._1", ".e3", ".",
  "1e400", "-1e400", ".5e400", "1e-400", "0.0", "-0.0", "1_0.5", "08.5", "1e3_0", "1e21", "3.14159", "0.1",
  ".inf", ".Inf", ".INF", "+.inf", "-.inf", "-.Inf", "inf", "+inf", "Infinity", ".nan", ".NaN", ".NAN", "nan", "NaN",
  // Times and things that look numeric.
  "1:30", "190:20:30", "12:30:00", "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10", "1.2.3", "+", "-foo", "10.0.0.0/8", "8080:80",
];

const snippets = [];
for (const s of scalars) snippets.push(`v: ${s}`);
for (const s of scalars) if (s !== "" && s !== "<<") snippets.push(`${s}: v`);
for (const s of ["0755", "on", "1e3", "~"]) snippets.push(`v: '${s}'`, `v: "${s}"`, `v: !!str ${s}`);

snippets.push(
  // Explicit tags.
  "v: !!int '12'", "v: !!float 1", "v: !!bool yes", "v: !!null ''", "v: !!binary aGVsbG8=", "v: !!timestamp 2001-12-14", "v: !custom x", "v: ! 12",
  // Keys that are not plain text.
  "[a]: v", "{a: 1}: v", "? [a, b]\n: v", "&k key: v\nother: *k",
  // Duplicate keys.
  "a: 1\na: 2",
  // Aliases.
  "a: &a 0755\nb: *a", "a: &a {x: 1}\nb: *a", "b: *missing",
  // Merge keys: a map, an alias, a list; explicit keys before and after; nesting; errors.
  "x:\n  <<: {a: 1, b: 2}\n  b: 3",
  "base: &b {a: 1, b: 2}\nx:\n  <<: *b\n  b: 3",
  "base: &b {a: 1}\nx:\n  a: 2\n  <<: *b",
  "base: &b {a: 1}\nx:\n  c: 2\n  <<: *b",
  "a: &a {k: 1}\nb: &b {k: 2, j: 3}\nx:\n  <<: [*a, *b]",
  "a: &a {k: 1}\nb: &b {k: 2, j: 3}\nx:\n  <<: [*b, *a]\n  j: 4",
  "a: &a {k: 1}\nb: &b {<<: *a, j: 2}\nx: {<<: *b, m: 3}",
  "x: {<<: {a: 1}, b: 2}",
  "x: {'<<': {a: 1}}",
  "x: {\"<<\": {a: 1}}",
  "a: &a 1\nx:\n  <<: *a",
  "x:\n  <<: [1]",
  "x:\n  <<: 5",
  "x:\n  <<:\n",
  "a: &a [1, 2]\nx:\n  <<: *a",
  "a: &a {k: 1}\nb: &b {k: 2}\nx:\n  <<: *a\n  <<: *b",
  "a: &a {k: 1}\nl: &l [*a]\nx:\n  <<: *l",
  "a: &a {k: 1}\nx:\n  <<: [[*a]]",
  "x:\n  <<: {a: 0755, b: on}",
  "v: <<",
  // An alias inside the node it names; merge keys and lists of aliases that multiply at each level.
  "a: &a [1, *a]",
  "a: &a {b: *a}",
  Array.from({ length: 29 }, (_, i) => `m${i + 1}: &m${i + 1} {<<: [*m${i}, *m${i}], k${i + 1}: 1}`).reduce((text, line) => `${text}\n${line}`, "m0: &m0 {a: 1}"),
  Array.from({ length: 8 }, (_, i) => `l${i + 1}: &l${i + 1} [${Array.from({ length: 10 }, () => `*l${i}`).join(", ")}]`).reduce((text, line) => `${text}\n${line}`, "l0: &l0 [a, a, a, a, a, a, a, a, a, a]"),
  // Keys that differ in YAML and are one field name in JSON.
  'x: {1: a, "1": b}',
  // Directives. kubectl splits a file at its --- lines before go-yaml reads it, so of
  // "%YAML 1.1\n---\na: 1" go-yaml gets "%YAML 1.1\n" alone.
  "%YAML 1.1\n---\na: 1",
  "%YAML 1.2\n---\na: 1",
  "%YAML 1.1\n",
  "%TAG !e! tag:example.com,2000:\n---\na: 1",
  "%TAG !e! tag:example.com,2000:\n",
  "list:\n  - &item {name: a, port: 80}\n  - <<: *item\n    name: b",
  // A NetworkPolicy whose peer comes from a merge key.
  [
    "apiVersion: networking.k8s.io/v1",
    "kind: NetworkPolicy",
    "metadata: {name: api, namespace: shop}",
    "spec:",
    "  podSelector: {matchLabels: {app: api}}",
    "  ingress:",
    "    - from:",
    "        - &web",
    "          podSelector: {matchLabels: {app: web}}",
    "        - <<: *web",
    "          namespaceSelector: {matchLabels: {team: ops}}",
    "      ports: [{port: 0x1F90}]",
  ].join("\n"),
);

process.stdout.write(`${JSON.stringify(snippets)}\n`);
