/**
 * What each package entry loads, measured in a fresh process (loaded-packages.mjs records every
 * package resolved by an ESM import or a CommonJS require): embedded use must not pay for gRPC,
 * reflection, health checks, logging or metrics, and the gRPC client not for SQLite.
 */
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";

function loadedPackages(entry: string): string[] {
  const out = execFileSync(process.execPath, ["--import", "tsx", "test/client/loaded-packages.mjs", entry], {
    encoding: "utf8",
  });
  return JSON.parse(out) as string[];
}

const SERVER_ONLY = ["@grpc/grpc-js", "@grpc/reflection", "grpc-health-check", "pino", "prom-client"];
/** Loaded when the first caveat is compiled (src/conditions/libraries.ts), not on import. */
const CAVEAT_LIBRARIES = ["@marcbachmann/cel-js", "re2js", "ipaddr.js"];

describe("entry points", () => {
  it("latch/embedded loads no gRPC, reflection, health, logging or metrics package", () => {
    const loaded = loadedPackages("src/client/embedded-entry.ts");
    expect(loaded).toContain("better-sqlite3");
    for (const name of SERVER_ONLY) expect(loaded).not.toContain(name);
  });

  it("latch/embedded loads no protobuf runtime (so no generated code) and no caveat library", () => {
    const loaded = loadedPackages("src/client/embedded-entry.ts");
    expect(loaded).toContain("lru-cache");
    for (const name of ["@bufbuild/protobuf", ...CAVEAT_LIBRARIES]) expect(loaded).not.toContain(name);
  });

  it("latch/client loads grpc-js but neither SQLite nor the server's logging and metrics", () => {
    const loaded = loadedPackages("src/client/remote-entry.ts");
    expect(loaded).toContain("@grpc/grpc-js");
    for (const name of ["better-sqlite3", "pino", "prom-client", "@grpc/reflection", "grpc-health-check"])
      expect(loaded).not.toContain(name);
  });

  it("sees what latch/server loads (the check above can fail)", () => {
    const loaded = loadedPackages("src/server/index.ts");
    for (const name of SERVER_ONLY) expect(loaded).toContain(name);
  });
});
