// The addresses a lab may use, derived from its slot (see lab-slots.ts): each slot owns an
// IPv4 /24 and an IPv6 /64 of private space for its pods, and a /29 in each of the three
// IPv4 documentation ranges for addresses "outside the cluster" (the "Zscaler" gateways, the
// unreachable prefixes). Two labs with different slots share no address, so two labs on one
// machine (two test runs, a test run and `make demo`) never collide: the agent's pod mode
// finds a pod's namespace by scanning every namespace on the machine for the pod's IP, and
// two namespaces holding the same IP would make that ambiguous.
//
// Pure: no I/O. Plain IPv4 arithmetic of its own, because `make demo` runs these support
// files with Node's type stripping, which cannot load the agent's compiled-import modules.

/** How many labs may exist on one machine at once. */
export const SLOT_COUNT = 32;

/** The pods' IPv4 subnets: 10.232.<slot>.0/24 (a range no other test of this project uses). */
const PRIVATE_BASE = [10, 232] as const;
/** The pods' IPv6 subnets: fd00:232:<0x100 + slot>::/64 (unique local addresses). */
const PRIVATE6_PREFIX = "fd00:232";
/** TEST-NET-1, -2 and -3 (RFC 5737): never routed anywhere, each cut into SLOT_COUNT /29s. */
const DOCUMENTATION = ["192.0.2.0", "198.51.100.0", "203.0.113.0"] as const;
const DOCUMENTATION_PREFIX = 29;

/** A block of IPv4 addresses that belongs to one lab. */
export interface AddressBlock {
  /** CIDR text, e.g. "192.0.2.16/29". */
  readonly cidr: string;
  readonly size: number;
  /** The n-th address of the block (0 is the block's first); throws outside the block. */
  at(n: number): string;
  /** The first (0) or second (1) half of the block. */
  half(which: 0 | 1): AddressBlock;
}

export interface LabAddresses {
  readonly slot: number;
  /** The pods' subnet on eth0. */
  readonly subnet: AddressBlock;
  /** subnet.at(host): a pod address. */
  ip(host: number): string;
  /** The pods' IPv6 /64, e.g. "fd00:232:1f::/64". */
  readonly subnet6: string;
  /** An IPv6 address of subnet6 (host in 1..0xffff). */
  ip6(host: number): string;
  /** The lab's /29 of 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24. */
  readonly testNet1: AddressBlock;
  readonly testNet2: AddressBlock;
  readonly testNet3: AddressBlock;
  /** Whether an address or a prefix (a.b.c.d/n, or IPv6) lies wholly inside the lab's blocks. */
  owns(text: string): boolean;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function toNumber(text: string): number | undefined {
  const match = IPV4.exec(text);
  if (!match) return undefined;
  const octets = match.slice(1).map(Number);
  if (octets.some((octet) => octet > 255)) return undefined;
  return octets.reduce((value, octet) => value * 256 + octet, 0);
}

function toText(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

function block(first: number, prefix: number): AddressBlock {
  const size = 2 ** (32 - prefix);
  return {
    cidr: `${toText(first)}/${prefix}`,
    size,
    at(n) {
      if (!Number.isInteger(n) || n < 0 || n >= size) throw new Error(`address ${n} is outside ${toText(first)}/${prefix} (0..${size - 1})`);
      return toText(first + n);
    },
    half(which) {
      if (prefix >= 32) throw new Error(`${toText(first)}/${prefix} has no halves`);
      return block(first + which * (size / 2), prefix + 1);
    },
  };
}

/** An IPv4 address or prefix as [first, last]; undefined when it is not one. */
function range(text: string): [number, number] | undefined {
  const [address, prefixText, extra] = text.split("/");
  if (address === undefined || extra !== undefined) return undefined;
  const value = toNumber(address);
  const prefix = prefixText === undefined ? 32 : /^\d{1,2}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (value === undefined || !(prefix >= 0 && prefix <= 32)) return undefined;
  const size = 2 ** (32 - prefix);
  const first = value - (value % size);
  return [first, first + size - 1];
}

function within(text: string, owner: AddressBlock): boolean {
  const inner = range(text);
  const outer = range(owner.cidr);
  return inner !== undefined && outer !== undefined && inner[0] >= outer[0] && inner[1] <= outer[1];
}

export function labAddresses(slot: number): LabAddresses {
  if (!Number.isInteger(slot) || slot < 0 || slot >= SLOT_COUNT) throw new Error(`lab slot ${slot} is not in 0..${SLOT_COUNT - 1}`);
  const subnet = block(toNumber(`${PRIVATE_BASE[0]}.${PRIVATE_BASE[1]}.${slot}.0`) as number, 24);
  const documentation = DOCUMENTATION.map((base) => block((toNumber(base) as number) + slot * 2 ** (32 - DOCUMENTATION_PREFIX), DOCUMENTATION_PREFIX));
  const [testNet1, testNet2, testNet3] = documentation as [AddressBlock, AddressBlock, AddressBlock];
  // 0x100 + slot: a group that is never 0, so ip6() writes canonical text (RFC 5952 would
  // fold a zero group into "::": fd00:232:0::2 is written fd00:232::2).
  const prefix6 = `${PRIVATE6_PREFIX}:${(0x100 + slot).toString(16)}:`;
  const subnet6 = `${prefix6}:/64`;
  return {
    slot,
    subnet,
    ip: (host) => subnet.at(host),
    subnet6,
    ip6(host) {
      if (!Number.isInteger(host) || host < 1 || host > 0xffff) throw new Error(`IPv6 host ${host} is not in 1..65535`);
      return `${prefix6}:${host.toString(16)}`;
    },
    testNet1,
    testNet2,
    testNet3,
    owns(text) {
      if (text.includes(":")) {
        // IPv6: subnet6 itself, or an address as ip6() writes it.
        return text === subnet6 || (text.startsWith(`${prefix6}:`) && /^[0-9a-f]{1,4}$/.test(text.slice(prefix6.length + 1)));
      }
      return [subnet, ...documentation].some((owner) => within(text, owner));
    },
  };
}
