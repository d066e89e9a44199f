import type ipaddr from "ipaddr.js";
import { clip } from "../core/index.js";
import { ipaddrLibrary } from "./libraries.js";

/**
 * The value of the `ipaddress` caveat type. Parsing is strict (four-part decimal IPv4, standard
 * IPv6): lenient forms like `10.1` or `0x0a.0.0.1` are refused, as Go's netip refuses them.
 */
export class IPAddress {
  constructor(readonly address: ipaddr.IPv4 | ipaddr.IPv6) {}

  /** True when the address lies in the CIDR range; an IPv4 address never matches an IPv6 range. */
  inCidr(cidr: string): boolean {
    const range = parseCidr(cidr);
    if (range === undefined) throw new Error(`invalid CIDR range '${clip(cidr)}'`);
    const [network, bits] = range;
    if (network.kind() !== this.address.kind()) return false;
    return this.address.match(network as ipaddr.IPv4 & ipaddr.IPv6, bits);
  }

  equals(other: IPAddress): boolean {
    return (
      this.address.kind() === other.address.kind() &&
      this.address.toNormalizedString() === other.address.toNormalizedString()
    );
  }

  toString(): string {
    return this.address.toString();
  }
}

export function parseIPAddress(text: string): IPAddress | undefined {
  const ipaddr = ipaddrLibrary();
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return new IPAddress(ipaddr.IPv4.parse(text));
  if (text.includes(":") && ipaddr.IPv6.isValid(text)) return new IPAddress(ipaddr.IPv6.parse(text));
  return undefined;
}

type Cidr = readonly [ipaddr.IPv4 | ipaddr.IPv6, number];

/** Parsed ranges by text: a caveat sees the same few ranges over and over. Bounded by clearing. */
const cidrCache = new Map<string, Cidr | undefined>();

function parseCidr(text: string): Cidr | undefined {
  let range = cidrCache.get(text);
  if (range !== undefined || cidrCache.has(text)) return range;
  range = parseCidrUncached(text);
  if (cidrCache.size >= 1024) cidrCache.clear();
  cidrCache.set(text, range);
  return range;
}

function parseCidrUncached(text: string): Cidr | undefined {
  const ipaddr = ipaddrLibrary();
  if (ipaddr.IPv4.isValidCIDRFourPartDecimal(text)) return ipaddr.IPv4.parseCIDR(text);
  if (text.includes(":") && ipaddr.IPv6.isValidCIDR(text)) return ipaddr.IPv6.parseCIDR(text);
  return undefined;
}
