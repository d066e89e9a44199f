/** The in-memory copy's gauges on /metrics: what an operator reads to see whether it serves reads. */
import { describe, expect, it } from "vitest";
import { parseRelationship } from "../../src/core/index.js";
import { createMetrics } from "../../src/server/index.js";
import { createMirroredStore } from "../../src/store/mirror/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";

const engineStats = () => ({ cacheHits: 0, cacheMisses: 0, dispatches: 0 });

describe("metrics of the in-memory copy", () => {
  it("reports whether it answers reads, how many relationships it holds and its revision", async () => {
    const sqlite = await createSqliteStore({ path: ":memory:" });
    await sqlite.writeSchema("definition user {}\ndefinition document {\n  relation viewer: user\n}");
    const revision = await sqlite.write(
      ["document:a#viewer@user:ann", "document:b#viewer@user:bob"].map((text) => ({
        operation: "touch" as const,
        relationship: parseRelationship(text),
      })),
    );
    const mirror = createMirroredStore(sqlite);
    expect(await mirror.ready()).toBe(true);
    const metrics = createMetrics(engineStats, { defaultMetrics: false, mirrorStats: () => mirror.stats() });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^latch_mirror_ready 1$/m);
    expect(text).toMatch(/^latch_mirror_relationships 2$/m);
    expect(text).toMatch(new RegExp(`^latch_mirror_revision ${revision}$`, "m"));
    // Loaded whole: every entry is seen by every reader. A write since is kept with its revision
    // until the floor passes it (10 s by default).
    expect(text).toMatch(/^latch_mirror_versioned 0$/m);
    const deleted = await mirror.write([
      { operation: "delete", relationship: parseRelationship("document:a#viewer@user:ann") },
    ]);
    expect(await mirror.catchUp(deleted)).toBe(true);
    expect(await metrics.registry.metrics()).toMatch(/^latch_mirror_versioned 1$/m);
    await mirror.close();
    const after = await metrics.registry.metrics();
    expect(after).toMatch(/^latch_mirror_ready 0$/m);
  });

  it("shows which relation sets a copy over its limit holds, and the reads the others send to the datastore", async () => {
    const sqlite = await createSqliteStore({ path: ":memory:" });
    await sqlite.writeSchema(
      "definition user {}\ndefinition document {\n  relation owner: user\n  relation viewer: user\n}",
    );
    const revision = await sqlite.write(
      ["document:a#viewer@user:ann", "document:b#viewer@user:bob", "document:a#owner@user:ann"].map(
        (text) => ({
          operation: "touch" as const,
          relationship: parseRelationship(text),
        }),
      ),
    );
    const mirror = createMirroredStore(sqlite, { maxRelationships: 2 });
    expect(await mirror.ready()).toBe(true);
    await mirror
      .at(revision)
      .lookupForward({ resourceType: "document", resourceIds: ["a"], relations: ["viewer"] });
    const metrics = createMetrics(engineStats, { defaultMetrics: false, mirrorStats: () => mirror.stats() });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^latch_mirror_partial 1$/m);
    expect(text).toMatch(/^latch_mirror_relationships 1$/m);
    expect(text).toContain(
      'latch_mirror_set_relationships{resource_type="document",relation="owner",mirrored="1"} 1',
    );
    expect(text).toContain(
      'latch_mirror_set_relationships{resource_type="document",relation="viewer",mirrored="0"} 2',
    );
    expect(text).toContain('latch_mirror_set_store_reads{resource_type="document",relation="viewer"} 1');
    await mirror.close();
  });

  it("has no such gauges when the server runs without a copy", async () => {
    const text = await createMetrics(engineStats, { defaultMetrics: false }).registry.metrics();
    expect(text).not.toContain("latch_mirror_");
  });
});

describe("audit trail metrics", () => {
  it("publishes queue depth, records written, dropped and failed, and append latency", async () => {
    const { createAuditRecorder } = await import("../../src/audit/index.js");
    const { openLatch } = await import("../../src/open/index.js");
    const metrics = createMetrics(() => ({ cacheHits: 0, cacheMisses: 0, dispatches: 0 }), {
      defaultMetrics: false,
    });
    const store = await createSqliteStore({ path: ":memory:" });
    const recorder = createAuditRecorder({
      log: store.decisions,
      policy: "all",
      mode: "async",
      queueLimit: 2,
      onAppend: (seconds) => metrics.observeAuditAppend(seconds),
    });
    metrics.watchAudit(() => recorder.stats());
    const latch = await openLatch({
      store,
      schema: "definition user {}\ndefinition doc { relation viewer: user\n permission view = viewer }",
      mirror: false,
      decorators: [recorder.decorator],
    });
    const check = {
      resource: { type: "doc", id: "a" },
      permission: "view",
      subject: { type: "user", id: "u" },
    };
    // Three decisions in one turn against a queue of two: one is dropped.
    await Promise.all([latch.decider.check(check), latch.decider.check(check), latch.decider.check(check)]);
    await recorder.flush();
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^latch_audit_queue_depth 0$/m);
    expect(text).toMatch(/^latch_audit_records_written_total 2$/m);
    expect(text).toMatch(/^latch_audit_records_dropped_total 1$/m);
    expect(text).toMatch(/^latch_audit_records_failed_total 0$/m);
    expect(text).toMatch(/^latch_audit_write_duration_seconds_count 1$/m);
    // Read twice: the counters follow the recorder's totals, they do not add them up again.
    expect(await metrics.registry.metrics()).toMatch(/^latch_audit_records_written_total 2$/m);
    await latch.close();
  });
});
