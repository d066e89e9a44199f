import type { Environment } from "@marcbachmann/cel-js";
import { clip } from "../core/index.js";
import { IPAddress, parseIPAddress } from "./ip-address.js";
import { celLibrary, ipaddrLibrary } from "./libraries.js";

/**
 * The CEL environment every caveat starts from: the standard library plus SpiceDB's `ipaddress`
 * type. Built once; each condition clones it and declares its parameters on the clone.
 */
let base: Environment | undefined;

export function baseEnvironment(): Environment {
  if (base !== undefined) return base;
  // Loaded now, with the CEL library, so that no check pays for loading it (libraries.ts).
  ipaddrLibrary();
  base = new (celLibrary().Environment)()
    .registerType("ipaddress", IPAddress)
    .registerFunction("ipaddress.in_cidr(string): bool", (ip: IPAddress, cidr: string) => ip.inCidr(cidr))
    .registerFunction("ipaddress(string): ipaddress", (text: string) => {
      const ip = parseIPAddress(text);
      if (ip === undefined) throw new Error(`invalid IP address '${clip(text)}'`);
      return ip;
    })
    // Registering == also gives != (the library derives it).
    .registerOperator("ipaddress == ipaddress", (a: IPAddress, b: IPAddress) => a.equals(b));
  return base;
}
