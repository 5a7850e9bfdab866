// The Grafana interpolation the dashboard system test relies on: variable formatting as the
// Prometheus data source does it, built-ins, and refusing unknown variables.
import { describe, expect, it } from "vitest";
import { formatVariable, interpolate, parseLabelValues, referencedVariables, regexEscape, type Variable } from "../support/dashboards.js";

const builtins = { interval: "1s", rateInterval: "4s", rangeSeconds: 90 };
const multi: Variable = { name: "node", type: "query", multi: true, includeAll: true, allValue: ".*" };

describe("Grafana variable interpolation", () => {
  it("escapes regex metacharacters twice: once for the regex, once for the PromQL string", () => {
    expect(regexEscape("10.0.0.1:9714")).toBe("10\\\\.0\\\\.0\\\\.1:9714");
    expect(regexEscape("a|b(c)")).toBe("a\\\\|b\\\\(c\\\\)");
    expect(regexEscape("node-a")).toBe("node-a");
  });

  it("formats All, one value and several values as Grafana does", () => {
    expect(formatVariable(multi, { all: true, options: ["a", "b"] })).toBe(".*");
    expect(formatVariable({ ...multi, allValue: null }, { all: true, options: ["a.b", "c"] })).toBe("(a\\\\.b|c)");
    expect(formatVariable({ ...multi, allValue: null }, { all: true, options: [] })).toBe("()"); // matches no instance
    expect(formatVariable(multi, { all: false, values: ["x.y"] })).toBe("x\\\\.y");
    // Neither multi nor All: used as it is, for an exact match.
    expect(formatVariable({ name: "node", type: "query" }, { all: false, values: ["node.a"] })).toBe("node.a");
  });

  it("replaces $var, ${var}, [[var]] and the built-ins, and refuses a variable it does not know", () => {
    const values = new Map([["node", "n1"]]);
    expect(interpolate('rate(x{node=~"$node", b="${node}", c="[[node]]"}[$__rate_interval]) + increase(y[$__range])', values, builtins)).toBe(
      'rate(x{node=~"n1", b="n1", c="n1"}[4s]) + increase(y[90s])',
    );
    expect(() => interpolate('x{node=~"$nod"}', values, builtins)).toThrow(/unknown variable \$nod/);
    expect(referencedVariables('x{a=~"$cluster", b="${node}"}[$__rate_interval]')).toEqual(["cluster", "node"]);
  });

  it("reads label_values(selector, label) queries", () => {
    expect(parseLabelValues('label_values(netcanary_edge_status{cluster=~"$cluster"}, source_node)')).toEqual({ match: 'netcanary_edge_status{cluster=~"$cluster"}', label: "source_node" });
    expect(() => parseLabelValues("query_result(up)")).toThrow(/label_values/);
  });
});
