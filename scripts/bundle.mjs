/**
 * The second step of `npm run build`: bundles the package's entries (the `latch` program and the
 * four exports) over tsc's output in dist/, in place. Node 20 loads ES modules one file at a
 * time, about half a millisecond each here, and `latch check --db` reached some 130 of them; the
 * bundles load a handful. Code splitting keeps every dynamic import a chunk of its own, so a
 * command still loads only what it runs (the server, the gRPC client, a store backend); modules
 * shared by several entries live in shared chunks, so one process never holds two copies.
 * Packages stay external. tsc's declarations and its per-file output stay beside the bundles
 * (types resolve from the .d.ts files).
 */
import { rmSync } from "node:fs";
import { build } from "esbuild";

const entries = [
  "dist/cli/main.js",
  "dist/index.js",
  "dist/client/embedded-entry.js",
  "dist/client/remote-entry.js",
  "dist/server/index.js",
];

// Chunk names carry a hash: drop the previous build's.
rmSync("dist/chunks", { recursive: true, force: true });

await build({
  entryPoints: entries,
  outdir: "dist",
  outbase: "dist",
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
