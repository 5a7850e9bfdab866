// What @kubernetes/client-node's config.js takes from its generated index: two exports.
// The index itself loads a thousand generated modules (about 80 MiB of memory) that the
// agent never uses; see kube-client.ts.
export { createConfiguration } from "@kubernetes/client-node/dist/gen/configuration.js";
export { ServerConfiguration } from "@kubernetes/client-node/dist/gen/servers.js";
