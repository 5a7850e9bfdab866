// The Grafana dashboards in dashboards/, read the way Grafana reads them: panels (rows and
// the panels nested in collapsed rows), their Prometheus targets, the templating variables,
// and the interpolation Grafana applies to a query before it reaches Prometheus ($var and
// ${var}, regex-escaped multi-value and All values, $__rate_interval, $__interval, $__range).

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const dashboardsDir = join(import.meta.dirname, "..", "..", "dashboards");

export interface GridPos {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

export interface DatasourceRef {
  readonly type?: string;
  readonly uid?: string;
}

export interface Target {
  readonly refId?: string;
  readonly expr?: string;
  readonly instant?: boolean;
  readonly range?: boolean;
  readonly format?: string;
  readonly legendFormat?: string;
  readonly datasource?: DatasourceRef;
}

export interface Panel {
  readonly id?: number;
  readonly type?: string;
  readonly title?: string;
  readonly gridPos?: GridPos;
  readonly datasource?: DatasourceRef | null;
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
  readonly collapsed?: boolean;
}

export interface Variable {
  readonly name: string;
  readonly type: string;
  readonly label?: string;
  readonly query?: string | { readonly query?: string };
  readonly definition?: string;
  readonly datasource?: DatasourceRef | null;
  readonly multi?: boolean;
  readonly includeAll?: boolean;
  readonly allValue?: string | null;
  readonly hide?: number;
  readonly refresh?: number;
  readonly current?: { readonly text?: unknown; readonly value?: unknown };
}

export interface Dashboard {
  readonly title: string;
  readonly uid: string;
  readonly schemaVersion: number;
  readonly version: number;
  readonly tags?: readonly string[];
  readonly time?: { readonly from: string; readonly to: string };
  readonly refresh?: string;
  readonly templating: { readonly list: readonly Variable[] };
  readonly panels: readonly Panel[];
}

export interface DashboardFile {
  readonly file: string;
  readonly dashboard: Dashboard;
}

/** Every *.json in dashboards/, parsed. */
export function loadDashboards(dir = dashboardsDir): DashboardFile[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith(".json"))
    .sort()
    .map((file) => ({ file, dashboard: JSON.parse(readFileSync(join(dir, file), "utf8")) as Dashboard }));
}

/** Top-level panels and rows, then the panels inside (collapsed) rows. */
export function allPanels(dashboard: Dashboard): Panel[] {
  const found: Panel[] = [];
  for (const panel of dashboard.panels) {
    found.push(panel);
    for (const nested of panel.panels ?? []) found.push(nested);
  }
  return found;
}

/** Panels that show data (rows excluded). */
export function dataPanels(dashboard: Dashboard): Panel[] {
  return allPanels(dashboard).filter((panel) => panel.type !== "row");
}

export interface PanelQuery {
  readonly panel: string;
  readonly panelType: string;
  readonly refId: string;
  readonly expr: string;
  /** An instant query (tables, stats, bar gauges); otherwise a range query. */
  readonly instant: boolean;
}

export function panelQueries(dashboard: Dashboard): PanelQuery[] {
  return dataPanels(dashboard).flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      panel: panel.title ?? `panel ${panel.id}`,
      panelType: panel.type ?? "?",
      refId: target.refId ?? "?",
      expr: target.expr ?? "",
      instant: target.instant === true && target.range !== true,
    })),
  );
}

/** The query text of a query variable (Grafana stores a string or an object). */
export function variableQuery(variable: Variable): string {
  const query = variable.query;
  if (typeof query === "string") return query;
  return query?.query ?? variable.definition ?? "";
}

/** label_values(<series selector>, <label>), the Prometheus variable query the dashboards use. */
export function parseLabelValues(query: string): { readonly match: string; readonly label: string } {
  const parsed = /^\s*label_values\(\s*(.+?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$/s.exec(query);
  if (!parsed) throw new Error(`not a label_values(selector, label) query: ${query}`);
  return { match: parsed[1] as string, label: parsed[2] as string };
}

/** What a variable is set to: the All option, or chosen values. */
export type Selection = { readonly all: true; readonly options: readonly string[] } | { readonly all: false; readonly values: readonly string[] };

/** Grafana's Prometheus escaping of a value used inside a regex matcher (prometheusSpecialRegexEscape). */
export function regexEscape(value: string): string {
  return value.replace(/\\/g, "\\\\\\\\").replace(/[$^*{}[\]'+?.()|]/g, "\\\\$&");
}

/** The text Grafana puts in place of $name for a Prometheus query (interpolateQueryExpr). */
export function formatVariable(variable: Variable, selection: Selection): string {
  if (selection.all) {
    if (variable.allValue !== undefined && variable.allValue !== null && variable.allValue !== "") return variable.allValue;
    return formatValues(variable, selection.options);
  }
  return formatValues(variable, selection.values);
}

function formatValues(variable: Variable, values: readonly string[]): string {
  if (!variable.multi && !variable.includeAll) {
    // Neither multi nor All: the value goes in as it is (only \ and ' escaped).
    return (values[0] ?? "").replace(/\\/g, "\\\\").replace(/'/g, "\\\\'");
  }
  const escaped = values.map(regexEscape);
  return escaped.length === 1 ? (escaped[0] as string) : `(${escaped.join("|")})`;
}

export interface Builtins {
  /** $__rate_interval, e.g. "4s". */
  readonly rateInterval: string;
  /** $__interval, e.g. "1s". */
  readonly interval: string;
  /** $__range, e.g. "60s". */
  readonly rangeSeconds: number;
}

/**
 * Replaces $name, ${name} and [[name]] (custom variables and Grafana's built-ins). Throws on a
 * variable it does not know, so a typo in a dashboard never reaches Prometheus as "$nmespace".
 */
export function interpolate(expr: string, values: ReadonlyMap<string, string>, builtins: Builtins): string {
  const known = new Map<string, string>([
    ["__rate_interval", builtins.rateInterval],
    ["__interval", builtins.interval],
    ["__range", `${builtins.rangeSeconds}s`],
    ["__range_s", String(builtins.rangeSeconds)],
    ["__range_ms", String(builtins.rangeSeconds * 1000)],
    ...values,
  ]);
  return expr.replace(/\$\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?\}|\[\[([a-zA-Z_][a-zA-Z0-9_]*)\]\]|\$([a-zA-Z_][a-zA-Z0-9_]*)/g, (whole, braced?: string, bracketed?: string, bare?: string) => {
    const name = (braced ?? bracketed ?? bare) as string;
    const value = known.get(name);
    if (value === undefined) throw new Error(`unknown variable ${whole} in: ${expr}`);
    return value;
  });
}

/** Names of the variables an expression refers to ($name, ${name}, [[name]]), built-ins excluded. */
export function referencedVariables(expr: string): string[] {
  const names = new Set<string>();
  for (const match of expr.matchAll(/\$\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?\}|\[\[([a-zA-Z_][a-zA-Z0-9_]*)\]\]|\$([a-zA-Z_][a-zA-Z0-9_]*)/g)) {
    const name = (match[1] ?? match[2] ?? match[3]) as string;
    if (!name.startsWith("__")) names.add(name);
  }
  return [...names];
}
