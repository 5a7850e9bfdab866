// node:http, taken from the runtime without its ES module facade. An `import ... from
// "node:http"` makes Node build that facade by reading every export, and three of them
// (WebSocket, CloseEvent, MessageEvent) are lazy getters that load Node's bundled undici:
// about 3 MiB of the agent's resident memory, 13 MiB in a bare process, for what the agent
// never uses (docs/benchmarks.md, "Memory, part by part"). process.getBuiltinModule returns
// the module itself and reads nothing. Types still come from "node:http" (`import type`).
//
// The Kubernetes client's ES modules and agent-base (one of its proxy agents) import
// node:http too: in live mode cluster/kube-client.ts maps those imports here, so this
// module exports everything node:http does but those three (a test holds the list to
// Node's). globalAgent and maxHeaderSize are read once, when this module loads.

const http = process.getBuiltinModule("node:http");

export default http;
export const {
  _connectionListener,
  METHODS,
  STATUS_CODES,
  Agent,
  ClientRequest,
  IncomingMessage,
  OutgoingMessage,
  Server,
  ServerResponse,
  createServer,
  validateHeaderName,
  validateHeaderValue,
  get,
  request,
  setMaxIdleHTTPParsers,
  setGlobalProxyFromEnv,
  maxHeaderSize,
  globalAgent,
} = http as typeof http & { _connectionListener: unknown; setGlobalProxyFromEnv: unknown };
