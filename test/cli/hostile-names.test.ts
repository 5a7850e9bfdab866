// Names from manifests that try to forge output, through the real CLI: a pod whose name holds
// a newline and a fake summary line, ANSI escapes, a file name with a newline. The API server
// would refuse such names, so check does (exit 2); and whatever it prints, the name included,
// holds no raw control character and no line that a CI log could take for a summary.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../support/cli.js";
import { KubeApiServer } from "../support/kube-api-server.js";

const FORGED = "2 edges: 2 ok, 0 with a signal";
/** YAML double-quoted: a newline, the forged summary, an ANSI clear-screen and a colour. */
const HOSTILE = `"web\\n${FORGED}\\e[2J\\e[32m"`;
// Any C0/C1 control character but the newline that ends each line, the Unicode separators and
// the bidirectional controls.
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "nc-hostile-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Nothing printed holds a control character, and no line is (or starts as) the forged one. */
function clean(run: { stdout: string; stderr: string }): void {
  for (const text of [run.stdout, run.stderr]) {
    expect(text).not.toMatch(CONTROL);
    for (const line of text.split("\n")) expect(line.startsWith(FORGED) || line.startsWith("\\e")).toBe(false);
  }
}

const POD = (name: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: shop, labels: {app: web}}
spec: {containers: [{name: web}]}
`;

describe("hostile names in manifests", () => {
  it("a pod name with a newline, a fake summary and ANSI escapes: refused as the API server would, printed escaped on one line", async () => {
    const path = write("pod.yaml", POD(HOSTILE));
    const run = await runCli(["check", "--manifests", path]);
    clean(run);
    expect(run.stderr.split("\n").filter((line) => line !== "")).toEqual([
      `${path}:3:12: metadata.name: "web\\n${FORGED}\\u001b[2J\\u001b[32m" is not a valid Pod name: it must be a DNS subdomain: at most 253 characters, lower-case letters, digits, "-" and ".", starting and ending with a letter or digit`,
    ]);
    expect(run.code).toBe(2);
  });

  it("a namespace and a Service name the API server would refuse", async () => {
    const path = write(
      "names.yaml",
      "apiVersion: v1\nkind: Service\nmetadata: {name: 2api, namespace: Shop}\nspec: {ports: [{port: 80}]}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop.eu}\n",
    );
    const run = await runCli(["check", "--manifests", path]);
    expect(run.stderr.split("\n").filter((line) => line !== "")).toEqual([
      `${path}:3:12: metadata.name: "2api" is not a valid Service name: it must be a DNS-1035 label: at most 63 characters, lower-case letters, digits and "-", starting with a letter and ending with a letter or digit`,
      `${path}:3:24: metadata.namespace: "Shop" is not a valid namespace name: it must be a DNS label: at most 63 characters, lower-case letters, digits and "-", starting and ending with a letter or digit`,
      `${path}:8:12: metadata.name: "shop.eu" is not a valid Namespace name: it must be a DNS label: at most 63 characters, lower-case letters, digits and "-", starting and ending with a letter or digit`,
    ]);
    expect(run.code).toBe(2);
  });

  it("a manifest file whose name holds a newline and an escape: its errors print the name escaped", async () => {
    const path = write(`bad\n${FORGED}\u001b[2J.yaml`, "kind: [\n");
    const run = await runCli(["check", "--manifests", path]);
    clean(run);
    expect(run.stderr).toContain(`bad\\n${FORGED}\\x1b[2J.yaml:`);
    expect(run.code).toBe(2);
  });

  it("an object of a kind the engine skips keeps its name, printed escaped in --verbose notes", async () => {
    const path = write("skipped.yaml", `${POD("web-0")}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${HOSTILE}, namespace: shop}\n`);
    const run = await runCli(["check", "--manifests", path, "--verbose"]);
    clean(run);
    expect(run.stderr).toContain(`note: ${path}:6: ConfigMap web\\n${FORGED}\\x1b[2J\\x1b[32m skipped (not used by the policy engine)`);
    expect(run.code).toBe(0);
  });

  it("a query naming a pod with a newline is refused with the text escaped", async () => {
    const manifests = write("ok.yaml", POD("web-0"));
    const queries = write("queries.yaml", `queries:\n  - {from: "shop/web-0\\n${FORGED}", to: shop/web-0, port: 80}\n`);
    const run = await runCli(["check", "--manifests", manifests, "--queries", queries]);
    clean(run);
    expect(run.stderr.trim()).toBe(`${queries}:2:6: queries[0].from: no pod shop/web-0\\n${FORGED} in the manifests`);
    expect(run.code).toBe(2);
  });

  it("a query whose pod reference ends in a newline still resolves, and is printed escaped", async () => {
    const manifests = write("ok2.yaml", POD("web-0"));
    const queries = write("queries2.yaml", `queries:\n  - {from: "shop/web-0\\n", to: "shop/web-0\\r", port: 80}\n`);
    const run = await runCli(["check", "--manifests", manifests, "--queries", queries]);
    clean(run);
    expect(run.stdout).toContain("#1 shop/web-0\\n -> shop/web-0\\r 80/TCP");
  });

  it("an unknown option holding an escape sequence is echoed escaped in the usage error", async () => {
    const run = await runCli(["check", "--colour\u001b[2J"]);
    clean(run);
    expect(run.stderr).toContain("--colour\\x1b[2J");
    expect(run.code).toBe(2);
  });

  // Kinds the engine does not evaluate are not validated (a CRD's names are its own), so their
  // names reach the warning as written.
  const UNEVALUATED = `apiVersion: "cilium.io/v2\\e"
kind: CiliumNetworkPolicy
metadata: {name: ${HOSTILE}, namespace: "shop\\u202e\\u0085"}
spec: {}
`;

  it("a policy of a kind not evaluated, with a newline in its name, kind and apiVersion: each warning stays one line", async () => {
    const manifests = write("cilium.yaml", `${POD("web-0")}---\n${UNEVALUATED}`);
    const run = await runCli(["check", "--manifests", manifests]);
    clean(run);
    expect(run.stderr.split("\n").filter((line) => line !== "")).toEqual([
      `warning: ${manifests}:6: CiliumNetworkPolicy shop\\u202e\\x85/web\\n${FORGED}\\x1b[2J\\x1b[32m (cilium.io/v2\\x1b) is not evaluated`,
      expect.stringMatching(/^warning: 1 policy of kinds netcanary does not evaluate/),
    ]);
    expect(run.code).toBe(0);
  });

  it("the same names in --output json: valid JSON that gives the names back, with no control character printed", async () => {
    const manifests = write("cilium2.yaml", `${POD("web-0")}---\n${UNEVALUATED}`);
    const run = await runCli(["check", "--manifests", manifests, "--output", "json"]);
    clean(run);
    const report = JSON.parse(run.stdout) as { unevaluated: { name: string; kind: string }[] };
    expect(report.unevaluated.map((p) => [p.kind, p.name])).toEqual([["CiliumNetworkPolicy", `shop\u202e\u0085/web\n${FORGED}\u001b[2J\u001b[32m`]]);
  });

  it("an API server's error message with a carriage return and escapes is quoted escaped by once", async () => {
    const server = await KubeApiServer.start();
    try {
      server.failWith({ resource: "pods" }, 500, { message: `etcd down\r${FORGED}\u001b[2J\u202e` });
      const kc = write("api.kubeconfig", server.kubeconfigYaml());
      const config = write("once.yaml", "sources: [{name: self, self: true}]\nprobes: []\n");
      const env = { ...process.env, KUBERNETES_SERVICE_HOST: "", KUBECONFIG: "", NODE_NAME: "node-a" };
      const run = await runCli(["once", "--config", config, "--kubeconfig", kc, "--sync-timeout", "1"], { env });
      clean(run);
      expect(run.stderr).toContain(`(pods on node node-a: GET /api/v1/pods: 500 etcd down\\r${FORGED}\\x1b[2J\\u202e)`);
      expect(run.code).toBe(3);
    } finally {
      await server.stop();
    }
  });
});
