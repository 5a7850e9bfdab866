/// <reference lib="dom" />
// The status page's script (served as /status.js, compiled by the agent's own build; no
// framework): it polls the agent's /api/v1/status, draws the edges as a source-by-target
// matrix coloured by status, opens a cell's explanation (its probes' /api/v1/results and
// /api/v1/status?probe=, for the observations) on a click or Enter, and shows what the
// verdicts rest on. The poll slows down when the agent is slow to answer or the page to draw. It draws the traffic map when the agent serves
// /api/v1/flows (judged, with staged verdicts, from /api/v1/flows?judged), and never waits for it. Everything from the agent is written as text (never
// as HTML): names come from the cluster. It only reads: no request it makes changes anything.

import type { Observation, StatusDocument, StatusEdge } from "../daemon/status-book.js";
import type { ResultEntry } from "../daemon/results.js";
import type { EdgeStatus } from "../verdicts/judge.js";
import type { ObservedFlow } from "../traffic/flow.js";

const POLL_MS = 2000;
/** The next poll waits at least this many times what the last one took (fetch and draw). */
const POLL_COST_FACTOR = 5;
/** Edges of one cell explained at once (a cell may hold thousands: one target, many probes). */
const MAX_DETAIL_EDGES = 20;
/** After a failed poll, wait this much longer each time, up to MAX_BACKOFF_MS. */
const MAX_BACKOFF_MS = 30_000;

/** Every status, worst first: a cell with several edges shows the worst. */
const STATUSES: readonly EdgeStatus[] = ["unexpected_block", "unexpected_allow", "intent_violation", "unexpected_path", "pending", "unknown", "ok"];

const LABELS: Readonly<Record<EdgeStatus, string>> = {
  ok: "ok",
  pending: "pending",
  unexpected_block: "unexpected block",
  unexpected_allow: "unexpected allow",
  intent_violation: "intent violation",
  unexpected_path: "path violation",
  unknown: "unknown",
};

interface Cell {
  readonly key: string;
  readonly source: string;
  readonly target: string;
  readonly edges: readonly StatusEdge[];
  readonly status: EdgeStatus;
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, className?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className !== undefined) node.className = className;
  return node;
}

function byId(id: string): HTMLElement {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page has no #${id}`);
  return node;
}

function worst(edges: readonly StatusEdge[]): EdgeStatus {
  let best = STATUSES.length - 1;
  for (const edge of edges) best = Math.min(best, STATUSES.indexOf(edge.status));
  return STATUSES[best] ?? "unknown";
}

/** "3 s", "4 min", "2 h", "5 d": how long ago (or how old), coarse. */
function age(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86_400) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} d`;
}

function since(iso: string, now: number): string {
  return `${age(Math.max(0, (now - Date.parse(iso)) / 1000))} ago (${iso})`;
}

function cellsOf(edges: readonly StatusEdge[]): { sources: string[]; targets: string[]; cells: Map<string, Cell> } {
  const grouped = new Map<string, StatusEdge[]>();
  for (const edge of edges) {
    const key = JSON.stringify([edge.source, edge.target]);
    const list = grouped.get(key) ?? [];
    list.push(edge);
    grouped.set(key, list);
  }
  const cells = new Map<string, Cell>();
  for (const [key, list] of grouped) {
    const first = list[0] as StatusEdge;
    cells.set(key, { key, source: first.source, target: first.target, edges: list, status: worst(list) });
  }
  const sorted = (values: Iterable<string>) => [...new Set(values)].sort();
  return { sources: sorted(edges.map((edge) => edge.source)), targets: sorted(edges.map((edge) => edge.target)), cells };
}

class StatusPage {
  private document: StatusDocument | undefined;
  /** The layout drawn (sources and targets): redrawn only when it changes, so focus stays. */
  private layout = "";
  private readonly buttons = new Map<string, HTMLButtonElement>();
  private selected: string | undefined;
  private failures = 0;
  /** Bumped per explanation request: an older answer arriving late is not drawn. */
  private detailRequest = 0;

  start(): void {
    this.drawLegend();
    void this.poll();
  }

  private async poll(): Promise<void> {
    const started = performance.now();
    try {
      const reply = await fetch("/api/v1/status", { cache: "no-store" });
      if (!reply.ok) throw new Error(`the agent answered ${reply.status}`);
      this.document = (await reply.json()) as StatusDocument;
      this.failures = 0;
      this.draw(this.document);
      // Awaited: what they cost counts in the poll's pace.
      if (this.selected !== undefined) await this.drawDetail(this.selected, false);
      if (this.document.endpoints?.includes("/api/v1/flows")) await this.drawFlows();
    } catch (error) {
      this.failures++;
      byId("summary").textContent = `Cannot reach the agent (${error instanceof Error ? error.message : String(error)}); trying again.`;
    }
    const cost = (performance.now() - started) * POLL_COST_FACTOR;
    const wait = Math.min(MAX_BACKOFF_MS, Math.max(cost, POLL_MS * 2 ** Math.min(4, this.failures)));
    setTimeout(() => void this.poll(), wait);
  }

  private drawLegend(): void {
    const legend = byId("legend");
    for (const status of STATUSES) legend.append(element("li", LABELS[status], `status-${status}`));
  }

  private draw(doc: StatusDocument): void {
    const counts = new Map<EdgeStatus, number>();
    for (const edge of doc.edges) counts.set(edge.status, (counts.get(edge.status) ?? 0) + 1);
    const parts = STATUSES.filter((status) => counts.has(status)).map((status) => `${counts.get(status)} ${LABELS[status]}`);
    byId("summary").textContent = `Node ${doc.node}: ${doc.edges.length} edges${parts.length > 0 ? ` (${parts.join(", ")})` : ""}; updated ${new Date(doc.generatedAt).toLocaleTimeString()}.`;
    this.drawMatrix(doc.edges);
    this.drawState(doc);
  }

  private drawMatrix(edges: readonly StatusEdge[]): void {
    const { sources, targets, cells } = cellsOf(edges);
    const layout = JSON.stringify([sources, targets, [...cells.keys()].sort()]);
    if (layout !== this.layout) this.buildMatrix(sources, targets, cells, layout);
    for (const cell of cells.values()) {
      const button = this.buttons.get(cell.key);
      if (button) this.fillCell(button, cell);
    }
  }

  private buildMatrix(sources: readonly string[], targets: readonly string[], cells: ReadonlyMap<string, Cell>, layout: string): void {
    const focused = document.activeElement instanceof HTMLButtonElement ? document.activeElement.dataset["key"] : undefined;
    this.layout = layout;
    this.buttons.clear();
    const matrix = byId("matrix");
    if (sources.length === 0) {
      matrix.replaceChildren(element("p", "No edges yet."));
      return;
    }
    const table = element("table");
    table.append(element("caption", "Edges from a source (row) to a target (column): the worst status, and the last reasons. Open a cell for its explanation.", "muted"));
    const head = element("tr");
    const corner = element("th", "source \\ target");
    corner.scope = "col";
    head.append(corner);
    for (const target of targets) {
      const th = element("th", target);
      th.scope = "col";
      head.append(th);
    }
    table.append(element("thead"));
    (table.tHead as HTMLTableSectionElement).append(head);
    const body = element("tbody");
    for (const source of sources) {
      const row = element("tr");
      const th = element("th", source);
      th.scope = "row";
      row.append(th);
      for (const target of targets) {
        const td = element("td");
        const cell = cells.get(JSON.stringify([source, target]));
        if (cell) {
          const button = element("button", undefined, "cell");
          button.type = "button";
          button.dataset["key"] = cell.key;
          button.addEventListener("click", () => void this.open(cell.key));
          this.buttons.set(cell.key, button);
          td.append(button);
        }
        row.append(td);
      }
      body.append(row);
    }
    table.append(body);
    matrix.replaceChildren(table);
    if (focused !== undefined) this.buttons.get(focused)?.focus();
  }

  private fillCell(button: HTMLButtonElement, cell: Cell): void {
    const reasons = [...new Set(cell.edges.map((edge) => edge.reason ?? "not probed yet"))].join(", ");
    button.className = `cell status-${cell.status}${cell.key === this.selected ? " selected" : ""}`;
    button.dataset["status"] = cell.status;
    button.setAttribute("aria-pressed", String(cell.key === this.selected));
    // The accessible name starts with the visible text (a speech user says what they see).
    button.setAttribute("aria-label", `${LABELS[cell.status]} ${reasons}: ${cell.source} to ${cell.target}, ${cell.edges.length} edge${cell.edges.length === 1 ? "" : "s"}`);
    const label = element("span", LABELS[cell.status]);
    const why = element("span", reasons, "why");
    button.replaceChildren(label, " ", why);
  }

  private async open(key: string): Promise<void> {
    const previous = this.selected;
    this.selected = key;
    for (const [other, button] of this.buttons) {
      if (other === previous || other === key) {
        button.classList.toggle("selected", other === key);
        button.setAttribute("aria-pressed", String(other === key));
      }
    }
    await this.drawDetail(key, true);
  }

  /** The explanation of the edges in a cell: their results (explanation, observation) and history. */
  private async drawDetail(key: string, moveFocus: boolean): Promise<void> {
    const doc = this.document;
    if (!doc) return;
    const inCell = doc.edges.filter((edge) => JSON.stringify([edge.source, edge.target]) === key);
    const edges = inCell.slice(0, MAX_DETAIL_EDGES);
    const request = ++this.detailRequest;
    const results = new Map<string, ResultEntry>();
    const histories = new Map<string, StatusEdge>();
    for (const probe of new Set(edges.map((edge) => edge.probe))) {
      const query = `?probe=${encodeURIComponent(probe)}`;
      try {
        const [explained, observed] = await Promise.all([fetch(`/api/v1/results${query}`, { cache: "no-store" }), fetch(`/api/v1/status${query}`, { cache: "no-store" })]);
        if (explained.ok) for (const entry of ((await explained.json()) as { results: ResultEntry[] }).results) results.set(entry.id, entry);
        if (observed.ok) for (const entry of ((await observed.json()) as StatusDocument).edges) histories.set(entry.id, entry);
      } catch {
        // Drawn with what there is; the next poll tries again.
      }
    }
    if (request !== this.detailRequest) return;
    const section = byId("detail");
    const [source, target] = JSON.parse(key) as [string, string];
    byId("detail-title").textContent = `${source} to ${target}`;
    const body = byId("detail-body");
    body.replaceChildren(...edges.map((edge) => this.edgeDetail(histories.get(edge.id) ?? edge, results.get(edge.id), Date.parse(doc.generatedAt))));
    if (inCell.length > edges.length) body.append(element("p", `And ${inCell.length - edges.length} more edges: /api/v1/results lists them all.`, "muted"));
    if (edges.length === 0) body.replaceChildren(element("p", "These edges are gone (the config or the cluster changed)."));
    section.hidden = false;
    if (moveFocus) byId("detail-title").focus();
  }

  private edgeDetail(edge: StatusEdge, result: ResultEntry | undefined, now: number): HTMLElement {
    const box = element("article", undefined, "edge");
    box.dataset["edge"] = edge.id;
    box.append(element("h3", `${edge.probe} (port ${edge.port}, ${edge.targetKind})`));
    const status = element("p");
    status.append(element("span", LABELS[edge.status], `status-${edge.status} badge`), ` since ${since(edge.since, now)}`);
    box.append(status);
    if (result) {
      const { policy } = result;
      box.append(element("p", `Policy: ${policy.verdict}${result.intent !== null ? `; declared intent: ${result.intent}` : ""}; judged against ${policy.expectedFrom ?? "nothing (no verdict, no intent)"}. ${policy.explanation.summary}`));
      const rules = element("p");
      rules.append(`Deciding rule, egress: `, element("code", policy.explanation.egressRule), `; ingress: `, element("code", policy.explanation.ingressRule), ` (none: isolated and no rule admits; not_isolated: no policy selects that side)`);
      box.append(rules);
      const lines = element("ul", undefined, "lines");
      lines.setAttribute("aria-label", "Explanation");
      for (const line of policy.explanation.lines) lines.append(element("li", line));
      box.append(lines);
      if (result.observed?.detail) box.append(element("p", `Last detail: ${result.observed.detail}`));
    } else {
      box.append(element("p", "Explanation not available right now.", "muted"));
    }
    box.append(this.observations(edge.observations ?? []));
    return box;
  }

  private observations(observations: readonly Observation[]): HTMLElement {
    if (observations.length === 0) return element("p", "Not probed yet.", "muted");
    const table = element("table");
    table.append(element("caption", "Last observations, newest first"));
    const head = element("tr");
    for (const title of ["when", "reason", "duration", "detail"]) {
      const th = element("th", title);
      th.scope = "col";
      head.append(th);
    }
    table.append(head);
    for (const observation of observations) {
      const row = element("tr");
      row.append(element("td", observation.at), element("td", observation.reason), element("td", `${(observation.durationSeconds * 1000).toFixed(1)} ms`), element("td", observation.detail ?? ""));
      table.append(row);
    }
    return table;
  }

  private drawState(doc: StatusDocument): void {
    const now = Date.parse(doc.generatedAt);
    const box = (title: string, ...content: (HTMLElement | string)[]) => {
      const section = element("section");
      section.append(element("h3", title), ...content);
      return section;
    };
    const list = (items: readonly (HTMLElement | string)[]) => {
      const ul = element("ul", undefined, "lines");
      for (const item of items) {
        const li = element("li");
        li.append(item);
        ul.append(li);
      }
      return ul;
    };
    const flagged = (text: string, bad: boolean) => element("span", text, bad ? "bad" : undefined);

    const cluster = box(
      "Cluster sync",
      flagged(doc.cluster.ready ? "Ready." : `Not ready: ${doc.cluster.reason ?? "starting"}.`, !doc.cluster.ready),
      doc.cluster.resources.length === 0
        ? element("p", "No cluster API: the state comes from files, or there is none.", "muted")
        : list(doc.cluster.resources.map((r) => flagged(`${r.resource}: ${r.synced ? "synced" : "not synced"}${r.objects !== null ? `, ${r.objects} objects` : ""}${r.ageSeconds !== null ? `, current ${age(r.ageSeconds)} ago` : ""}`, !r.synced))),
    );
    const config = box(
      "Config",
      element("p", `${doc.config.file ?? "built-in configuration"}; last applied ${since(doc.config.loadedAt, now)}.`),
      ...(doc.config.refusedAt !== null
        ? [flagged(`The last reload was refused ${since(doc.config.refusedAt, now)}; the last good config keeps running:`, true), list(doc.config.errors.map((e) => `${e.file}${e.line !== null ? `:${e.line}` : ""}${e.field !== null ? ` ${e.field}` : ""}: ${e.message}`))]
        : []),
    );
    const feeds = box(
      "Zscaler feeds",
      doc.feeds.length === 0
        ? element("p", "No Zscaler feeds configured.", "muted")
        : list(doc.feeds.map((f) => flagged(`${f.cloud || "(all clouds)"} ${f.feed}: ${f.ranges ?? "no"} ranges${f.ageSeconds !== null ? `, fetched ${age(f.ageSeconds)} ago` : ", never fetched"}${f.lastRefusal ? `; last refusal ${f.lastRefusal.reason} at ${f.lastRefusal.at}` : ""}`, f.ageSeconds === null))),
    );
    const h = doc.health;
    const health = box(
      "The agent's health",
      list([
        flagged(`Event-loop delay ${h.eventLoopDelayMs} ms now, ${h.eventLoopDelayWorstMs} ms at worst lately (starved over ${h.starvationThresholdMs} ms)`, h.eventLoopDelayWorstMs > h.starvationThresholdMs),
        flagged(`${h.skippedRuns} runs skipped (the previous one still going)`, h.skippedRuns > 0),
        flagged(`${h.invalidSamples} invalid samples (the agent's own fault, not judged)`, h.invalidSamples > 0),
      ]),
    );
    byId("state").replaceChildren(cluster, config, feeds, health);
  }

  /**
   * The traffic map, when the agent serves one (otherwise the section stays hidden): as judged
   * at the agent's last sample (/api/v1/flows?judged: each flow's verdict, and with staged
   * policies, which would deny it), or as recorded until it has been judged.
   */
  private async drawFlows(): Promise<void> {
    let flows: readonly DrawnFlow[];
    let staged = false;
    try {
      let reply = await fetch("/api/v1/flows?judged", { cache: "no-store" });
      if (reply.status === 404) reply = await fetch("/api/v1/flows", { cache: "no-store" });
      if (!reply.ok) return;
      const body = (await reply.json()) as { flows?: unknown; staged?: unknown };
      const list = Array.isArray(body.flows) ? body.flows : [];
      flows = list.slice(0, MAX_FLOWS_DRAWN) as DrawnFlow[];
      staged = typeof body.staged === "object" && body.staged !== null;
    } catch {
      return;
    }
    const table = element("table");
    table.append(element("caption", `Observed flows (up to ${MAX_FLOWS_DRAWN})`));
    const head = element("tr");
    for (const title of ["direction", "local", "peer", "port", "verdict", ...(staged ? ["staged: would deny"] : [])]) {
      const th = element("th", title);
      th.scope = "col";
      head.append(th);
    }
    table.append(head);
    for (const flow of flows) {
      const row = element("tr");
      row.className = "flow";
      row.append(
        element("td", String(flow.direction)),
        element("td", flow.local ? `${flow.local.namespace}/${flow.local.kind}/${flow.local.name}` : "?"),
        element("td", peerName(flow.peer)),
        element("td", `${flow.port}/${flow.protocol}`),
        element("td", verdictText(flow)),
        ...(staged ? [element("td", Array.isArray(flow.wouldDeny) && flow.wouldDeny.length > 0 ? flow.wouldDeny.map(String).join(", ") : "-")] : []),
      );
      table.append(row);
    }
    byId("flows-body").replaceChildren(flows.length === 0 ? element("p", "No flows observed yet.") : table);
    byId("flows").hidden = false;
  }
}

/** Flows drawn at most (the agent's map can hold thousands; the page is for a glance). */
const MAX_FLOWS_DRAWN = 200;

/** A flow as served: recorded (ObservedFlow), or judged (traffic/report.ts FlowReportEntry adds these). */
type DrawnFlow = ObservedFlow & { readonly verdict?: unknown; readonly unexpectedAllow?: unknown; readonly possibleBlock?: unknown; readonly wouldDeny?: unknown };

function verdictText(flow: DrawnFlow): string {
  if (typeof flow.verdict !== "string") return "not judged yet";
  if (flow.unexpectedAllow === true) return `${flow.verdict}, seen: not enforced`;
  if (flow.possibleBlock === true) return `${flow.verdict}, unanswered: blocked?`;
  return flow.verdict;
}

function peerName(peer: ObservedFlow["peer"] | undefined): string {
  if (!peer) return "?";
  switch (peer.kind) {
    case "workload":
      return `${peer.workload.namespace}/${peer.workload.kind}/${peer.workload.name}`;
    case "service":
      return `service ${peer.namespace}/${peer.name}`;
    case "node":
      return `node ${peer.name}`;
    case "zscaler":
      return `Zscaler ${peer.cloud}${peer.city ? ` ${peer.city}` : ""} ${peer.range}`;
    case "external":
      return peer.name ? `${peer.name} (${peer.range})` : peer.range;
    case "unnamed":
      return `${peer.address} (${peer.reason})`;
  }
}

new StatusPage().start();
