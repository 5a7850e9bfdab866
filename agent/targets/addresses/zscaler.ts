// Address kind "zscaler" (tcp: {zscaler: {cloud, endpoints, ports, cities}}): the probe-worthy
// hosts of a Zscaler cloud; its data centres (endpoint dc) come from the cloud's CENR feed.

import { parseIp } from "../../addresses/ip.js";
import type { ZscalerTargetConfig } from "../../config/model.js";
import { ZSCALER_DEFAULT_PORTS } from "../../config/schema.js";
import type { CenrFeed } from "../../zscaler/feeds.js";
import { type AddressKindModule, atAddress, type ConcreteAddress, type FeedReader, oneOfMany } from "./address.js";

/**
 * Zscaler's Global ZEN addresses. They answer only inside a GRE/IPsec tunnel, so they are
 * probed only as an explicit inside-the-tunnel check (insideTunnel: true).
 */
export const GLOBAL_ZEN_ADDRESSES = ["185.46.212.88", "185.46.212.89", "185.46.212.90", "185.46.212.91", "185.46.212.92", "185.46.212.93", "185.46.212.97", "185.46.212.98"];

function expand(target: ZscalerTargetConfig, feeds: FeedReader | undefined): ConcreteAddress[] {
  const found: ConcreteAddress[] = [];
  const add = (host: string, ports: readonly number[]) => {
    for (const port of ports) found.push({ host, port, targetName: host, targetKind: "zscaler" });
  };
  for (const endpoint of target.endpoints) {
    const ports = target.ports ?? ZSCALER_DEFAULT_PORTS[endpoint];
    switch (endpoint) {
      case "gateway":
        add(`gateway.${target.cloud}`, ports);
        break;
      case "secondary":
        add(`secondary.gateway.${target.cloud}`, ports);
        break;
      case "pac":
      case "login":
      case "mobile":
        add(`${endpoint}.${target.cloud}`, ports);
        break;
      case "dc": {
        // Each data centre's ZEN by its CENR hostname (<dc>.sme.<cloud>), in the chosen cities.
        const cenr = feeds?.current(target.cloud, "cenr") as CenrFeed | undefined;
        const cities = new Set(target.cities.map((city) => city.toLowerCase()));
        const hosts = new Set<string>();
        for (const centre of cenr?.dataCentres ?? []) {
          if (centre.hostname && (cities.size === 0 || cities.has(centre.city.toLowerCase()))) hosts.add(centre.hostname);
        }
        for (const host of [...hosts].sort()) add(host, ports);
        break;
      }
      case "global-zen":
        for (const text of GLOBAL_ZEN_ADDRESSES) {
          const ip = parseIp(text);
          if (!ip.ok) continue;
          for (const port of ports) found.push(oneOfMany(atAddress(ip.value, port, `global-zen.${target.cloud}`, "zscaler")));
        }
        break;
    }
  }
  return found;
}

export const zscalerAddress: AddressKindModule<ZscalerTargetConfig> = {
  expand: (target, { feeds }) => expand(target, feeds),
  whyEmpty: (target, { feeds }) => {
    const cenr = feeds?.current(target.cloud, "cenr") as CenrFeed | undefined;
    if (!cenr) return `the data centres of ${target.cloud} are not loaded (its CENR feed)`;
    return `no data centre of ${target.cloud} is in ${target.cities.length > 0 ? target.cities.join(", ") : "the feed"}`;
  },
};
