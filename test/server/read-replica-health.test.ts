/** Read replicas in health (a service name each) and in metrics, from the statuses a store reports. */
import type { HealthImplementation } from "grpc-health-check";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createMetrics, READ_REPLICA_HEALTH_PREFIX, watchReadReplicas } from "../../src/server/index.js";
import type { ReadReplicaStatus } from "../../src/store/index.js";

const engineStats = () => ({ cacheHits: 0, cacheMisses: 0, dispatches: 0 });

function replica(name: string, over: Partial<ReadReplicaStatus> = {}): ReadReplicaStatus {
  return { name, state: "up", revision: 7n, reads: 0, failures: 0, ...over };
}

/** A health service that remembers each status set, and a log that remembers each line. */
function recorders() {
  const statuses = new Map<string, string>();
  const health = {
    setStatus: (name: string, status: string) => statuses.set(name, status),
  } as unknown as HealthImplementation;
  const lines: { level: number; msg: string; replica?: string }[] = [];
  const log = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { statuses, health, lines, log };
}

describe("read replicas in health", () => {
  it("gives each replica a health name that follows its state, and logs each change once", () => {
    let current = [replica("a:5432/db"), replica("b:5432/db", { state: "down", error: "not probed yet" })];
    const { statuses, health, lines, log } = recorders();
    const watch = watchReadReplicas({ statuses: () => current, health, log, intervalMs: 60_000 });
    try {
      expect(statuses.get(`${READ_REPLICA_HEALTH_PREFIX}a:5432/db`)).toBe("SERVING");
      expect(statuses.get(`${READ_REPLICA_HEALTH_PREFIX}b:5432/db`)).toBe("NOT_SERVING");
      // The overall status is not the replicas' to set: the primary answers every read.
      expect(statuses.has("")).toBe(false);

      current = [replica("a:5432/db", { state: "down", error: "connect ECONNREFUSED" }), current[1]!];
      watch.check();
      watch.check();
      expect(statuses.get(`${READ_REPLICA_HEALTH_PREFIX}a:5432/db`)).toBe("NOT_SERVING");
      const lost = lines.filter((l) => l.msg.startsWith("read replica unreachable"));
      expect(lost.map((l) => l.replica)).toEqual(["a:5432/db"]);

      current = [replica("a:5432/db"), replica("b:5432/db", { state: "mismatched", error: "holds store x" })];
      watch.check();
      expect(statuses.get(`${READ_REPLICA_HEALTH_PREFIX}a:5432/db`)).toBe("SERVING");
      expect(
        lines.some((l) => l.msg.startsWith("read replica is not a copy") && l.replica === "b:5432/db"),
      ).toBe(true);
    } finally {
      watch.stop();
    }
  });
});

describe("read replicas in metrics", () => {
  it("publishes up, revision, and reads and failures as counters that only move up", async () => {
    let current = [replica("a:5432/db", { reads: 3, failures: 1 }), replica("b:5432/db", { state: "down" })];
    const metrics = createMetrics(engineStats, { defaultMetrics: false, readReplicas: () => current });
    const first = await metrics.registry.metrics();
    expect(first).toContain('latch_datastore_read_replica_up{replica="a:5432/db"} 1');
    expect(first).toContain('latch_datastore_read_replica_up{replica="b:5432/db"} 0');
    expect(first).toContain('latch_datastore_read_replica_revision{replica="a:5432/db"} 7');
    expect(first).toContain('latch_datastore_read_replica_reads_total{replica="a:5432/db"} 3');
    expect(first).toContain('latch_datastore_read_replica_failures_total{replica="a:5432/db"} 1');
    current = [replica("a:5432/db", { reads: 10, failures: 1 }), current[1]!];
    const second = await metrics.registry.metrics();
    expect(second).toContain('latch_datastore_read_replica_reads_total{replica="a:5432/db"} 10');
    expect(second).toContain('latch_datastore_read_replica_failures_total{replica="a:5432/db"} 1');
  });

  it("has no replica metrics without replicas", async () => {
    const text = await createMetrics(engineStats, { defaultMetrics: false }).registry.metrics();
    expect(text).not.toContain("latch_datastore_read_replica");
  });
});
