/**
 * The second step of `npm run build`: bundles the package's entries (the `latch` program and the
 * exports) over tsc's output in dist/, in place. Node 20 loads ES modules one file at a
 * time, about half a millisecond each here, and `latch check --db` reached some 115 of Latch's
 * own; the bundles load a handful. Code splitting keeps every dynamic import a chunk of its own,
 * so a command still loads only what it runs (the server, the gRPC client, a store backend);
 * modules shared by several entries live in shared chunks, so one process never holds two copies.
 * Packages stay external. tsc's declarations and its per-file output stay beside the bundles
 * (types resolve from the .d.ts files). test/cli/bundle.test.ts bundles the sources the same way.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";

/** The entries, without extension, relative to the source or output root. */
export const ENTRIES = [
  "cli/main",
  "index",
  "client/embedded-entry",
  "client/remote-entry",
  "server/index",
  "client/langchain/index",
  "client/mcp/index",
];

/** Bundles ENTRIES found under `from` (with extension `ext`) into `to`, chunks in `to/chunks`. */
export async function bundle(from, to, ext = ".js") {
  // Chunk names carry a hash: drop the previous build's.
  rmSync(join(to, "chunks"), { recursive: true, force: true });
  await build({
    entryPoints: ENTRIES.map((entry) => join(from, entry + ext)),
    outdir: to,
    outbase: from,
    allowOverwrite: true,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    packages: "external",
    chunkNames: "chunks/[name]-[hash]",
    // Reads tsc's source maps, so stack traces (node --enable-source-maps) still name src/ files.
    sourcemap: true,
    logLevel: "warning",
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await bundle("dist", "dist");
