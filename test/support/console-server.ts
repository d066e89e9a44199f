/**
 * A real `latch serve --console-listen` for the console's browser tests and its bench: the
 * console built by vite into `dir/console`, the server spawned from source on free ports, and
 * the Connect API beside it for setting up data as a script would.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { build } from "vite";

export interface ConsoleServer {
  /** The console's origin, e.g. http://127.0.0.1:41234 (the Connect API is served there too). */
  readonly base: string;
  /** One latch.v1 call as JSON with the given token; a refusal throws with the server's answer. */
  api(token: string, service: string, method: string, body: unknown): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** Builds the console into `dir/console` and starts a server on it with `args` added. */
export async function startConsoleServer(dir: string, args: readonly string[]): Promise<ConsoleServer> {
  const consoleDir = join(dir, "console");
  await build({ configFile: "console/vite.config.ts", build: { outDir: consoleDir }, logLevel: "error" });
  const server = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "src/cli/main.ts",
      "serve",
      "--listen=127.0.0.1:0",
      "--console-listen=127.0.0.1:0",
      `--console-dir=${consoleDir}`,
      ...args,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const base = await consoleAddress(server);
  return {
    base,
    async api(token, service, method, body) {
      const res = await fetch(`${base}/latch.v1.${service}/${method}`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      const json = (await res.json()) as Record<string, unknown>;
      if (!res.ok) throw new Error(`${method}: ${JSON.stringify(json)}`);
      return json;
    },
    async stop() {
      server.kill("SIGTERM");
      if (server.exitCode === null && server.signalCode === null)
        await new Promise((resolve) => server.once("exit", resolve));
    },
  };
}

function consoleAddress(server: ChildProcess): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let out = "";
    let err = "";
    server.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const m = /console on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    server.stderr!.on("data", (chunk: Buffer) => {
      err += chunk.toString();
    });
    server.once("exit", (code) => reject(new Error(`latch serve exited ${code}: ${err}`)));
  });
}
