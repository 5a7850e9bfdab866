// node:http, taken from the runtime without its ES module facade. An `import ... from
// "node:http"` makes Node build that facade by reading every export, and three of them
// (WebSocket, CloseEvent, MessageEvent) are lazy getters that load Node's bundled undici:
// about 13 MiB of resident memory the agent never uses (docs/benchmarks.md, "Memory, part
// by part"). process.getBuiltinModule returns the module itself and reads nothing.
// Types still come from "node:http" (`import type`); this is the one place it is loaded.

const http = process.getBuiltinModule("node:http");

export const createServer = http.createServer;
export const request = http.request;
