/**
 * The TypeScript client on a large LookupResources (issue 22): one user who can view `N` documents,
 * the whole answer read by `client.lookupResources`, over grpc-js and over the h2 framing
 * (stream-call.ts), rounds alternating in one run against the same server. Per transport: results/s
 * (wall clock: on a loaded machine only the ratio of the same run means much) and the client's CPU
 * per result (this process's user+system time over the round; the server runs in a child
 * process), with the server's CPU per result beside (/proc).
 * Run: `npx tsx bench/client-lookup-bench.ts [N] [rounds] [only]` (default 50000 results, 5 rounds;
 * `only` is a case name's start, e.g. `h2` for a profile of that transport alone).
 */
import "../src/cli/v8-flags.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ClientOptions, createClient } from "../src/client/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { compileServer, cpuSeconds, startChild } from "./grpc-bench.js";

const TOKEN = "bench-token-0123456789";
const SCHEMA =
  "definition user {}\ndefinition document {\n  relation viewer: user\n  permission view = viewer\n}";

const CASES: Record<string, Partial<ClientOptions>> = Object.fromEntries(
  Object.entries({
    "grpc-js": { transport: "grpc-js" },
    "h2 framing (default)": {},
  } satisfies Record<string, Partial<ClientOptions>>).filter(([name]) =>
    name.startsWith(process.argv[4] ?? ""),
  ),
);

interface Round {
  readonly results: number;
  readonly seconds: number;
  readonly clientCpuUs: number;
  readonly serverCpuUs: number | undefined;
}

async function round(address: string, pid: number, options: Partial<ClientOptions>): Promise<Round> {
  const client = createClient({ address, token: TOKEN, batch: false, ...options });
  try {
    // Connections are opened outside the measured part.
    await client.readSchema();
    const server0 = cpuSeconds(pid);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let results = 0;
    for await (const r of client.lookupResources({
      resourceType: "document",
      permission: "view",
      subject: "user:reader",
    }))
      if (r.resourceId !== "") results++;
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const server1 = cpuSeconds(pid);
    return {
      results,
      seconds,
      clientCpuUs: cpu.user + cpu.system,
      serverCpuUs: server0 === undefined || server1 === undefined ? undefined : (server1 - server0) * 1e6,
    };
  } finally {
    await client.close();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main() {
  const n = Number(process.argv[2] ?? 50_000);
  const rounds = Number(process.argv[3] ?? 5);
  const dir = mkdtempSync(join(tmpdir(), "latch-client-lookup-bench-"));
  const db = join(dir, "bench.db");
  try {
    const store = await createSqliteStore({ path: db });
    await store.writeSchema(SCHEMA);
    await store.importRelationships(
      Array.from({ length: n }, (_, i) => ({
        resource: { type: "document", id: `doc-${String(i).padStart(7, "0")}` },
        relation: "viewer",
        subject: { type: "user", id: "reader" },
      })),
      { batchSize: 20_000 },
    );
    await store.close();
    const server = await startChild(db, compileServer(dir));
    console.log(
      `${n} results per lookup, ${rounds} rounds per transport, alternating; server pid ${server.pid}`,
    );
    try {
      // One unmeasured lookup each, so both see the same warm server and a warm client.
      for (const options of Object.values(CASES)) await round(server.address, server.pid, options);
      const seen: Record<string, Round[]> = {};
      for (let r = 0; r < rounds; r++)
        for (const [name, options] of Object.entries(CASES)) {
          const result = await round(server.address, server.pid, options);
          if (result.results !== n) throw new Error(`${name}: ${result.results} results, expected ${n}`);
          const list = seen[name] ?? [];
          list.push(result);
          seen[name] = list;
        }
      console.log(
        "| client | results/s (median) | client CPU per result (median) | server CPU per result (median) |",
      );
      console.log("| --- | ---: | ---: | ---: |");
      for (const [name, list] of Object.entries(seen)) {
        const rate = median(list.map((x) => x.results / x.seconds));
        const client = median(list.map((x) => x.clientCpuUs / x.results));
        const serverCpu = list.every((x) => x.serverCpuUs !== undefined)
          ? `${median(list.map((x) => x.serverCpuUs! / x.results)).toFixed(2)} µs`
          : "n/a";
        console.log(`| ${name} | ${rate.toFixed(0)} | ${client.toFixed(2)} µs | ${serverCpu} |`);
      }
      console.log(
        `load average ${(await import("node:os"))
          .loadavg()
          .map((x) => x.toFixed(1))
          .join(" ")} (wall-clock rates are noise on a loaded machine; compare CPU)`,
      );
    } finally {
      server.stop();
      await server.exited;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
