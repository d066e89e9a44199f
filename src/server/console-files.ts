/**
 * The console's static files (issue 21) for `latch serve --console-listen`: the single-page
 * application `npm run build` writes to dist/console, read once at start and served with strict
 * security headers. The console's port also serves the Connect API (http-server.ts), so the page
 * talks to the same origin and its CSP can stay `default-src 'self'`: no CORS, no second door.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { dirname, extname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { HttpRoutes } from "./http-server.js";

/** Sent with every console file: no inline scripts, no framing, no type sniffing, no referrer. */
export const CONSOLE_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
};

const TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
};

interface ConsoleFile {
  readonly body: Buffer;
  readonly type: string;
}

/** dist/console of the package this module runs from (src/server under tsx, dist/... when built). */
export function defaultConsoleDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return join(dir, "dist", "console");
    const parent = dirname(dir);
    if (parent === dir) return join(process.cwd(), "dist", "console");
    dir = parent;
  }
}

function readTree(root: string, dir: string, files: Map<string, ConsoleFile>): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) readTree(root, path, files);
    else {
      const url = `/${relative(root, path).split(sep).join("/")}`;
      files.set(url, { body: readFileSync(path), type: TYPES[extname(name)] ?? "application/octet-stream" });
    }
  }
}

/** Reads the built console; undefined when there is none (the caller says how to build it). */
export function loadConsoleFiles(dir: string): ReadonlyMap<string, ConsoleFile> | undefined {
  if (!existsSync(join(dir, "index.html"))) return undefined;
  const files = new Map<string, ConsoleFile>();
  readTree(dir, dir, files);
  return files;
}

/** GET and HEAD of the console's files; `/` is the page. Everything else goes on to Connect. */
export function createConsoleRoutes(files: ReadonlyMap<string, ConsoleFile>): HttpRoutes {
  return {
    handle(req: IncomingMessage, res: ServerResponse): boolean {
      if (req.method !== "GET" && req.method !== "HEAD") return false;
      const path = (req.url ?? "/").split("?")[0]!;
      const file = files.get(path === "/" ? "/index.html" : path);
      if (file === undefined) {
        res.writeHead(404, { ...CONSOLE_HEADERS, "content-type": "text/plain; charset=utf-8" });
        res.end("not found\n");
        return true;
      }
      res.writeHead(200, {
        ...CONSOLE_HEADERS,
        "content-type": file.type,
        "content-length": String(file.body.length),
        // Vite names assets by content hash; the page itself must be fetched fresh.
        "cache-control": path.startsWith("/assets/") ? "public, max-age=31536000, immutable" : "no-cache",
      });
      res.end(req.method === "HEAD" ? undefined : file.body);
      return true;
    },
  };
}
