// The agent's staged policies read from a directory as a mounted ConfigMap presents it (files
// that are symbolic links into a "..data" directory swapped on update), followed for changes:
// a set that loads replaces the last, a bad one is refused with file, line and field and the
// last good set stays, an empty directory stages nothing.
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../../agent/log/log.js";
import { StagedSource } from "../../agent/traffic/staged-source.js";
import { waitFor } from "../support/wait.js";

const policy = (name: string) => `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ${name}, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Egress]
`;

describe("staged policies followed from a directory", () => {
  let dir: string;
  let source: StagedSource | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "nc-staged-"));
  });
  afterEach(async () => {
    source?.stop();
    source = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  /** A ConfigMap's volume: the files link into ..data, which links to a timestamped directory swapped whole. */
  async function configMap(version: number, files: Record<string, string>): Promise<void> {
    const data = join(dir, `..v${version}`);
    await mkdir(data);
    for (const [name, text] of Object.entries(files)) await writeFile(join(data, name), text);
    await symlink(`..v${version}`, join(dir, "..data_tmp"));
    await rename(join(dir, "..data_tmp"), join(dir, "..data"));
    for (const name of Object.keys(files)) await symlink(join("..data", name), join(dir, name)).catch(() => undefined);
  }

  const names = () => source?.state().policies.map((p) => `${p.namespace}/${p.name}`);

  it("loads the set, follows an update, refuses a bad one at its file, line and field keeping the last good, and takes a fixed one", async () => {
    await configMap(1, { "staged.yaml": policy("deny-egress") });
    source = new StagedSource(dir, createLogger("silent"));
    await source.start(50);
    expect(names()).toEqual(["shop/deny-egress"]);
    expect(source.state().errors).toEqual([]);

    await configMap(2, { "staged.yaml": policy("deny-egress") + "---\n" + policy("web-egress") });
    await waitFor(() => names()?.length === 2, 5000, "the updated set");
    expect(names()).toEqual(["shop/deny-egress", "shop/web-egress"]);

    await configMap(3, { "staged.yaml": policy("deny-egress").replace("policyTypes: [Egress]", "policyTypes: [Sideways]") });
    await waitFor(() => (source?.state().errorCount ?? 0) > 0, 5000, "the bad set refused");
    expect(names()).toEqual(["shop/deny-egress", "shop/web-egress"]);
    expect(source.state().errors.join("\n")).toMatch(/staged\.yaml:6:\d+: spec\.policyTypes\[0\]/);

    await configMap(4, { "staged.yaml": policy("web-egress") });
    await waitFor(() => source?.state().errorCount === 0, 5000, "the fixed set");
    expect(names()).toEqual(["shop/web-egress"]);
  });

  it("refuses anything but NetworkPolicies in the set, and stages nothing from an empty directory", async () => {
    await writeFile(join(dir, "pod.yaml"), "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\nspec: {containers: [{name: c, image: x}]}\n");
    source = new StagedSource(dir, createLogger("silent"));
    await source.start(0);
    expect(names()).toEqual([]);
    expect(source.state().errors.join("\n")).toContain("a staged set holds NetworkPolicies only");

    source.stop();
    await rm(join(dir, "pod.yaml"));
    source = new StagedSource(dir, createLogger("silent"));
    await source.start(0);
    expect(source.state()).toEqual({ policies: [], errors: [], errorCount: 0 });
  });

  it("reports a directory that is not there, staging nothing", async () => {
    source = new StagedSource(join(dir, "missing"), createLogger("silent"));
    await source.start(0);
    expect(names()).toEqual([]);
    expect(source.state().errors[0]).toMatch(/missing: cannot read/);
  });
});
