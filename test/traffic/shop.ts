// The "shop" cluster the traffic judge tests share: web -> api:8080 allowed by both sides'
// policies, api's Service on port 80, web's egress to a partner range on 443. With
// `payments: true` the payments namespace is labelled team=pay and admitted into api too.
import { cluster, deployment, namespace, netpol } from "../policy/helpers.js";

export const apiService = JSON.stringify({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "api", namespace: "shop" },
  spec: { clusterIP: "10.96.0.20", selector: { app: "api" }, ports: [{ port: 80, targetPort: 8080 }] },
});

export function shopCluster({ payments = false }: { readonly payments?: boolean } = {}) {
  const from = payments ? "[{podSelector: {matchLabels: {app: web}}}, {namespaceSelector: {matchLabels: {team: pay}}}]" : "[{podSelector: {matchLabels: {app: web}}}]";
  return cluster(
    namespace("shop"),
    payments ? namespace("payments", { team: "pay" }) : namespace("payments"),
    deployment("shop/api", { labels: { app: "api" }, ports: [{ port: 8080, name: "http" }] }),
    apiService,
    netpol("shop/api-ingress", `
    podSelector: {matchLabels: {app: api}}
    policyTypes: [Ingress]
    ingress:
      - from: ${from}
        ports: [{port: 8080}]
  `),
    netpol("shop/web-egress", `
    podSelector: {matchLabels: {app: web}}
    policyTypes: [Egress]
    egress:
      - to: [{podSelector: {matchLabels: {app: api}}}]
        ports: [{port: 8080}]
      - to: [{ipBlock: {cidr: 203.0.113.0/24, except: [203.0.113.128/25]}}]
        ports: [{port: 443}]
  `),
  );
}
