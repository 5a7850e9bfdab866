// Address kind "ip" (tcp: {ip, port}): one address, named by itself.

import type { IpAddressConfig } from "../../config/model.js";
import { type AddressKindModule, atAddress, STANDS_FOR_NOTHING } from "./address.js";

export const ipAddress: AddressKindModule<IpAddressConfig> = {
  expand: (address) => [atAddress(address.ip, address.port, address.ip.text, "ip")],
  whyEmpty: () => STANDS_FOR_NOTHING,
};
