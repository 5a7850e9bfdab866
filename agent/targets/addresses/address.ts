// What every address kind shares: a concrete address (what one edge reaches), the context an
// address expands in, and the contract of a kind's file. Leaf vocabulary of targets/addresses/.

import type { IpAddress } from "../../addresses/ip.js";
import type { ClusterSnapshot } from "../../cluster/snapshot.js";
import type { AddressConfig } from "../../config/model.js";
import type { FeedReader } from "../../zscaler/reader.js";
import { chooseByRendezvous } from "../../hashing/rendezvous.js";

/** What edges need of published data (Zscaler's feeds): the current data per cloud and kind. */
export type { FeedReader } from "../../zscaler/reader.js";

/** Of a target's endpoints, how many this agent probes (chosen by rendezvous hashing on its node). */
export interface EndpointSelection {
  readonly chosen: number;
  readonly of: number;
}

/** The cap on endpoints per target, and the node whose share is taken. */
export interface FanOut {
  readonly max: number;
  readonly node: string;
}

/** What an address expands with: the cluster state (none before the first sync), published data, the fan-out cap. */
export interface AddressContext {
  readonly snapshot: ClusterSnapshot | undefined;
  readonly feeds: FeedReader | undefined;
  readonly fanOut: FanOut | undefined;
}

/** One concrete address, and how its edges are named in metrics. */
export interface ConcreteAddress {
  /** The address, when known before probing (not for names still to resolve). */
  readonly ip?: IpAddress;
  /** A name resolved at probe time. */
  readonly host?: string;
  /** A DNS server as the DNS prober takes it: "cluster" or "addr:port". */
  readonly server?: string;
  readonly port: number;
  readonly targetName: string;
  readonly targetKind: string;
  /** For addresses expanded from the cluster: the pod behind it, "namespace/name". */
  readonly endpoint?: string;
  /** Tells apart the edges of one target that expands to many (a pod, an address). */
  readonly instance?: string;
  readonly selection?: EndpointSelection;
}

/** One address kind's file: how it expands itself, and why it expands to nothing. */
export interface AddressKindModule<Address extends AddressConfig> {
  expand(address: Address, context: AddressContext): ConcreteAddress[];
  /** Why expand() gives nothing now (targets/empty.ts). */
  whyEmpty(address: Address, context: AddressContext): string;
}

/** Why a cluster address (or source) cannot be expanded yet. */
export const UNKNOWN_STATE = "the cluster state is not known";

/** The sentence for a kind that always stands for something. */
export const STANDS_FOR_NOTHING = "its target stands for nothing";

export function firstIp(ips: readonly IpAddress[]): IpAddress | undefined {
  return ips.find((ip) => ip.family === 4) ?? ips[0];
}

/** An address known before probing. */
export function atAddress(ip: IpAddress, port: number, targetName: string, targetKind: string, endpoint?: string): ConcreteAddress {
  return { ip, port, targetName, targetKind, ...(endpoint !== undefined ? { endpoint } : {}) };
}

/** One of several edges behind one target: told apart by its pod, else its address. */
export function oneOfMany(address: ConcreteAddress): ConcreteAddress {
  return { ...address, instance: address.endpoint ?? address.ip?.text ?? "" };
}

/**
 * A target's endpoints, at most fanOut.max of them: this node's share by rendezvous hashing
 * on the node name, each marked with how many were chosen of how many.
 */
export function shareOf(endpoints: readonly ConcreteAddress[], fanOut: FanOut | undefined): ConcreteAddress[] {
  const chosen = fanOut ? chooseByRendezvous(endpoints, (address) => address.instance ?? "", fanOut.node, fanOut.max) : [...endpoints];
  const selection: EndpointSelection = { chosen: chosen.length, of: endpoints.length };
  return chosen.map((address) => ({ ...address, selection }));
}
