/** `latch audit verify|query|export|prune` on a database file. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { auditCommand, parseSince } from "../../src/cli/commands/audit.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { runCommand } from "../cli/run-command.js";
import { decision, decisions } from "../store/conformance/decisions.js";

const dir = mkdtempSync(join(tmpdir(), "latch-audit-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
let path: string;

const audit = (...args: string[]) => runCommand(auditCommand(), args);

beforeEach(async () => {
  path = join(dir, `audit-${files++}.db`);
  const store = await createSqliteStore({ path, decisionCheckpointEvery: 10 });
  await store.decisions.append([
    decision(2, {
      witness: ["room:401#booker@user:alice", "user:alice#delegate@agent:calendar-bot-v2"],
      resource: "room:401",
      answer: "ALLOWED",
    }),
  ]);
  await store.decisions.append(decisions(3, 26));
  await store.close();
});

describe("latch audit", () => {
  it("verify: ok with the head, then names the first bad record after an edit (exit code 1)", async () => {
    const ok = await audit("verify", "--db", path);
    expect(ok).toMatchObject({ exitCode: 0, stderr: "" });
    expect(ok.stdout).toMatch(
      /^ok: 24 record\(s\) verified \(records 1\.\.24\)\nhead: record 24, hash [0-9a-f]{64}\n$/,
    );

    const raw = new Database(path);
    raw.prepare("UPDATE decisions SET body = replace(body, 'reserve', 'cancel') WHERE seq = 7").run();
    raw.close();
    const bad = await audit("verify", "--db", path);
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout).toContain("BROKEN at record 7 (edited)");
    const json = await audit("verify", "--db", path, "--json");
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, problem: { seq: 7, kind: "edited" } });
  });

  it("verify --anchor: an older head put back over a truncated end is caught against a head kept outside", async () => {
    const raw = new Database(path);
    const kept = raw.prepare("SELECT seq, hash, floor, mac FROM decision_head").get();
    raw.close();
    const store = await createSqliteStore({ path, decisionCheckpointEvery: 10 });
    await store.decisions.append(decisions(26, 36));
    await store.close();
    const head = /head: record (\d+), hash ([0-9a-f]{64})/.exec(
      (await audit("verify", "--db", path)).stdout,
    )!;
    const anchor = `${head[1]}:${head[2]}`;
    expect(anchor.startsWith("34:")).toBe(true);
    expect(await audit("verify", "--db", path, "--anchor", anchor)).toMatchObject({ exitCode: 0 });
    expect(
      (await audit("verify", "--db", path, "--anchor", `${head[1]}:${"0".repeat(64)}`)).stdout,
    ).toContain("BROKEN at record 34 (edited)");

    // Someone with write access deletes the newest records and puts back the head row they kept.
    const writer = new Database(path);
    writer.exec("DELETE FROM decisions WHERE seq > 24; DELETE FROM decision_checkpoints WHERE seq > 24");
    writer.prepare("UPDATE decision_head SET seq = @seq, hash = @hash, floor = @floor, mac = @mac").run(kept);
    writer.close();
    // A fresh process has no way to know without the anchor...
    expect(await audit("verify", "--db", path)).toMatchObject({ exitCode: 0 });
    // ...and with it, it does.
    const caught = await audit("verify", "--db", path, "--anchor", anchor);
    expect(caught.exitCode).toBe(1);
    expect(caught.stdout).toContain("BROKEN at record 34 (truncated)");
    expect((await audit("verify", "--db", path, "--anchor", "34:abc")).stderr).toContain("--anchor must be");
  });

  it("query: one sentence per record, filtered by subject (or its chain) and time", async () => {
    const first = await audit("query", "--db", path, "--subject", "user:u2");
    expect(first.exitCode).toBe(0);
    const lines = first.stdout.trim().split("\n");
    expect(lines[0]).toBe(
      "2026-05-15T14:00:02Z user:u2: reserve on room:401 ALLOWED via room:401#booker@user:alice, user:alice#delegate@agent:calendar-bot-v2 [request req-2]",
    );
    expect(lines).toHaveLength(4);
    const alice = await audit("query", "--db", path, "--subject", "user:alice");
    expect(alice.stdout.trim().split("\n")).toHaveLength(8);
    const bot = await audit(
      "query",
      "--db",
      path,
      "--subject",
      "agent:calendar-bot-v2",
      "--since",
      "2026-05-15T14:00:20Z",
    );
    expect(bot.stdout.trim().split("\n")).toEqual([
      "2026-05-15T14:00:21Z agent:calendar-bot-v2 acting for user:alice: reserve on room:400 ALLOWED via room:400#booker@user:alice, user:alice#delegate@agent:calendar-bot-v2[scoped_to] [request req-21]",
      "2026-05-15T14:00:24Z agent:calendar-bot-v2 acting for user:alice: reserve on room:403 DENIED [request req-24]",
    ]);
    const json = await audit("query", "--db", path, "--since", "2026-05-15T14:00:25Z", "--json");
    expect(
      json.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l)),
    ).toEqual([
      expect.objectContaining({
        seq: 24,
        requestId: "req-25",
        hash: expect.any(String),
        prevHash: expect.any(String),
      }),
    ]);
  });

  it("export: every record as JSON lines, or as OCSF API Activity events", async () => {
    const out = await audit("export", "--db", path, "--format", "jsonl");
    const rows = out.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
    const ocsf = await audit("export", "--db", path, "--format", "ocsf");
    expect(ocsf.exitCode).toBe(0);
    const events = ocsf.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(events).toHaveLength(24);
    expect(events[0]).toMatchObject({
      class_uid: 6003,
      metadata: { sequence: 1, product: { name: "Latch" } },
      actor: { user: { uid: "user:u2" } },
      unmapped: { witness: ["room:401#booker@user:alice", "user:alice#delegate@agent:calendar-bot-v2"] },
    });
    const delegated = events.find((e) => e.actor.user.uid === "agent:calendar-bot-v2");
    expect(delegated).toMatchObject({ actor: { session: { issuer: "user:alice" } } });
    const bad = await audit("export", "--db", path, "--format", "cef");
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain("--format must be jsonl or ocsf");
  });

  it("prune: deletes whole prefixes up to a checkpoint; verify still passes", async () => {
    const pruned = await audit("prune", "--db", path, "--keep-last", "5");
    expect(pruned.stdout).toBe("deleted 10 record(s)\n");
    expect((await audit("verify", "--db", path)).stdout).toContain(
      "ok: 14 record(s) verified (records 11..24)",
    );
    expect((await audit("prune", "--db", path)).stderr).toContain("say what to prune");
  });

  it("refuses a missing database or a bad --since", async () => {
    expect((await audit("query")).stderr).toContain("no database");
    expect((await audit("query", "--db", path, "--since", "yesterday")).stderr).toContain("--since must be");
    expect(parseSince("1h", "--since", Date.parse("2026-05-15T14:00:00Z")).toISOString()).toBe(
      "2026-05-15T13:00:00.000Z",
    );
    expect(parseSince("2026-05-15T16:00:00.5+02:00", "--since").toISOString()).toBe(
      "2026-05-15T14:00:00.500Z",
    );
    // A duration past a Date's range, a local time (no offset), a day that does not exist: each
    // read as something else before (no records, local time, March 3rd).
    for (const bad of ["99999999999d", "2026-05-15T14:00:00", "2026-02-31T00:00:00Z", "2026-05-15T24:00:00Z"])
      expect(() => parseSince(bad, "--since")).toThrow(/--since must be/);
  });
});
