// Address kind "rule": a derived edge's destination (derive/derive.ts), one address and port
// already chosen for the policy rule it exercises. The edge is named by that rule
// ("namespace/name spec.egress[0]"), never by the pod or the address, so its labels stay
// bounded and survive the destination being replaced by another one the rule admits.

import type { RuleAddressConfig } from "../../config/model.js";
import { type AddressKindModule, atAddress, oneOfMany, STANDS_FOR_NOTHING } from "./address.js";

export const ruleAddress: AddressKindModule<RuleAddressConfig> = {
  expand: (address) => [oneOfMany(atAddress(address.ip, address.port, address.rule, "rule", address.endpoint))],
  whyEmpty: () => STANDS_FOR_NOTHING,
};
