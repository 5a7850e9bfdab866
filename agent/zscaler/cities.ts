// Which Zscaler data centre an address belongs to, from the CENR feed: so that a gateway
// name resolving to another city ("DNS resolution shifts") is reported as such.

import { cidrContainsIp, parseCidr, parseIp } from "../addresses/ip.js";
import type { CenrFeed } from "./feeds.js";

/** "Amsterdam II (EMEA)" for each answer, or a note that it is in no published data centre. */
export function describeAnswerCities(cenr: CenrFeed | undefined, answers: readonly string[]): string[] {
  return answers.map((answer) => {
    const ip = parseIp(answer);
    if (!ip.ok) return `${answer}: not an address`;
    for (const centre of cenr?.dataCentres ?? []) {
      for (const range of centre.ranges) {
        const cidr = parseCidr(range);
        if (cidr.ok && cidrContainsIp(cidr.value, ip.value)) return `${answer} in ${centre.city} (${centre.continent})`;
      }
    }
    return cenr ? `${answer} in no published data centre` : `${answer} (data centres not loaded yet)`;
  });
}
