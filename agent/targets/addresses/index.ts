// The address kinds, by kind: the one place an address kind is registered. Each kind's file
// expands its configured address into concrete ones, and says why it stands for none.

import type { AddressConfig, AddressKind } from "../../config/model.js";
import type { AddressContext, AddressKindModule, ConcreteAddress } from "./address.js";
import { hostAddress } from "./host.js";
import { ipAddress } from "./ip.js";
import { podsAddress } from "./pods.js";
import { resolverAddress } from "./resolver.js";
import { ruleAddress } from "./rule.js";
import { serviceAddress } from "./service.js";
import { zscalerAddress } from "./zscaler.js";

export type { AddressContext, AddressKindModule, ConcreteAddress, EndpointSelection, FanOut, FeedReader } from "./address.js";

const addressKinds: { readonly [K in AddressKind]: AddressKindModule<Extract<AddressConfig, { kind: K }>> } = {
  host: hostAddress,
  ip: ipAddress,
  resolver: resolverAddress,
  service: serviceAddress,
  pods: podsAddress,
  zscaler: zscalerAddress,
  rule: ruleAddress,
};

/** An address's kind file (its kind and config travel together in AddressConfig). */
function kindOf(address: AddressConfig): AddressKindModule<AddressConfig> {
  return addressKinds[address.kind] as AddressKindModule<AddressConfig>;
}

/** What an address stands for now. */
export function expandAddress(address: AddressConfig, context: AddressContext): ConcreteAddress[] {
  return kindOf(address).expand(address, context);
}

/** Why an address stands for nothing now. */
export function whyNoAddresses(address: AddressConfig, context: AddressContext): string {
  return kindOf(address).whyEmpty(address, context);
}
