// Rendering the kustomize manifests and checking objects against the Kubernetes schemas.
//
// Two schema sources, because neither alone catches everything:
// - kubernetes-models (and @kubernetes-models/prometheus-operator for the CRDs): JSON Schema
//   validation of types, formats, enums and required fields, per kind. Its schemas admit
//   unknown fields, as the OpenAPI documents they are generated from do.
// - the field lists of @kubernetes/client-node's generated models (same OpenAPI): every field
//   of a built-in kind must be one the API knows, as `kubectl apply --validate=strict` and the
//   API server's strict field validation require. A typo such as readOnlyRootFileSystem is
//   caught here, and would otherwise be dropped silently by a lenient client.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { PodMonitor, PrometheusRule, ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { DaemonSet } from "kubernetes-models/apps/v1";
import { ConfigMap, Namespace, Service, ServiceAccount } from "kubernetes-models/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { ClusterRole, ClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1";
import { parseAllDocuments } from "yaml";

export const repoRoot = join(import.meta.dirname, "..", "..");
export const manifestsDir = join(repoRoot, "manifests");

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** Every kustomization a user may apply, relative to manifests/. */
export const KUSTOMIZATIONS = ["base", "variants/self-only", "variants/pod-mode", "examples/pod-mode-monitored"] as const;
/** Components, rendered on top of the base (a component cannot be built alone). */
export const COMPONENTS = ["components/prometheus-operator", "components/grafana", "components/inbound-dataplane"] as const;

export function parseYamlStream(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`YAML: ${doc.errors.map((e) => e.message).join("; ")}`);
      return doc.toJS() as KubeObject | null;
    })
    .filter((object): object is KubeObject => object !== null);
}

/** `kubectl kustomize <dir>` (offline), parsed. */
export function kustomize(dir: string): KubeObject[] {
  const text = execFileSync("kubectl", ["kustomize", dir], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 });
  return parseYamlStream(text);
}

const cache = new Map<string, KubeObject[]>();

/** A kustomization under manifests/, rendered once per test file. */
export function render(path: string): KubeObject[] {
  let objects = cache.get(path);
  if (!objects) {
    objects = kustomize(join(manifestsDir, path));
    cache.set(path, objects);
  }
  return structuredClone(objects);
}

/**
 * An overlay in a temporary directory: resources and components are paths under manifests/,
 * `extra` more kustomization fields (YAML text). Kustomize takes relative paths only.
 */
export function renderOverlay(resources: readonly string[], components: readonly string[] = [], extra = ""): KubeObject[] {
  const dir = mkdtempSync(join(tmpdir(), "netcanary-overlay-"));
  try {
    const rel = (path: string) => JSON.stringify(relative(dir, join(manifestsDir, path)));
    writeFileSync(
      join(dir, "kustomization.yaml"),
      [
        "apiVersion: kustomize.config.k8s.io/v1beta1",
        "kind: Kustomization",
        `resources: [${resources.map(rel).join(", ")}]`,
        `components: [${components.map(rel).join(", ")}]`,
        extra,
      ].join("\n"),
    );
    return kustomize(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function find(objects: readonly KubeObject[], kind: string, name?: string): KubeObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ""}, found ${found.length}`);
  return found[0] as KubeObject;
}

// ---------------------------------------------------------------------------------------
// Schema validation

interface Validating {
  validate(): void;
}
type ModelClass = new (data: never) => Validating;

/** The kinds these manifests may contain; any other kind is an error until it is added here. */
const MODELS: Record<string, ModelClass> = {
  "v1/Namespace": Namespace as unknown as ModelClass,
  "v1/ServiceAccount": ServiceAccount as unknown as ModelClass,
  "v1/ConfigMap": ConfigMap as unknown as ModelClass,
  "v1/Service": Service as unknown as ModelClass,
  "apps/v1/DaemonSet": DaemonSet as unknown as ModelClass,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy as unknown as ModelClass,
  "rbac.authorization.k8s.io/v1/ClusterRole": ClusterRole as unknown as ModelClass,
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": ClusterRoleBinding as unknown as ModelClass,
  "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor as unknown as ModelClass,
  "monitoring.coreos.com/v1/PodMonitor": PodMonitor as unknown as ModelClass,
  "monitoring.coreos.com/v1/PrometheusRule": PrometheusRule as unknown as ModelClass,
};

/** client-node model class names of the built-in kinds (for the unknown-field check). */
const CLIENT_MODELS: Record<string, string> = {
  "v1/Namespace": "V1Namespace",
  "v1/ServiceAccount": "V1ServiceAccount",
  "v1/ConfigMap": "V1ConfigMap",
  "v1/Service": "V1Service",
  "apps/v1/DaemonSet": "V1DaemonSet",
  "networking.k8s.io/v1/NetworkPolicy": "V1NetworkPolicy",
  "rbac.authorization.k8s.io/v1/ClusterRole": "V1ClusterRole",
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": "V1ClusterRoleBinding",
};

interface Attribute {
  readonly baseName: string;
  readonly type: string;
}

const LEAF_TYPES = new Set(["string", "number", "boolean", "Date", "IntOrString", "any", "object"]);

function attributesOf(type: string): readonly Attribute[] | undefined {
  const model = (k8s as unknown as Record<string, { getAttributeTypeMap?: () => Attribute[] } | undefined>)[type];
  return model?.getAttributeTypeMap?.();
}

/** Fields the API does not know, as JSON paths ("spec.template.spec.containers[0].resource"). */
export function unknownFields(value: unknown, type: string, path = ""): string[] {
  if (value === null || value === undefined || LEAF_TYPES.has(type)) return [];
  const array = /^Array<(.+)>$/.exec(type);
  if (array) return Array.isArray(value) ? value.flatMap((item, i) => unknownFields(item, array[1] as string, `${path}[${i}]`)) : [];
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) return typeof value === "object" ? Object.entries(value).flatMap(([key, item]) => unknownFields(item, map[1] as string, `${path}.${key}`)) : [];
  const attributes = attributesOf(type);
  if (!attributes) {
    // Enums are generated as string types without a model; anything structured must have one.
    if (typeof value !== "object") return [];
    throw new Error(`no model for ${type} at ${path || "the root"}`);
  }
  if (typeof value !== "object" || Array.isArray(value)) return [];
  const problems: string[] = [];
  for (const [key, item] of Object.entries(value)) {
    const attribute = attributes.find((a) => a.baseName === key);
    const at = path === "" ? key : `${path}.${key}`;
    if (!attribute) problems.push(at);
    else problems.push(...unknownFields(item, attribute.type, at));
  }
  return problems;
}

/** Problems of one object against the schemas; empty when it is valid. */
export function schemaProblems(object: KubeObject): string[] {
  const key = `${object.apiVersion}/${object.kind}`;
  const Model = MODELS[key];
  if (!Model) return [`${key}: no schema known for this kind (add it to test/manifests/render.ts)`];
  const problems: string[] = [];
  try {
    new Model(object as never).validate();
  } catch (error) {
    problems.push(error instanceof Error ? error.message : String(error));
  }
  const clientModel = CLIENT_MODELS[key];
  if (clientModel) for (const field of unknownFields(object, clientModel)) problems.push(`${field}: unknown field`);
  return problems;
}

export function objectName(object: KubeObject): string {
  return `${object.kind} ${object.metadata.namespace ? `${object.metadata.namespace}/` : ""}${object.metadata.name}`;
}

// ---------------------------------------------------------------------------------------
// The DaemonSet's pod

export interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>;
  ports?: Array<{ name?: string; containerPort: number; protocol?: string }>;
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    runAsGroup?: number;
    privileged?: boolean;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { add?: string[]; drop?: string[] };
    seccompProfile?: { type: string };
  };
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean; subPath?: string }>;
}

export interface PodSpec {
  hostPID?: boolean;
  hostNetwork?: boolean;
  hostIPC?: boolean;
  serviceAccountName?: string;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; runAsGroup?: number; seccompProfile?: { type: string } };
  tolerations?: Array<{ operator?: string; key?: string; effect?: string }>;
  containers: Container[];
  initContainers?: Container[];
  volumes?: Array<{ name: string; configMap?: { name: string }; emptyDir?: { sizeLimit?: string; medium?: string }; hostPath?: unknown }>;
}

export function podSpec(objects: readonly KubeObject[]): PodSpec {
  const daemonSet = find(objects, "DaemonSet", "netcanary") as unknown as { spec: { template: { spec: PodSpec } } };
  return daemonSet.spec.template.spec;
}

export function agentContainer(spec: PodSpec): Container {
  const found = spec.containers.filter((c) => c.name === "agent");
  if (found.length !== 1) throw new Error(`expected one container named agent, found ${found.length}`);
  return found[0] as Container;
}

/** Kubernetes quantities to bytes or cores ("256Mi", "1", "100m"). */
export function quantity(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|k|M|G)?$/.exec(text);
  if (!match) throw new Error(`not a quantity this test reads: ${text}`);
  const factor: Record<string, number> = { m: 1e-3, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, k: 1e3, M: 1e6, G: 1e9 };
  return Number(match[1]) * (match[2] ? (factor[match[2]] as number) : 1);
}

/** The value of --name=value or --name value in an argument list. */
export function flag(args: readonly string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === `--${name}`) return args[i + 1];
    if (arg.startsWith(`--${name}=`)) return arg.slice(name.length + 3);
  }
  return undefined;
}
