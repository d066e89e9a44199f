/** JSON logs (pino) and Prometheus metrics (prom-client) on their own HTTP port. */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import type { AddressInfo, Server } from "node:net";
import { status } from "@grpc/grpc-js";
import { type DestinationStream, type LevelWithSilent, type Logger, pino } from "pino";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { EngineStats } from "../engine/index.js";
import type { ReadReplicaStatus, Store } from "../store/index.js";
import type { MirrorStats } from "../store/mirror/index.js";
import type { CallObserver } from "./grpc-adapter.js";

export function createLogger(level: LevelWithSilent = "info", destination?: DestinationStream): Logger {
  return pino({ level, base: { service: "latch" }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

/** What the audit recorder counts (`AuditRecorder.stats()`), as the metrics read it. */
export interface AuditCounts {
  readonly queued: number;
  readonly dropped: number;
  readonly written: number;
  readonly failed: number;
}

export interface Metrics extends CallObserver {
  readonly registry: Registry;
  /** Wraps a store so that every async call is timed per operation. */
  instrumentStore(store: Store): Store;
  /** Publishes the audit recorder's counts (queue depth, records written, dropped, failed). */
  watchAudit(stats: () => AuditCounts): void;
  /** One append to the audit trail took this long (the recorder's `onAppend`). */
  observeAuditAppend(seconds: number): void;
}

export function createMetrics(
  engineStats: () => EngineStats,
  options: {
    defaultMetrics?: boolean;
    /** The in-memory copy's state, when the server has one. */
    mirrorStats?: () => MirrorStats;
    /** The datastore's read replicas (PostgreSQL hot standbys), when it has some. */
    readReplicas?: () => readonly ReadReplicaStatus[];
  } = {},
): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: "latch_grpc_requests_total",
    help: "gRPC calls by method and status code",
    labelNames: ["method", "code"] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: "latch_grpc_request_duration_seconds",
    help: "gRPC call latency by method and status code",
    labelNames: ["method", "code"] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  });
  const storeLatency = new Histogram({
    name: "latch_store_operation_duration_seconds",
    help: "Datastore call latency by operation",
    labelNames: ["operation"] as const,
    buckets: [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
    registers: [registry],
  });
  new Gauge({
    name: "latch_engine_cache_hit_ratio",
    help: "Share of dispatched subproblems answered from the cache since start",
    registers: [registry],
    collect() {
      const s = engineStats();
      const total = s.cacheHits + s.cacheMisses;
      this.set(total === 0 ? 0 : s.cacheHits / total);
    },
  });
  for (const [name, key] of [
    ["latch_engine_cache_hits", "cacheHits"],
    ["latch_engine_cache_misses", "cacheMisses"],
    ["latch_engine_dispatches", "dispatches"],
  ] as const) {
    new Gauge({
      name,
      help: `Engine ${key} since start`,
      registers: [registry],
      collect() {
        this.set(engineStats()[key]);
      },
    });
  }

  const mirrorStats = options.mirrorStats;
  if (mirrorStats !== undefined) {
    for (const [name, help, value] of [
      [
        "latch_mirror_ready",
        "1 while the in-memory copy answers reads, else 0",
        (s: MirrorStats) => (s.state === "ready" ? 1 : 0),
      ],
      [
        "latch_mirror_relationships",
        "Relationships held by the in-memory copy",
        (s: MirrorStats) => s.relationships,
      ],
      [
        "latch_mirror_revision",
        "Newest revision applied to the in-memory copy",
        (s: MirrorStats) => Number(s.revision),
      ],
      [
        "latch_mirror_versioned",
        "Entries the in-memory copy keeps with their revisions (written since its floor, or deleted and not yet dropped) until compaction settles them",
        (s: MirrorStats) => s.versioned,
      ],
    ] as const) {
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(value(mirrorStats()));
        },
      });
    }
    registerMirrorSetMetrics(registry, mirrorStats);
  }

  if (options.readReplicas !== undefined) registerReplicaMetrics(registry, options.readReplicas);

  const auditAppend = new Histogram({
    name: "latch_audit_write_duration_seconds",
    help: "Time of one append (one transaction, a batch of decision records) to the audit trail",
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });

  return {
    registry,
    watchAudit(stats) {
      new Gauge({
        name: "latch_audit_queue_depth",
        help: "Decision records waiting to be appended to the audit trail (async mode)",
        registers: [registry],
        collect() {
          this.set(stats().queued);
        },
      });
      for (const [name, help, key] of [
        ["latch_audit_records_written_total", "Decision records committed to the audit trail", "written"],
        [
          "latch_audit_records_dropped_total",
          "Decision records dropped because the async queue was full (always 0 in sync mode)",
          "dropped",
        ],
        [
          "latch_audit_records_failed_total",
          "Decision records whose append failed (async: lost; sync: decision refused, or answered with allow-and-alert)",
          "failed",
        ],
      ] as const) {
        let seen = 0;
        new Counter({
          name,
          help,
          registers: [registry],
          collect() {
            // The recorder keeps the running totals; a counter only ever moves up to them.
            const now = stats()[key];
            if (now > seen) this.inc(now - seen);
            seen = now;
          },
        });
      }
    },
    observeAuditAppend(seconds) {
      auditAppend.observe(seconds);
    },
    onCallEnd({ method, code, seconds }) {
      const labels = { method, code: status[code] ?? String(code) };
      requests.inc(labels);
      latency.observe(labels, seconds);
    },
    instrumentStore(store) {
      return new Proxy(store, {
        get(target, prop, receiver) {
          const value = Reflect.get(target, prop, receiver) as unknown;
          if (typeof value !== "function" || typeof prop !== "string") return value;
          return (...args: unknown[]) => {
            const started = process.hrtime.bigint();
            const result = (value as (...a: unknown[]) => unknown).apply(target, args);
            if (result instanceof Promise) {
              const done = () =>
                storeLatency.observe({ operation: prop }, Number(process.hrtime.bigint() - started) / 1e9);
              result.then(done, done);
            }
            return result;
          };
        },
      });
    },
  };
}

/**
 * Over its limit the copy holds some (type, relation) sets only: which, how large, and how many
 * reads each set it does not hold sends to the datastore (the cost of its absence).
 */
function registerMirrorSetMetrics(registry: Registry, mirrorStats: () => MirrorStats): void {
  new Gauge({
    name: "latch_mirror_partial",
    help: "1 while the in-memory copy is over its limit and holds some relation sets only, else 0",
    registers: [registry],
    collect() {
      this.set(mirrorStats().partial ? 1 : 0);
    },
  });
  new Gauge({
    name: "latch_mirror_set_relationships",
    help: "Relationships of one resource type and relation: held by the in-memory copy (mirrored=1), or when it let the set go (mirrored=0)",
    labelNames: ["resource_type", "relation", "mirrored"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const set of mirrorStats().sets) {
        this.set(
          { resource_type: set.type, relation: set.relation, mirrored: set.mirrored ? "1" : "0" },
          set.relationships,
        );
      }
    },
  });
  new Gauge({
    name: "latch_mirror_set_store_reads",
    help: "Reads of a relation set the in-memory copy does not hold, sent to the datastore since it let the set go",
    labelNames: ["resource_type", "relation"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const set of mirrorStats().sets) {
        if (!set.mirrored) this.set({ resource_type: set.type, relation: set.relation }, set.storeReads);
      }
    },
  });
}

/** Per read replica: whether it is up, the revision it has replayed, the reads it answered and lost. */
function registerReplicaMetrics(registry: Registry, statuses: () => readonly ReadReplicaStatus[]): void {
  const labelNames = ["replica"] as const;
  for (const [name, help, value] of [
    [
      "latch_datastore_read_replica_up",
      "1 while the read replica answers reads, 0 while it is down or not a copy of this datastore",
      (s: ReadReplicaStatus) => (s.state === "up" ? 1 : 0),
    ],
    [
      "latch_datastore_read_replica_revision",
      "Newest revision the read replica was seen to have replayed",
      (s: ReadReplicaStatus) => Number(s.revision ?? 0n),
    ],
  ] as const) {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        for (const s of statuses()) this.set({ replica: s.name }, value(s));
      },
    });
  }
  for (const [name, help, key] of [
    ["latch_datastore_read_replica_reads_total", "Reads the read replica answered", "reads"],
    [
      "latch_datastore_read_replica_failures_total",
      "Reads that failed on the read replica and were answered elsewhere (another replica or the primary)",
      "failures",
    ],
  ] as const) {
    const seen = new Map<string, number>();
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        // The store keeps the running totals; a counter only ever moves up to them.
        for (const s of statuses()) {
          const before = seen.get(s.name) ?? 0;
          if (s[key] > before) this.inc({ replica: s.name }, s[key] - before);
          seen.set(s.name, s[key]);
        }
      },
    });
  }
}

export interface MetricsServer {
  readonly address: string;
  close(): Promise<void>;
}

const digest = (text: string) => createHash("sha256").update(text, "utf8").digest();

/** Whether the request carries `Authorization: Bearer <token>`; constant time in the token. */
function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  const match = header === undefined ? null : /^Bearer\s+(.+)$/i.exec(header);
  return match !== null && timingSafeEqual(digest(match[1]!.trim()), expected);
}

/**
 * Serves `GET /metrics` on its own port so that scraping needs no gRPC token. With `token`, a
 * scrape must send `Authorization: Bearer <token>` (Prometheus: `authorization: { credentials }`);
 * others get 401. Without it, whoever reaches the port reads the metrics: bind it to a private
 * address.
 */
export async function startMetricsServer(
  registry: Registry,
  listen: string,
  options: { readonly token?: string } = {},
): Promise<MetricsServer> {
  const { host, port } = splitHostPort(listen);
  const expected = options.token === undefined ? undefined : digest(options.token);
  const server: HttpServer = createHttpServer((req, res) => {
    if (req.method === "GET" && req.url?.split("?")[0] === "/metrics") {
      if (expected !== undefined && !bearerMatches(req.headers.authorization, expected)) {
        res.writeHead(401, { "www-authenticate": 'Bearer realm="metrics"' });
        res.end();
        return;
      }
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { "content-type": registry.contentType });
          res.end(text);
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    address: `${addr.family === "IPv6" ? `[${addr.address}]` : addr.address}:${addr.port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export function splitHostPort(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen);
  if (m === null) throw new Error(`expected HOST:PORT, got "${listen}"`);
  return { host: m[1] ?? (m[2] === "" ? "0.0.0.0" : m[2]!), port: Number(m[3]) };
}

/** Listens on HOST:PORT and answers the address bound (the port chosen when it was 0). */
export async function listenOn(server: Server, address: string): Promise<string> {
  const { host, port } = splitHostPort(address);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return `${bound.family === "IPv6" ? `[${bound.address}]` : bound.address}:${bound.port}`;
}
