// Address kind "host" (tcp: {host, port}): a name, resolved by the prober at probe time, so
// its address is not known before probing.

import type { HostAddressConfig } from "../../config/model.js";
import { type AddressKindModule, STANDS_FOR_NOTHING } from "./address.js";

export const hostAddress: AddressKindModule<HostAddressConfig> = {
  expand: (address) => [{ host: address.host, port: address.port, targetName: address.host, targetKind: "host" }],
  whyEmpty: () => STANDS_FOR_NOTHING,
};
