// The objects in front of pods, read from manifests as the API server would take them: a
// Service's exposure fields, Ingress (networking.k8s.io/v1) and Gateway API routes, each
// problem named with file, line and field; look-alike kinds of other APIs are left alone.
import { describe, expect, it } from "vitest";
import { snapshotFromDocuments } from "../../agent/cluster/manifests.js";
import { readService } from "../../agent/cluster/objects.js";
import { IssueList } from "../../agent/documents/fields.js";
import { formatInputError, parseDocuments } from "../../agent/documents/located.js";

function load(text: string) {
  const parsed = parseDocuments(text, "m.yaml");
  expect(parsed.errors).toEqual([]);
  const loaded = snapshotFromDocuments(parsed.documents);
  return { ...loaded, messages: loaded.errors.map(formatInputError) };
}

describe("Services: the fields that decide the way in", () => {
  it("reads type, externalTrafficPolicy and AWS target annotations into the Service's exposure", () => {
    const { snapshot, messages } = load(`apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  annotations:
    service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: ip
    service.beta.kubernetes.io/aws-load-balancer-target-group-attributes: deregistration_delay.timeout_seconds=30,preserve_client_ip.enabled=true
spec: {type: LoadBalancer, externalTrafficPolicy: Local, selector: {app: web}, ports: [{port: 443}]}
---
apiVersion: v1
kind: Service
metadata: {name: internal, namespace: shop}
spec: {selector: {app: web}, ports: [{port: 80}]}
`);
    expect(messages).toEqual([]);
    expect(snapshot.services.map((s) => [s.name, s.exposure])).toEqual([
      ["web", { type: "LoadBalancer", externalTrafficPolicy: "Local", externalIps: false, loadBalancer: { provider: "aws", targets: "ip", preserveClientIp: true } }],
      ["internal", undefined],
    ]);
  });

  it("refuses a type, a policy and a node port the API server refuses, at their lines", () => {
    expect(
      load(`apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  type: Nodeport
  externalTrafficPolicy: local
  ports: [{port: 443, nodePort: 70000}]
---
apiVersion: v1
kind: Service
metadata: {name: internal, namespace: shop}
spec:
  externalTrafficPolicy: Local
  ports: [{port: 80}]
`).messages,
    ).toEqual([
      'm.yaml:5:3: spec.type: must be one of ClusterIP, NodePort, LoadBalancer, ExternalName, got "Nodeport"',
      'm.yaml:6:3: spec.externalTrafficPolicy: must be Cluster or Local, got "local"',
      "m.yaml:7:23: spec.ports[0].nodePort: 70000 is not a valid port (1-65535)",
      "m.yaml:13:3: spec.externalTrafficPolicy: may only be set on NodePort and LoadBalancer Services and with externalIPs",
    ]);
  });
});

describe("Services from the API", () => {
  it("are read leniently: a type of a later release or a stray policy does not make the Service unusable", () => {
    const issues = new IssueList();
    const service = readService(
      { apiVersion: "v1", kind: "Service", metadata: { name: "web", namespace: "shop" }, spec: { type: "FutureType", externalTrafficPolicy: "Local", selector: { app: "web" }, ports: [{ port: 443 }] } },
      "shop",
      "web",
      issues,
    );
    expect(issues.issues).toEqual([]);
    expect(service?.exposure).toBeUndefined();
    expect(service?.ports.map((p) => p.port)).toEqual([443]);
  });
});

describe("Ingress and Gateway API routes", () => {
  it("reads an Ingress's hosts and backend Services, and a route's Gateways and backends", () => {
    const { snapshot, messages } = load(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop}
spec:
  ingressClassName: nginx
  defaultBackend: {service: {name: fallback, port: {number: 80}}}
  rules:
    - host: shop.example.com
      http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {name: https}}}}]}
    - http: {paths: [{path: /static, pathType: Prefix, backend: {resource: {apiGroup: k8s.example.com, kind: Bucket, name: static}}}]}
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: db, namespace: shop}
spec:
  parentRefs: [{name: tcp-edge, namespace: edge, sectionName: pg}, {group: example.com, kind: Mesh, name: m}]
  rules: [{backendRefs: [{name: db, port: 5432}, {name: other, namespace: billing, port: 5432}, {kind: ServiceImport, group: multicluster.x-k8s.io, name: far}]}]
`);
    expect(messages).toEqual([]);
    expect(snapshot.inbound?.ingresses.map(({ definedAt: _, ...i }) => i)).toEqual([
      { namespace: "shop", name: "web", className: "nginx", hosts: ["shop.example.com", "*"], backends: [{ namespace: "shop", name: "fallback" }, { namespace: "shop", name: "web" }] },
    ]);
    expect(snapshot.inbound?.routes.map(({ definedAt: _, ...r }) => r)).toEqual([
      {
        kind: "TCPRoute",
        namespace: "shop",
        name: "db",
        hostnames: [],
        gateways: ["edge/tcp-edge"],
        backends: [
          { namespace: "shop", name: "db" },
          { namespace: "billing", name: "other" },
        ],
      },
    ]);
  });

  it("refuses misspelt and malformed fields with file, line and field", () => {
    expect(
      load(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop}
spec:
  rules:
    - host: shop.example.com
      http: {paths: [{path: /, backend: {servce: {name: web}}}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: shop}
spec:
  parentRefs: [{nmae: public}]
  rules: [{backendRefs: [{name: Web_1, port: 0}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: public, namespace: edge}
spec: {listeners: []}
`).messages,
    ).toEqual([
      'm.yaml:7:42: spec.rules[0].http.paths[0].backend.servce: unknown field (the API server refuses it); did you mean "service"?',
      "m.yaml:7:32: spec.rules[0].http.paths[0].backend.service: is required (or resource)",
      'm.yaml:13:17: spec.parentRefs[0].nmae: unknown field (the API server refuses it); did you mean "name"?',
      "m.yaml:13:16: spec.parentRefs[0].name: is required",
      expect.stringMatching(/^m\.yaml:14:27: spec\.rules\[0\]\.backendRefs\[0\]\.name: "Web_1" is not a valid Service name/),
      "m.yaml:14:40: spec.rules[0].backendRefs[0].port: must be a port number (1-65535), got number 0",
      "m.yaml:19:1: spec.gatewayClassName: is required",
    ]);
  });

  it("reports each list entry that is not an object at its line, and goes on to the entries after it, in order", () => {
    expect(
      load(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop}
spec:
  rules:
    - 7
    - http: {paths: [shop, {path: /, backend: {}}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: shop}
spec:
  parentRefs: [[public], {namespace: edge}]
  rules: [null, {backendRefs: [true, {name: api, port: 0}]}]
`).messages,
    ).toEqual([
      "m.yaml:6:7: spec.rules[0]: must be an object, got number 7",
      'm.yaml:7:22: spec.rules[1].http.paths[0]: must be an object, got string "shop"',
      "m.yaml:7:38: spec.rules[1].http.paths[1].backend.service: is required (or resource)",
      "m.yaml:13:16: spec.parentRefs[0]: must be an object, got a list",
      "m.yaml:13:26: spec.parentRefs[1].name: is required",
      "m.yaml:14:11: spec.rules[0]: must be an object, got null",
      "m.yaml:14:32: spec.rules[1].backendRefs[0]: must be an object, got boolean true",
      "m.yaml:14:50: spec.rules[1].backendRefs[1].port: must be a port number (1-65535), got number 0",
    ]);
  });

  it("leaves Istio's Gateway and a v1beta1 Ingress alone: another API, another shape", () => {
    const { snapshot, messages, skipped } = load(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: edge}
spec: {selector: {istio: ingressgateway}, servers: []}
---
apiVersion: networking.k8s.io/v1beta1
kind: Ingress
metadata: {name: old, namespace: shop}
spec: {backend: {serviceName: web, servicePort: 80}}
`);
    expect(messages).toEqual([]);
    expect(snapshot.inbound).toBeUndefined();
    expect(skipped).toEqual([
      "m.yaml:1: Gateway public skipped (not used by the policy engine)",
      "m.yaml:6: Ingress old skipped (not used by the policy engine)",
    ]);
  });
});
