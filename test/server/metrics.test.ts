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
    await mirror.close();
    const after = await metrics.registry.metrics();
    expect(after).toMatch(/^latch_mirror_ready 0$/m);
  });

  it("has no such gauges when the server runs without a copy", async () => {
    const text = await createMetrics(engineStats, { defaultMetrics: false }).registry.metrics();
    expect(text).not.toContain("latch_mirror_");
  });
});
