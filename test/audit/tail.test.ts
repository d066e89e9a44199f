/** `latch audit tail`: records appended after it starts, as they come, until interrupted. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { auditCommand, tailDecisions } from "../../src/cli/commands/audit.js";
import type { StoredDecision } from "../../src/store/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { runCommand } from "../cli/run-command.js";
import { decision, decisions } from "../store/conformance/decisions.js";

const dir = mkdtempSync(join(tmpdir(), "latch-audit-tail-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("latch audit tail", () => {
  it("skips what is there, yields what is appended next, filters by subject, ends on abort", async () => {
    const store = await createSqliteStore({ path: ":memory:", decisionCheckpointEvery: 10 });
    await store.decisions.append(decisions(1, 25)); // records 1..24
    const stop = new AbortController();
    const seen: StoredDecision[] = [];
    const agentOnly: StoredDecision[] = [];
    const all = (async () => {
      for await (const d of tailDecisions(store, { signal: stop.signal, intervalMs: 5 })) seen.push(d);
    })();
    const filtered = (async () => {
      const tail = tailDecisions(store, { signal: stop.signal, intervalMs: 5, subject: "user:alice" });
      for await (const d of tail) agentOnly.push(d);
    })();
    // Both tails have read where the log ends once a first poll of each has come back empty.
    const reads = vi.spyOn(store.decisions, "read");
    await vi.waitFor(() => {
      const atEnd = reads.mock.calls.filter(([q]) => q?.afterSeq === 24);
      expect(atEnd.some(([q]) => q?.subject === "user:alice")).toBe(true);
      expect(atEnd.some(([q]) => q?.subject === undefined)).toBe(true);
    });
    // 30 acts for user:alice (every third one does), 31 does not.
    await store.decisions.append([decision(30), decision(31)]);
    await vi.waitFor(() => expect(seen).toHaveLength(2));
    await vi.waitFor(() => expect(agentOnly).toHaveLength(1));
    stop.abort();
    await Promise.all([all, filtered]);
    expect(seen.map((d) => [d.seq, d.record.requestId])).toEqual([
      [25, "req-30"],
      [26, "req-31"],
    ]);
    expect(agentOnly.map((d) => d.record.onBehalfOf)).toEqual([["user:alice"]]);
    await store.close();
  });

  it("the command prints nothing of the records already there and stops on SIGINT", async () => {
    const path = join(dir, "tail.db");
    const store = await createSqliteStore({ path });
    await store.decisions.append(decisions(1, 5));
    await store.close();
    const before = process.listenerCount("SIGINT");
    const running = runCommand(auditCommand(), ["tail", "--db", path, "--interval-ms", "5", "--json"]);
    await vi.waitFor(() => expect(process.listenerCount("SIGINT")).toBeGreaterThan(before));
    process.emit("SIGINT", "SIGINT");
    const out = await running;
    expect(out).toEqual({ stdout: "", stderr: "", exitCode: 0 });
  });

  it("refuses a bad --interval-ms", async () => {
    const out = await runCommand(auditCommand(), ["tail", "--db", join(dir, "x.db"), "--interval-ms", "0"]);
    expect(out.exitCode).not.toBe(0);
    expect(out.stderr).toMatch(/--interval-ms must be a positive integer/);
  });
});
