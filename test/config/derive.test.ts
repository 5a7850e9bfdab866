// sources[].derive and agent.coverageWindow, read as the agent reads them: defaults, the
// destinations parsed, and located errors naming file, line and field.

import { describe, expect, it } from "vitest";
import { CONFIG_FILE as FILE, errors, load } from "../support/config-text.js";

describe("sources[].derive", () => {
  it("takes true for every default, and is off without it", () => {
    const config = load(`sources:\n  - {name: self, self: true, derive: true}\n  - {name: shop, podSelector: {matchLabels: {app: web}}}\nprobes: []\n`);
    expect(config.sources[0]?.derive).toEqual({ maxPerPolicy: 8, maxEdges: 32, deny: true, destinations: [], zscalerRanges: true });
    expect(config.sources[1]?.derive).toBeUndefined();
    expect(config.agent.coverageWindowMs).toBe(3_600_000);
  });

  it("reads the bounds and the destinations, IPv4 and IPv6", () => {
    const config = load(
      `agent: {coverageWindow: 15m}\nsources:\n  - name: shop\n    podSelector: {matchLabels: {app: web}}\n    derive: {maxPerPolicy: 2, maxEdges: 5, deny: false, zscalerRanges: false, destinations: ["203.0.113.10:443", "[2001:db8::1]:8443"]}\nprobes: []\n`,
    );
    const derive = config.sources[0]?.derive;
    expect(derive && { ...derive, destinations: derive.destinations.map((d) => `${d.ip.text} ${d.port}`) }).toEqual({
      maxPerPolicy: 2,
      maxEdges: 5,
      deny: false,
      zscalerRanges: false,
      destinations: ["203.0.113.10 443", "2001:db8::1 8443"],
    });
    expect(config.agent.coverageWindowMs).toBe(900_000);
  });

  it("names the file, line and field of a destination that is no address and port", () => {
    const text = `sources:\n  - name: self\n    self: true\n    derive:\n      destinations:\n        - 203.0.113.10\n        - "api.example.com:443"\n        - "203.0.113.10:70000"\nprobes: []\n`;
    expect(errors(text)).toEqual([
      `${FILE}:6:11: sources[0].derive.destinations[0]: "203.0.113.10" must be an address and port, such as 203.0.113.10:443 or [2001:db8::1]:443`,
      `${FILE}:7:11: sources[0].derive.destinations[1]: "api.example.com:443" must be an address and port, such as 203.0.113.10:443 or [2001:db8::1]:443`,
      `${FILE}:8:11: sources[0].derive.destinations[2]: "203.0.113.10:70000" must be an address and port, such as 203.0.113.10:443 or [2001:db8::1]:443`,
    ]);
  });

  it("refuses bounds out of range, unknown fields and a window out of range", () => {
    expect(errors(`sources: [{name: self, self: true, derive: {maxPerPolicy: 0}}]\nprobes: []\n`).join("\n")).toMatch(/sources\[0\]\.derive/);
    expect(errors(`sources: [{name: self, self: true, derive: {maxEdges: 1001}}]\nprobes: []\n`).join("\n")).toMatch(/sources\[0\]\.derive/);
    expect(errors(`sources: [{name: self, self: true, derive: {max: 3}}]\nprobes: []\n`).join("\n")).toMatch(/sources\[0\]\.derive/);
    expect(errors(`sources: [{name: self, self: true, derive: false}]\nprobes: []\n`).join("\n")).toMatch(/sources\[0\]\.derive/);
    expect(errors(`agent: {coverageWindow: 500ms}\nsources: [{name: self, self: true}]\nprobes: []\n`)).toEqual([
      `${FILE}:1:9: agent.coverageWindow: must be a duration from 1s to 168h, such as "30s" or "1m30s"`,
    ]);
  });

  it("keeps the probe name derived for derived edges", () => {
    expect(errors(`sources: [{name: self, self: true}]\nprobes:\n  - {name: derived, sources: [self], tcp: {ip: 192.0.2.1, port: 443}}\n`)).toEqual([
      `${FILE}:3:6: probes[0].name: "derived" names the edges sources derive from their policies (sources[].derive): choose another name`,
    ]);
  });
});
