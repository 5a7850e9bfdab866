// The `http:` block: a URL alone, or any address kind of the `tcp:` block with port and path;
// the request's settings resolved to the prober's, and every bad field located
// (file:line:col: field: why).
import { describe, expect, it } from "vitest";
import { edgeSpecOf } from "../../agent/config/model.js";
import { concreteTargets } from "../../agent/targets/edges.js";
import { CONFIG_FILE as FILE, errors, load } from "../support/config-text.js";


/** One probe named "web" from the agent's pod, its http block on line 6. */
function withHttp(http: string): string {
  return `sources:\n  - {name: self, self: true}\nprobes:\n  - name: web\n    sources: [self]\n    http: ${http}\n`;
}

function onlyProbe(text: string) {
  const probe = load(text).probes[0];
  if (probe === undefined) throw new Error("no probe");
  return probe;
}

describe("http: the address", () => {
  it("a URL alone: its host is a host address with the URL's port, its path and query the request's, defaults for the rest", () => {
    const probe = onlyProbe(withHttp("{url: 'https://www.example.com/health?full=1'}"));
    expect(edgeSpecOf(probe.target)).toEqual({
      address: { kind: "host", host: "www.example.com", port: 443 },
      check: { kind: "http", scheme: "https", path: "/health?full=1", method: "GET", expectStatus: [{ from: 200, to: 299 }], maxBodyBytes: 65536 },
    });
  });

  it("a URL with an address and a port: an ip address; http's default port 80", () => {
    expect(edgeSpecOf(onlyProbe(withHttp("{url: 'http://192.0.2.10:8080/'}")).target).address).toMatchObject({ kind: "ip", ip: { text: "192.0.2.10" }, port: 8080 });
    expect(edgeSpecOf(onlyProbe(withHttp("{url: 'http://[2001:db8::1]/x'}")).target).address).toMatchObject({ kind: "ip", ip: { text: "2001:db8::1" }, port: 80 });
    expect(edgeSpecOf(onlyProbe(withHttp("{url: 'http://web.example.com/'}")).target).address).toEqual({ kind: "host", host: "web.example.com", port: 80 });
  });

  it("host or ip with the scheme's port by default, or the port given", () => {
    expect(edgeSpecOf(onlyProbe(withHttp("{host: web.example.com, scheme: https}")).target).address).toEqual({ kind: "host", host: "web.example.com", port: 443 });
    expect(edgeSpecOf(onlyProbe(withHttp("{ip: 192.0.2.10, port: 8443, scheme: https, path: /ready}")).target)).toMatchObject({
      address: { kind: "ip", port: 8443 },
      check: { scheme: "https", path: "/ready" },
    });
  });

  it("service, pods and zscaler addresses, with the same fields as tcp:", () => {
    expect(edgeSpecOf(onlyProbe(withHttp("{service: {namespace: shop, name: web, port: http}, via: endpoints, path: /healthz}")).target)).toMatchObject({
      address: { kind: "service", namespace: "shop", name: "web", port: "http", via: "endpoints" },
      check: { kind: "http", path: "/healthz", scheme: "http" },
    });
    expect(edgeSpecOf(onlyProbe(withHttp("{pods: {namespace: shop, selector: {app: api}}, port: metrics, path: /metrics}")).target).address).toMatchObject({
      kind: "pods",
      namespace: "shop",
      port: "metrics",
    });
    expect(edgeSpecOf(onlyProbe(withHttp("{zscaler: {cloud: zscalertwo.net, endpoints: [pac], ports: [443]}, scheme: https}")).target).address).toEqual({
      kind: "zscaler",
      cloud: "zscalertwo.net",
      endpoints: ["pac"],
      ports: [443],
      cities: [],
    });
  });

  it("a zscaler address makes the agent keep that cloud's feeds, as under tcp:", () => {
    const config = load(withHttp("{zscaler: {cloud: zscalertwo.net, endpoints: [pac], ports: [443]}, scheme: https}"));
    expect(config.zscaler?.clouds).toEqual(["zscalertwo.net"]);
  });

  it("binds to each concrete address: URL host, port and path, Host header and SNI from the address's name", () => {
    const probe = onlyProbe(withHttp("{url: 'https://www.example.com:8443/x', tls: {expectIssuer: zscaler}}"));
    const [concrete] = concreteTargets(probe.target, undefined);
    expect(concrete).toMatchObject({
      port: 8443,
      protocol: "TCP",
      targetName: "www.example.com",
      targetKind: "host",
      call: { kind: "http", target: { scheme: "https", host: "www.example.com", port: 8443, path: "/x", tls: { expectIssuer: { issuer: "zscaler" } } } },
    });
  });
});

describe("http: the request", () => {
  it("method, expected statuses, headers, body cap, Host header", () => {
    const probe = onlyProbe(withHttp("{url: 'http://web.example.com/', method: HEAD, expectStatus: ['2xx', 301-302, 404], headers: {Authorization: 'Bearer t'}, maxBodyBytes: 0, hostHeader: api.example.com}"));
    expect(edgeSpecOf(probe.target).check).toEqual({
      kind: "http",
      scheme: "http",
      path: "/",
      method: "HEAD",
      expectStatus: [{ from: 200, to: 299 }, { from: 301, to: 302 }, { from: 404, to: 404 }],
      headers: { Authorization: "Bearer t" },
      maxBodyBytes: 0,
      hostHeader: "api.example.com",
    });
    expect(edgeSpecOf(onlyProbe(withHttp("{url: 'http://web.example.com/', expectStatus: 204}")).target).check).toMatchObject({ expectStatus: [{ from: 204, to: 204 }] });
  });

  it("proxy zscaler:<cloud> is the cloud's gateway on port 80, or 9400; a proxy URL as given", () => {
    const check = (proxy: string) => edgeSpecOf(onlyProbe(withHttp(`{url: 'https://www.example.com/', proxy: '${proxy}'}`)).target).check;
    expect(check("zscaler:zscalertwo.net")).toMatchObject({ proxy: "http://gateway.zscalertwo.net:80" });
    expect(check("zscaler:zscalertwo.net:9400")).toMatchObject({ proxy: "http://gateway.zscalertwo.net:9400" });
    expect(check("http://proxy.corp.example:3128")).toMatchObject({ proxy: "http://proxy.corp.example:3128" });
    expect(check("http://10.0.0.5")).toMatchObject({ proxy: "http://10.0.0.5:80" });
  });

  it("through a proxy, an edge's port (and its address, when the proxy is one) are the proxy's: that connection is what policy judges", () => {
    const [byName] = concreteTargets(onlyProbe(withHttp("{url: 'https://www.example.com/', proxy: 'zscaler:zscaler.net:9400'}")).target, undefined);
    expect(byName).toMatchObject({ port: 9400, targetName: "www.example.com", call: { target: { host: "www.example.com", port: 443, proxy: "http://gateway.zscaler.net:9400" } } });
    expect(byName?.address).toBeUndefined();
    const [byAddress] = concreteTargets(onlyProbe(withHttp("{url: 'http://192.0.2.10/', proxy: 'http://10.0.0.5:3128'}")).target, undefined);
    expect(byAddress).toMatchObject({ port: 3128, address: { text: "10.0.0.5" }, call: { target: { host: "192.0.2.10", port: 80 } } });
    expect(byAddress?.call.target).not.toHaveProperty("ip");
  });

  it("tls: verify, sni, caPem and the expected issuer: zscaler, a CN pattern, or not one of them", () => {
    const tls = (value: string) => (edgeSpecOf(onlyProbe(withHttp(`{url: 'https://www.example.com/', tls: ${value}}`)).target).check as { tls?: unknown }).tls;
    expect(tls("{verify: false, sni: origin.example.com}")).toEqual({ verify: false, sni: "origin.example.com" });
    expect(tls("{expectIssuer: zscaler}")).toEqual({ expectIssuer: { issuer: "zscaler" } });
    expect(tls("{expectIssuer: {cn: 'Corp Inspection CA *'}}")).toEqual({ expectIssuer: { issuer: { cn: "Corp Inspection CA *" } } });
    expect(tls("{expectIssuer: {not: zscaler}}")).toEqual({ expectIssuer: { issuer: "zscaler", absent: true } });
    expect(tls("{expectIssuer: {not: {cn: 'Corp *'}}}")).toEqual({ expectIssuer: { issuer: { cn: "Corp *" }, absent: true } });
  });
});

describe("http: bad fields are located", () => {
  const cases: [string, string][] = [
    ["{url: 'ftp://files.example.com/'}", "6:12: probes[0].http.url: must be an http:// or https:// URL"],
    ["{url: 'https://user:pw@www.example.com/'}", "6:12: probes[0].http.url: must not hold credentials (put a token in headers)"],
    ["{url: 'https://www.example.com/#top'}", "6:12: probes[0].http.url: must not hold a fragment (#...): it is never sent"],
    ["{url: 'https://www.example.com/', host: www.example.com}", "6:45: probes[0].http.host: give either url, or an address (host, ip, service, pods or zscaler) with port and path"],
    ["{path: /x}", "6:5: probes[0].http: must have exactly one of url, host, ip, service, pods or zscaler"],
    ["{host: web.example.com, ip: 192.0.2.1}", "6:5: probes[0].http: must have exactly one of url, host, ip, service, pods or zscaler (got host and ip)"],
    ["{pods: {namespace: shop, selector: {app: api}}}", "6:5: probes[0].http.port: is required"],
    ["{url: 'http://web.example.com/', method: POST}", "6:44: probes[0].http.method: must be GET or HEAD"],
    ["{url: 'http://web.example.com/', expectStatus: '600'}", '6:44: probes[0].http.expectStatus: "600" is not a status, a range "200-299" or a class "2xx"'],
    ["{url: 'http://web.example.com/', maxBodyBytes: 20000000}", "6:44: probes[0].http.maxBodyBytes: must be a whole number of bytes from 0 to 16777216 (16 MiB)"],
    ["{url: 'http://web.example.com/', headers: {Host: other}}", "6:44: probes[0].http.headers: header host is set by the prober (use hostHeader for Host)"],
    ["{url: 'http://web.example.com/', proxy: 'zscaler:not a cloud'}", '6:44: probes[0].http.proxy: "zscaler:not a cloud": after zscaler: comes a cloud name such as zscaler.net'],
    ["{url: 'http://web.example.com/', proxy: 'zscaler:zscaler.net:443'}", '6:44: probes[0].http.proxy: "zscaler:zscaler.net:443": the gateway takes proxy requests on port 80 or 9400'],
    ["{url: 'http://web.example.com/', proxy: 'socks5://10.0.0.1:1080'}", '6:44: probes[0].http.proxy: must be zscaler:<cloud>, zscaler:<cloud>:9400 or a proxy URL "http://host:port"'],
    ["{url: 'http://web.example.com/', proxy: 'http://u:p@10.0.0.1:3128'}", "6:44: probes[0].http.proxy: credentials in the proxy URL are not supported"],
    ["{url: 'http://web.example.com/', tls: {verify: false}}", "6:44: probes[0].http.tls: applies to https targets only"],
    ["{url: 'https://web.example.com/', tls: {expectIssuer: symantec}}", "6:51: probes[0].http.tls.expectIssuer: must be zscaler, {cn: \"pattern\"} or {not: zscaler | {cn: \"pattern\"}}"],
    ["{url: 'https://web.example.com/', tls: {sni: 192.0.2.1}}", "6:51: probes[0].http.tls.sni: must be a host name, not an address"],
    ["{url: 'https://web.example.com/', tls: {verfiy: false}}", '6:51: probes[0].http.tls.verfiy: unknown field'],
  ];
  for (const [http, expected] of cases) {
    it(`${http} -> ${expected.slice(expected.indexOf(": ") + 2)}`, () => {
      expect(errors(withHttp(http))).toContain(`${FILE}:${expected}`);
    });
  }

  it("tcp, dns and http exclude each other", () => {
    expect(errors(`sources:\n  - {name: self, self: true}\nprobes:\n  - name: web\n    sources: [self]\n    tcp: {host: a.example.com, port: 80}\n    http: {url: 'http://a.example.com/'}\n`)).toEqual([
      `${FILE}:4:5: probes[0]: must have exactly one of tcp, dns or http`,
    ]);
  });
});

describe("http: the path check (zscalerPath)", () => {
  it("reads Zscaler's check page by default, through the proxy given, expecting the path", () => {
    const probe = onlyProbe(withHttp("{zscalerPath: {expect: via}, proxy: 'zscaler:zscaler.net'}"));
    const { address, check } = edgeSpecOf(probe.target);
    expect(address).toEqual({ kind: "host", host: "ip.zscaler.com", port: 80 });
    expect(check).toMatchObject({ kind: "http", scheme: "http", path: "/", method: "GET", zscalerPath: { expect: "via" }, proxy: "http://gateway.zscaler.net:80" });
    // Its edges carry the expectation, and its targets ask the prober to read the page.
    const [concrete] = concreteTargets(probe.target, undefined);
    expect(concrete?.pathExpect).toBe("via");
    expect(concrete?.call.target).toMatchObject({ checkPage: true });
  });

  it("a configured page, and direct as the expectation; an http check without it reads no page", () => {
    const probe = onlyProbe(withHttp("{zscalerPath: {expect: direct, page: 'http://192.0.2.80:8080/?json'}}"));
    expect(edgeSpecOf(probe.target)).toMatchObject({ address: { kind: "ip", port: 8080 }, check: { path: "/?json", zscalerPath: { expect: "direct" } } });
    const [plain] = concreteTargets(onlyProbe(withHttp("{url: 'http://web.example.com/'}")).target, undefined);
    expect(plain?.pathExpect).toBeUndefined();
    expect(plain?.call.target).not.toHaveProperty("checkPage");
  });

  it("refuses an address beside the page, a HEAD request, an unknown expectation and a bad page, each located", () => {
    expect(errors(withHttp("{zscalerPath: {expect: via}, url: 'http://ip.zscaler.com/'}"))).toEqual([
      `${FILE}:6:40: probes[0].http.url: a path check reads its page (zscalerPath.page, default http://ip.zscaler.com/): give no url or address`,
    ]);
    expect(errors(withHttp("{zscalerPath: {expect: via}, method: HEAD}"))).toEqual([expect.stringMatching(/^netcanary\.yaml:6:\d+: probes\[0\]\.http\.method: must be GET for a path check: a HEAD answer has no page to read$/)]);
    expect(errors(withHttp("{zscalerPath: {expect: sometimes}}"))[0]).toMatch(/probes\[0\]\.http\.zscalerPath\.expect: must be via or direct/);
    expect(errors(withHttp("{zscalerPath: {expect: via, page: 'ftp://ip.zscaler.com/'}}"))).toEqual([expect.stringMatching(/^netcanary\.yaml:6:\d+: probes\[0\]\.http\.zscalerPath\.page: must be an http:\/\/ or https:\/\/ URL$/)]);
    expect(errors(withHttp("{zscalerPath: {expect: via, cloud: zscaler.net}}"))[0]).toMatch(/probes\[0\]\.http\.zscalerPath/);
  });
});
