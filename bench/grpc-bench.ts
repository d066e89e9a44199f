/**
 * gRPC latency and throughput over loopback on the benchmark corpus.
 * Run: `npx tsx bench/grpc-bench.ts [scale] [--client h2load|grpc-js] [--server js|tsx]` (scale s, m
 * or l; default m). `--audit-compare[=PAIRS]` measures only issue 14's throughput target: cached
 * Checks/s with 64 in flight, auditing off against `--audit all`, in alternating pairs of servers on
 * one database (see `auditCompare`).
 *
 * The server runs in a child process (as in production: client and server do not share an event
 * loop), as compiled JavaScript: this file and what it imports, compiled by tsc into the run's
 * temporary directory, since users run `latch serve` from tsc's output (dist/cli/main.js). Under
 * tsx every function the server creates per call also goes through esbuild's `__name` helper (about
 * 2 µs a call that production never pays). `--server tsx` runs the child under tsx instead.
 * `BENCH_SERVER_NODE_ARGS` adds node options to the child, e.g. `--cpu-prof --cpu-prof-dir=DIR`
 * to profile the server under load (node refuses `--cpu-prof` in NODE_OPTIONS).
 * Two kinds of client:
 * - h2load (nghttp2's C load generator; used when it is on PATH, or with `--client h2load`): a
 *   cached Check (through latch.v1 and through SpiceDB's authzed.api.v1) sequentially and with 64
 *   in flight, beside a bare health check on the same server (the grpc-js floor), plus the server's
 *   CPU time per call. A Node client costs as much CPU as the server, so only this measures the
 *   server's latency. Always (h2load or not): the server's CPU per call of the same three, by a raw
 *   HTTP/2 client, which is what compares latch.v1 and authzed.api.v1 on a busy machine.
 * - `createClient` (grpc-js, so the numbers include our client's conversion and auth; client-bound):
 *   sequential Check (p50/p99, cold then warm cache), Checks per second with 64 in flight, and
 *   CheckBulk of 100 documents for one user. `--client grpc-js` runs only these.
 */
// First: V8 settings shared with the server (see the module).
import "../src/cli/v8-flags.js";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { connect as http2Connect } from "node:http2";
import { createRequire } from "node:module";
import { loadavg, tmpdir } from "node:os";
import { dirname, join, resolve as resolvePath } from "node:path";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { createAuditRecorder } from "../src/audit/index.js";
import { createClient, type LatchClient } from "../src/client/index.js";
import { createEngine } from "../src/engine/index.js";
import { CheckPermissionRequestSchema as AuthzedCheckPermissionRequestSchema } from "../src/gen/authzed/api/v1/permission_service_pb.js";
import { CheckPermissionRequestSchema } from "../src/gen/latch/v1/permission_service_pb.js";
import { openLatch } from "../src/open/index.js";
import { createLogger, startServer } from "../src/server/index.js";
import { createActorTokens, createDelegation, decorate } from "../src/service/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { createRandom, generateCorpus, type Scale } from "./corpus.js";
import { type CheckInput, checkMix, loadedMirror, pickFixtures } from "./fixtures.js";

const TOKEN = "bench-token-0123456789";
const pct = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
const us = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;

function line(name: string, sorted: readonly number[]) {
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  console.log(
    `${name.padEnd(48)} n=${String(sorted.length).padStart(6)}  p50 ${us(pct(sorted, 0.5)).padStart(9)}  p99 ${us(pct(sorted, 0.99)).padStart(9)}  mean ${us(mean).padStart(9)}`,
  );
}

/** Child process: serve the database until stdin closes. */
async function serveChild(db: string) {
  // As `latch serve` runs: reads through the in-memory copy.
  const store = await loadedMirror(await createSqliteStore({ path: db }));
  // BENCH_AUDIT=all|agents puts the decision recorder on the seam, as `latch serve --audit` does.
  const policy = process.env.BENCH_AUDIT;
  const audit =
    policy === "all" || policy === "agents"
      ? {
          policy: policy as "all" | "agents",
          mode: process.env.BENCH_AUDIT_MODE === "sync" ? ("sync" as const) : ("async" as const),
          // The batching knobs, to weigh the writer thread's cost a batch against its bursts.
          ...(process.env.BENCH_AUDIT_FLUSH_MS === undefined
            ? {}
            : { flushMs: Number(process.env.BENCH_AUDIT_FLUSH_MS) }),
          ...(process.env.BENCH_AUDIT_BATCH === undefined
            ? {}
            : { batchSize: Number(process.env.BENCH_AUDIT_BATCH) }),
        }
      : undefined;
  // BENCH_SEAM=open: the whole seam `latch serve` builds (openLatch: actor tokens, the recorder,
  // the approval gate, the signal gate, delegation) over the same store.
  const opened =
    process.env.BENCH_SEAM === "open"
      ? await openLatch({ store, mirror: false, ...(audit === undefined ? {} : { audit }) })
      : undefined;
  const engine = opened?.engine ?? createEngine({ store });
  const recorder =
    opened !== undefined
      ? opened.recorder
      : audit === undefined
        ? undefined
        : createAuditRecorder({ log: store.decisions, ...audit });
  const running = await startServer({
    store: opened?.store ?? store,
    engine,
    ...(opened !== undefined
      ? {
          decider: opened.decider,
          ...(opened.approvals === undefined ? {} : { approvals: opened.approvals }),
          permissions: opened.permissions,
          ...(opened.signals === undefined ? {} : { signals: opened.signals }),
        }
      : recorder === undefined
        ? {}
        : {
            decider: decorate(
              engine,
              createActorTokens(undefined),
              recorder.decorator,
              createDelegation({ maxBulkItems: 1000 }),
            ),
          }),
    tokens: [TOKEN],
    listen: "127.0.0.1:0",
    logger: createLogger("warn"),
  });
  process.stdout.write(`${running.address}\n`);
  process.stdin.resume();
  process.stdin.on("end", async () => {
    await running.shutdown(1000);
    await recorder?.close();
    // Dropped records would flatter auditing's cost: say how many there were.
    if (recorder !== undefined) process.stderr.write(`audit ${JSON.stringify(recorder.stats())}\n`);
    if (opened !== undefined) await opened.close();
    else await store.close();
    process.exit(0);
  });
}

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

/**
 * Compiles this file and what it imports (transpiled only: tsc's --noCheck) into `dir`, with the
 * project's compiler options, and returns the compiled copy of this file.
 */
/** Extra node options for the server child, e.g. `BENCH_SERVER_NODE_ARGS=--cpu-prof` to profile it. */
const serverNodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(" ").filter((a) => a !== "");

export function compileServer(dir: string): string {
  const out = join(dir, "js");
  const config = join(dir, "tsconfig.json");
  writeFileSync(
    config,
    JSON.stringify({
      extends: join(ROOT, "tsconfig.json"),
      compilerOptions: {
        rootDir: ROOT,
        outDir: out,
        typeRoots: [join(ROOT, "node_modules", "@types")],
        declaration: false,
        sourceMap: false,
      },
      files: [fileURLToPath(import.meta.url)],
      include: [],
    }),
  );
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  execFileSync(process.execPath, [tsc, "-p", config, "--noCheck"], { stdio: "inherit" });
  // Compiled modules find the project's packages, and are ES modules, as in the project.
  symlinkSync(join(ROOT, "node_modules"), join(out, "node_modules"), "dir");
  writeFileSync(join(out, "package.json"), JSON.stringify({ type: "module" }));
  return join(out, "bench", "grpc-bench.js");
}

/**
 * Starts the server child on `db`; `options.audit` overrides the child's BENCH_AUDIT (`off`: none, whatever
 * this process's environment says). `exited` resolves once a stopped child is gone (after its
 * recorder flushed and said what it wrote).
 */
export async function startChild(
  db: string,
  compiled: string | undefined,
  options: {
    readonly audit?: "off" | "all";
    /** A command the child runs under, e.g. valgrind with its options (it keeps the child's pid). */
    readonly wrapper?: readonly string[];
  } = {},
): Promise<{ address: string; pid: number; stop(): void; exited: Promise<void> }> {
  const { audit, wrapper = [] } = options;
  const env = { ...process.env };
  if (audit === "off") delete env.BENCH_AUDIT;
  else if (audit !== undefined) env.BENCH_AUDIT = audit;
  const args =
    compiled === undefined
      ? [...process.execArgv, ...serverNodeArgs, fileURLToPath(import.meta.url), "--serve", db]
      : [...serverNodeArgs, compiled, "--serve", db];
  const child = spawn(
    wrapper[0] ?? process.execPath,
    wrapper.length === 0 ? args : [...wrapper.slice(1), process.execPath, ...args],
    {
      stdio: ["pipe", "pipe", "inherit"],
      env,
    },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const address = await new Promise<string>((resolve, reject) => {
    let text = "";
    child.stdout.on("data", (chunk: Buffer) => {
      text += chunk.toString();
      const nl = text.indexOf("\n");
      if (nl >= 0) resolve(text.slice(0, nl).trim());
    });
    child.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { address, pid: child.pid!, stop: () => child.stdin.end(), exited };
}

export function onPath(command: string): boolean {
  return spawnSync(command, ["--version"], { stdio: "ignore" }).status === 0;
}

/** A gRPC length-prefixed message, as h2load sends it from a file. */
export function framed(message: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User plus system CPU seconds of a process, from /proc; undefined where there is none. */
export function cpuSeconds(pid: number): number | undefined {
  const file = `/proc/${pid}/stat`;
  if (!existsSync(file)) return undefined;
  // Fields after the command name start at field 3; utime and stime are fields 14 and 15.
  const fields = readFileSync(file, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** Each thread's user plus system CPU seconds (by thread id), from /proc; empty where there is none. */
export function threadCpuSeconds(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  const dir = `/proc/${pid}/task`;
  if (!existsSync(dir)) return out;
  for (const tid of readdirSync(dir)) {
    try {
      const fields = readFileSync(`${dir}/${tid}/stat`, "utf8").split(") ")[1]!.split(" ");
      out.set(Number(tid), (Number(fields[11]) + Number(fields[12])) / CLK_TCK);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

/**
 * Seconds a thread has waited, runnable, for a CPU (the second field of its schedstat): a
 * thread that could work but was not running, the mark of threads contending for the cores.
 */
function waitedSeconds(pid: number, tid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[1]) / 1e9;
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds of this process's children that were waited for (h2load, run synchronously). */
function childrenCpuSeconds(): number {
  const fields = readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[13]) + Number(fields[14])) / CLK_TCK;
}

/**
 * Where a server's CPU went between two `threadCpuSeconds`, per call: its main thread, then its
 * other threads, busiest first (the audit writer thread is the one that spent most with
 * `--audit all`; the rest are V8's and libuv's helpers).
 */
function threadSplit(pid: number, before: Map<number, number>, after: Map<number, number>, calls: number) {
  const per = (seconds: number) => (seconds * 1e6) / calls;
  let main = 0;
  const others: number[] = [];
  for (const [tid, seconds] of after) {
    const spent = per(seconds - (before.get(tid) ?? 0));
    if (tid === pid) main = spent;
    else if (spent > 0) others.push(spent);
  }
  others.sort((a, b) => b - a);
  return { mainUs: main, otherUs: others };
}

export interface RawTarget {
  readonly path: string;
  readonly body: Buffer;
  readonly token?: string;
}

/**
 * A minimal gRPC client on node:http2 (one session, hand-framed requests): checks grpc-status in the
 * trailers, which h2load cannot, and gives per-call latencies for a p50.
 */
export function rawClient(address: string) {
  const session = http2Connect(`http://${address}`);
  const call = (target: RawTarget) =>
    new Promise<void>((resolve, reject) => {
      const req = session.request({
        ":method": "POST",
        ":path": target.path,
        "content-type": "application/grpc",
        te: "trailers",
        ...(target.token === undefined ? {} : { authorization: `Bearer ${target.token}` }),
      });
      let grpcStatus: unknown;
      req.on("response", (h) => {
        grpcStatus ??= h["grpc-status"];
      });
      req.on("trailers", (t) => {
        grpcStatus = t["grpc-status"];
      });
      req.on("data", () => {});
      req.on("end", () =>
        grpcStatus === "0"
          ? resolve()
          : reject(new Error(`${target.path}: grpc-status ${String(grpcStatus)}`)),
      );
      req.on("error", reject);
      req.end(target.body);
    });
  return { call, close: () => session.close() };
}

const shellQuote = (arg: string) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`);

/**
 * Runs h2load against one method and prints latency percentiles (from h2load's per-request log:
 * its third column is the microseconds until the response ended), calls/s and the server's CPU
 * per call.
 */
function h2loadArgs(address: string, target: RawTarget, file: string, inFlight: number, calls: number) {
  return [
    "-c",
    "1",
    "-m",
    String(inFlight),
    "-n",
    String(calls),
    "-H",
    "content-type: application/grpc",
    "-H",
    "te: trailers",
    ...(target.token === undefined ? [] : ["-H", `authorization: Bearer ${target.token}`]),
    "-d",
    file,
    `--log-file=${file}.log`,
    `http://${address}${target.path}`,
  ];
}

export function h2load(
  label: string,
  address: string,
  target: RawTarget,
  file: string,
  inFlight: number,
  calls: number,
  pid: number,
) {
  const args = h2loadArgs(address, target, file, inFlight, calls);
  rmSync(`${file}.log`, { force: true });
  console.log(`  $ h2load ${args.map(shellQuote).join(" ")}`);
  const before = cpuSeconds(pid);
  const threadsBefore = threadCpuSeconds(pid);
  const waitedBefore = waitedSeconds(pid, pid);
  const clientBefore = childrenCpuSeconds();
  const t0 = performance.now();
  const out = execFileSync("h2load", args, { encoding: "utf8", maxBuffer: 1 << 24 });
  const wallSeconds = (performance.now() - t0) / 1000;
  const clientUs = ((childrenCpuSeconds() - clientBefore) * 1e6) / calls;
  const waitedUs = ((waitedSeconds(pid, pid) - waitedBefore) * 1e6) / calls;
  const threads = threadSplit(pid, threadsBefore, threadCpuSeconds(pid), calls);
  const after = cpuSeconds(pid);
  const rate = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(out)?.[1];
  const mean = /time for request:\s+\S+\s+\S+\s+(\S+)/.exec(out)?.[1];
  const micros = readFileSync(`${file}.log`, "utf8")
    .split("\n")
    .filter((row) => row !== "")
    .map((row) => Number(row.split("\t")[2]))
    .sort((a, b) => a - b);
  const at = (q: number) => `${micros[Math.min(micros.length - 1, Math.floor(micros.length * q))]}us`;
  const succeeded = Number(/(\d+) succeeded/.exec(out)?.[1] ?? 0);
  const cpu =
    before === undefined || after === undefined
      ? ""
      : `  server CPU ${(((after - before) * 1e6) / calls).toFixed(0)} µs/call`;
  console.log(
    `${label.padEnd(48)} p50 ${at(0.5).padStart(7)}  p99 ${at(0.99).padStart(7)}  mean ${String(mean).padStart(7)}  ${Number(rate).toFixed(0).padStart(6)} /s${cpu}${succeeded === calls ? "" : `  (only ${succeeded} of ${calls} succeeded)`}`,
  );
  const shown = (us: number) => us.toFixed(1);
  console.log(
    `${"".padEnd(48)} CPU µs/call: server main ${shown(threads.mainUs)} (busy ${((threads.mainUs * calls) / (wallSeconds * 1e4)).toFixed(0)}% of the run, waited for a CPU ${shown(waitedUs)} µs/call), other threads [${threads.otherUs
      .slice(0, 4)
      .map(shown)
      .join(", ")}${threads.otherUs.length > 4 ? ", ..." : ""}], h2load ${shown(clientUs)}`,
  );
  const serverCpuUs =
    before === undefined || after === undefined ? undefined : ((after - before) * 1e6) / calls;
  return {
    rate: Number(rate),
    serverCpuUs,
    succeeded,
    mainUs: threads.mainUs,
    waitedUs,
    otherUs: threads.otherUs.reduce((a, b) => a + b, 0),
    clientUs,
    p50Us: micros[Math.min(micros.length - 1, Math.floor(micros.length * 0.5))],
  };
}

/**
 * What the raw clients send: a bare health check (grpc-js and HTTP/2 with no Latch code: the floor),
 * and the same cached Check through latch.v1 and through SpiceDB's authzed.api.v1.
 */
export function rawTargets(input: CheckInput) {
  const floor: RawTarget = { path: "/grpc.health.v1.Health/Check", body: framed(new Uint8Array()) };
  const resource = { objectType: input.resource.type, objectId: input.resource.id };
  const subject = { object: { objectType: input.subject.type, objectId: input.subject.id } };
  const check: RawTarget = {
    path: "/latch.v1.PermissionService/CheckPermission",
    token: TOKEN,
    body: framed(
      toBinary(
        CheckPermissionRequestSchema,
        create(CheckPermissionRequestSchema, { resource, permission: input.permission, subject }),
      ),
    ),
  };
  const authzedCheck: RawTarget = {
    path: "/authzed.api.v1.PermissionsService/CheckPermission",
    token: TOKEN,
    body: framed(
      toBinary(
        AuthzedCheckPermissionRequestSchema,
        create(AuthzedCheckPermissionRequestSchema, { resource, permission: input.permission, subject }),
      ),
    ),
  };
  return { floor, check, authzedCheck };
}

/**
 * The server measured by a C client: a cached Check (latch.v1 and authzed.api.v1) sequentially and
 * with 64 in flight, beside a health check on the same server (the floor).
 */
async function h2loadCases(server: { address: string; pid: number }, dir: string, input: CheckInput) {
  const { floor, check, authzedCheck } = rawTargets(input);
  const raw = rawClient(server.address);
  try {
    // h2load counts HTTP 200 as success and cannot see grpc-status: check each target once here
    // (which also puts the Check's answer in the cache).
    await raw.call(floor);
    await raw.call(check);
    await raw.call(authzedCheck);
    const cases = [
      ["floor (health check)", floor],
      ["check, cached", check],
      ["authzed check, cached", authzedCheck],
    ] as const;
    const fileOf = (name: string) => join(dir, `${name.replace(/\W+/g, "-")}.bin`);
    // Every case warmed up before any is measured: else the first one measured (the floor) also
    // pays for the server's JIT warm-up of grpc-js and HTTP/2, which the later ones find done.
    for (const [name, target] of cases) {
      writeFileSync(fileOf(name), target.body);
      execFileSync("h2load", h2loadArgs(server.address, target, fileOf(name), 8, 20_000), {
        stdio: "ignore",
      });
    }
    console.log(
      `h2load (server measured by a C client after 20,000 calls of each case to warm up; ${CLK_TCK} Hz CPU accounting):`,
    );
    for (const [name, target] of cases) {
      const file = fileOf(name);
      h2load(`h2load ${name}, sequential`, server.address, target, file, 1, 20_000, server.pid);
      h2load(`h2load ${name}, 64 in flight`, server.address, target, file, 64, 200_000, server.pid);
    }
    // For comparison: a sequential raw HTTP/2 client from Node (it adds its own 50-100 µs).
    for (const [name, target] of cases) {
      for (let i = 0; i < 1_000; i++) await raw.call(target);
      const times: number[] = [];
      for (let i = 0; i < 10_000; i++) {
        const t = performance.now();
        await raw.call(target);
        times.push(performance.now() - t);
      }
      line(
        `raw http2: ${name}, sequential`,
        times.sort((a, b) => a - b),
      );
    }
  } finally {
    raw.close();
  }
}

/**
 * The server's CPU per call (from /proc, so a loaded machine blurs it less than wall time), for the
 * same cached Check through latch.v1 and authzed.api.v1, by a raw HTTP/2 client with 16 in flight:
 * rounds alternate the cases, and each case's median round is shown. Needs no h2load.
 */
async function serverCpuCases(server: { address: string; pid: number }, input: CheckInput) {
  if (cpuSeconds(server.pid) === undefined) return;
  const { floor, check, authzedCheck } = rawTargets(input);
  const cases = [
    ["floor (health check)", floor],
    ["latch.v1 check, cached", check],
    ["authzed.api.v1 check, cached", authzedCheck],
  ] as const;
  const raw = rawClient(server.address);
  const run = async (target: RawTarget, calls: number) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next++ < calls) await raw.call(target);
      }),
    );
  };
  try {
    for (const [, target] of cases) await run(target, 20_000);
    // 100 Hz CPU accounting: 20,000 calls of ~40 µs are ~80 ticks, a resolution near 1%.
    const rounds = 7;
    const calls = 20_000;
    const perCall = new Map<string, number[]>(cases.map(([name]) => [name, []]));
    for (let r = 0; r < rounds; r++) {
      for (const [name, target] of cases) {
        const before = cpuSeconds(server.pid)!;
        await run(target, calls);
        perCall.get(name)!.push(((cpuSeconds(server.pid)! - before) * 1e6) / calls);
      }
    }
    console.log(
      `server CPU per call (raw http2 client, 16 in flight, median of ${rounds} rounds of ${calls}):`,
    );
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    for (const [name] of cases) {
      const xs = perCall.get(name)!;
      console.log(
        `  ${name.padEnd(46)} ${median(xs).toFixed(1).padStart(6)} µs/call  (rounds: ${xs.map((x) => x.toFixed(1)).join(", ")})`,
      );
    }
  } finally {
    raw.close();
  }
}

/**
 * Issue 14's throughput target, measured in one run: cached Checks/s (latch.v1, h2load, 64 in
 * flight) with auditing off and with `--audit all`, each on a server started for it on the same
 * database, in `rounds` pairs. Pairs alternate which goes first, so a machine slowing down during
 * the run does not always count against the same side; per pair the ratio all/off, then the median.
 */
async function auditCompare(
  db: string,
  compiled: string | undefined,
  dir: string,
  input: CheckInput,
  rounds: number,
) {
  const { check } = rawTargets(input);
  const file = join(dir, "audit-compare.bin");
  writeFileSync(file, check.body);
  // Fewer on a machine too busy for 200,000 a side in reasonable time (BENCH_AUDIT_COMPARE_CALLS).
  const calls = Number(process.env.BENCH_AUDIT_COMPARE_CALLS ?? 200_000);
  const measure = async (audit: "off" | "all", round: number) => {
    const server = await startChild(db, compiled, { audit });
    const raw = rawClient(server.address);
    try {
      // h2load cannot see grpc-status: one checked call first (it also fills the cache).
      await raw.call(check);
      execFileSync("h2load", h2loadArgs(server.address, check, file, 8, 20_000), { stdio: "ignore" });
      const load = loadavg()[0]!.toFixed(2);
      const label = `round ${round + 1}, audit ${audit} (load ${load}), 64 in flight`;
      return h2load(label, server.address, check, file, 64, calls, server.pid);
    } finally {
      raw.close();
      server.stop();
      await server.exited;
    }
  };
  const mode = process.env.BENCH_AUDIT_MODE === "sync" ? "sync" : "async";
  console.log(
    `audit compare: cached latch.v1 Check, h2load, 64 in flight, ${calls} calls per side, ${rounds} pairs, audit all ${mode} (load average at start ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")})`,
  );
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? (["off", "all"] as const) : (["all", "off"] as const);
    const got: Record<string, ReturnType<typeof h2load>> = {};
    for (const audit of order) got[audit] = await measure(audit, r);
    const off = got.off!;
    const all = got.all!;
    if (off.succeeded !== calls || all.succeeded !== calls) throw new Error("h2load: calls failed");
    const ratio = all.rate / off.rate;
    ratios.push(ratio);
    console.log(
      `pair ${r + 1}: off ${off.rate.toFixed(0)} /s, all ${all.rate.toFixed(0)} /s: all/off ${(ratio * 100).toFixed(1)}%; CPU µs/call all minus off: server main ${(all.mainUs - off.mainUs).toFixed(1)} (its wait for a CPU ${(all.waitedUs - off.waitedUs).toFixed(1)}), other threads ${(all.otherUs - off.otherUs).toFixed(1)}, h2load ${(all.clientUs - off.clientUs).toFixed(1)}`,
    );
  }
  const sorted = [...ratios].sort((a, b) => a - b);
  console.log(
    `audit all / off, Checks/s at 64 in flight: median ${(sorted[Math.floor(sorted.length / 2)]! * 100).toFixed(1)}% of ${rounds} pairs (${ratios.map((x) => `${(x * 100).toFixed(1)}%`).join(", ")}); load average at end ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
}

async function sequential(client: LatchClient, inputs: readonly CheckInput[]): Promise<number[]> {
  const out: number[] = [];
  for (const input of inputs) {
    const t0 = performance.now();
    await client.check(input);
    out.push(performance.now() - t0);
  }
  return out.sort((a, b) => a - b);
}

async function concurrent(client: LatchClient, inputs: readonly CheckInput[], inFlight: number) {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < inputs.length) {
        const input = inputs[next++]!;
        await client.check(input);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  return inputs.length / seconds;
}

function parseArgs(argv: readonly string[]): {
  scale: Scale;
  h2load: boolean;
  grpcJs: boolean;
  compiledServer: boolean;
  auditCompare: number | undefined;
} {
  let scale: Scale = "m";
  let client: string | undefined;
  let server = "js";
  let auditCompare: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--audit-compare") auditCompare = 3;
    else if (arg.startsWith("--audit-compare=")) auditCompare = Number(arg.slice("--audit-compare=".length));
    else if (arg === "--client") client = argv[++i];
    else if (arg.startsWith("--client=")) client = arg.slice("--client=".length);
    else if (arg === "--server") server = argv[++i] ?? "";
    else if (arg.startsWith("--server=")) server = arg.slice("--server=".length);
    else if (["s", "m", "l"].includes(arg)) scale = arg as Scale;
    else
      throw new Error(
        `unknown argument "${arg}" (expected s, m, l, --client h2load|grpc-js, --server js|tsx or --audit-compare[=PAIRS])`,
      );
  }
  if (auditCompare !== undefined && !(Number.isInteger(auditCompare) && auditCompare > 0))
    throw new Error("--audit-compare=PAIRS: a positive whole number of pairs");
  if (auditCompare !== undefined) {
    if (!onPath("h2load")) throw new Error("--audit-compare needs h2load on PATH (nghttp2-client)");
    return { scale, h2load: true, grpcJs: false, compiledServer: server === "js", auditCompare };
  }
  if (client !== undefined && client !== "h2load" && client !== "grpc-js")
    throw new Error(`--client must be h2load or grpc-js, got "${client}"`);
  if (server !== "js" && server !== "tsx") throw new Error(`--server must be js or tsx, got "${server}"`);
  const hasH2load = onPath("h2load");
  if (client === "h2load" && !hasH2load)
    throw new Error("--client h2load: h2load is not on PATH (nghttp2-client)");
  if (client === undefined && !hasH2load)
    console.log("h2load not on PATH: only the grpc-js client cases (install nghttp2-client for the others)");
  return {
    scale,
    h2load: client !== "grpc-js" && hasH2load,
    grpcJs: client !== "h2load",
    compiledServer: server === "js",
    auditCompare,
  };
}

async function main() {
  const {
    scale,
    h2load: withH2load,
    grpcJs,
    compiledServer,
    auditCompare: pairs,
  } = parseArgs(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), "latch-grpc-bench-"));
  const db = join(dir, "bench.db");
  try {
    const t0 = performance.now();
    const corpus = generateCorpus(scale);
    const store = await createSqliteStore({ path: db });
    await store.writeSchema(corpus.schema);
    await store.importRelationships(corpus.relationships, { batchSize: 20_000 });
    await store.close();
    console.log(
      `corpus ${scale}: ${corpus.relationships.length} relationships loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    const fx = pickFixtures(corpus, 2_000);
    const random = createRandom(11);
    const mix = checkMix(fx, 6_000, random);
    if (pairs !== undefined) {
      await auditCompare(db, compiledServer ? compileServer(dir) : undefined, dir, fx.direct[0]!, pairs);
      return;
    }

    // The engine alone, in this process, on the same inputs: what the network and API add is the rest.
    {
      const local = await createSqliteStore({ path: db });
      const engine = createEngine({ store: local });
      const timeEngine = async (inputs: readonly CheckInput[]) => {
        const out: number[] = [];
        for (const input of inputs) {
          const t = performance.now();
          await engine.check(input);
          out.push(performance.now() - t);
        }
        return out.sort((a, b) => a - b);
      };
      await timeEngine(mix.slice(0, 300));
      line("engine only, first sight", await timeEngine(mix.slice(300)));
      line("engine only, warm cache", await timeEngine(mix));
      const bulkRandom = createRandom(5);
      const engineBulk: number[] = [];
      for (let r = 0; r < 120; r++) {
        const items = Array.from({ length: 100 }, () => ({
          resource: {
            type: "document",
            id: fx.documentIds[Math.floor(bulkRandom() * fx.documentIds.length)]!,
          },
          permission: "view",
          subject: { type: "user", id: fx.typicalUser },
        }));
        const t = performance.now();
        await engine.checkBulk({ items });
        if (r >= 20) engineBulk.push(performance.now() - t);
      }
      line(
        "engine only, checkBulk(100)",
        engineBulk.sort((a, b) => a - b),
      );
      await local.close();
    }

    const compiled = compiledServer ? compileServer(dir) : undefined;
    console.log(
      compiled === undefined
        ? "server child: under tsx (--server tsx)"
        : `server child: compiled JavaScript (tsc into ${join(dir, "js")}), as latch serve runs from dist/`,
    );
    const server = await startChild(db, compiled);
    const client = createClient({ address: server.address, token: TOKEN });
    try {
      if (withH2load) await h2loadCases(server, dir, fx.direct[0]!);
      await serverCpuCases(server, fx.direct[0]!);
      if (!grpcJs) return;
      // From here the client is grpc-js in this process: it costs as much CPU as the server, so
      // these numbers are bound by the client as much as by Latch.
      // The floor: a health check is a gRPC round trip that does no work of ours.
      const Health = grpc.makeGenericClientConstructor(healthService, "Health");
      const health = new Health(server.address, grpc.credentials.createInsecure()) as unknown as {
        check(req: object, cb: (e: Error | null) => void): void;
        close(): void;
      };
      const ping = () =>
        new Promise<void>((res, rej) => health.check({ service: "" }, (e) => (e ? rej(e) : res())));
      const pings: number[] = [];
      for (let i = 0; i < 3300; i++) {
        const t = performance.now();
        await ping();
        if (i >= 300) pings.push(performance.now() - t);
      }
      line(
        "grpc-js client: health check, sequential",
        pings.sort((a, b) => a - b),
      );
      let sent = 0;
      const tp = performance.now();
      await Promise.all(
        Array.from({ length: 64 }, async () => {
          while (sent++ < 20_000) await ping();
        }),
      );
      console.log(
        `${"grpc-js client: health checks/s, 64 in flight".padEnd(48)} ${(20_000 / ((performance.now() - tp) / 1000)).toFixed(0)} /s`,
      );
      health.close();

      await sequential(client, mix.slice(0, 300)); // connection and JIT warm-up
      line("grpc-js client: check sequential, first sight", await sequential(client, mix.slice(300)));
      line("grpc-js client: check sequential, warm cache", await sequential(client, mix));
      const many = Array.from({ length: 30_000 }, (_, i) => mix[i % mix.length]!);
      await concurrent(client, many.slice(0, 2_000), 64);
      const rate = await concurrent(client, many, 64);
      console.log(`${"grpc-js client: checks/s, 64 in flight".padEnd(48)} ${rate.toFixed(0)} /s`);

      const docs = fx.documentIds;
      const bulk: number[] = [];
      for (let r = 0; r < 220; r++) {
        const items = Array.from({ length: 100 }, () => ({
          resource: { type: "document", id: docs[Math.floor(random() * docs.length)]! },
          permission: "view",
          subject: { type: "user", id: fx.typicalUser },
        }));
        const t = performance.now();
        await client.checkBulk({ items });
        if (r >= 20) bulk.push(performance.now() - t);
      }
      line(
        "grpc-js client: checkBulk(100), random docs",
        bulk.sort((a, b) => a - b),
      );
    } finally {
      await client.close();
      server.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// bench/client-bench.ts imports the server child's helpers: only a run of this file measures.
const isMain =
  process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolvePath(process.argv[1]);
if (process.argv[2] === "--serve") await serveChild(process.argv[3]!);
else if (isMain) await main();
