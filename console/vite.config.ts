import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

/** The console's build: console/ -> dist/console, no inline scripts (the server's CSP forbids them). */
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  build: {
    outDir: fileURLToPath(new URL("../dist/console", import.meta.url)),
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    reportCompressedSize: true,
  },
  logLevel: "warn",
});
