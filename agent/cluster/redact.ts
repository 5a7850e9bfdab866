// Addresses of the API server as they may be shown: in logs, in a command's output. A
// kubeconfig may carry credentials in the server URL (https://user:password@host), and a
// client's error message may repeat that URL; neither may reach a log or a terminal.

/** The text with every URL's user:password@ part removed. */
export function withoutUserinfo(text: string): string {
  return text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*@/gi, "$1");
}

/** The API server URL without credentials, query or fragment: "https://10.0.0.1:6443". */
export function serverForDisplay(server: string): string {
  try {
    const url = new URL(server);
    if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error("not an API server URL");
    url.username = "";
    url.password = "";
    url.search = "";
    url.hash = "";
    return url.toString().replace(/\/$/, "");
  } catch {
    // Not an http(s) URL ("user:pw@host" parses with the scheme "user:"): still nothing before an "@", nor a query.
    return server.replace(/[^\s/?#@]*@/g, "").replace(/[?#].*$/, "");
  }
}
