/**
 * `latch audit query|tail|verify --address --token`: a server's trail through its AuditService,
 * printed as the in-process commands print a database's (the same sentences, the same JSON).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { createAuditRecorder } from "../../src/audit/index.js";
import { auditCommand } from "../../src/cli/commands/audit.js";
import { createClient, type LatchClient } from "../../src/client/index.js";
import { parseRelationship } from "../../src/core/index.js";
import { openLatch } from "../../src/open/index.js";
import { createLogger, startServer } from "../../src/server/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { runCommand } from "../cli/run-command.js";

const TOKEN = "audit-cli-token-0123456789";

const SCHEMA = `
definition user {
  relation delegate: agent
}
definition agent {}
definition room {
  relation booker: user | agent
  permission reserve = booker
}
`;

const dir = mkdtempSync(join(tmpdir(), "latch-audit-remote-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});
let files = 0;

/** A server on a SQLite file, recording under agents with every plain decision sampled. */
async function serve(): Promise<{ path: string; address: string; client: LatchClient }> {
  const path = join(dir, `remote-${files++}.db`);
  const store = await createSqliteStore({ path });
  const recorder = createAuditRecorder({ log: store.decisions, mode: "sync", sample: 1 });
  const latch = await openLatch({ store, schema: SCHEMA, mirror: false, decorators: [recorder.decorator] });
  await latch.store.write(
    ["room:401#booker@user:alice", "room:401#booker@agent:bot", "user:alice#delegate@agent:bot"].map(
      (text) => ({ operation: "touch" as const, relationship: parseRelationship(text) }),
    ),
  );
  const server = await startServer({
    store: latch.store,
    engine: latch.engine,
    decider: latch.decider,
    tokens: [`ops=${TOKEN}`],
    listen: "127.0.0.1:0",
    logger: createLogger("silent"),
    watchPollMs: 10,
  });
  const client = createClient({ address: server.address, token: TOKEN });
  cleanup.push(async () => {
    await client.close();
    await server.shutdown(1000);
    await latch.close();
  });
  return { path, address: server.address, client };
}

const reserve = (client: LatchClient, subject: string, onBehalfOf?: string[]) =>
  client.check({
    resource: "room:401",
    permission: "reserve",
    subject,
    ...(onBehalfOf === undefined ? {} : { onBehalfOf }),
  });

const audit = (...args: string[]) => runCommand(auditCommand(), args);

describe("latch audit against a server (--address)", () => {
  it("query and verify print what the in-process commands print of the same database", async () => {
    const { path, address, client } = await serve();
    await reserve(client, "user:alice");
    await reserve(client, "user:carol");
    await reserve(client, "agent:bot", ["user:alice"]);
    const server = ["--address", address, "--token", TOKEN];

    for (const extra of [[], ["--json"], ["--subject", "user:alice"], ["--since", "1h", "--json"]]) {
      const remote = await audit("query", ...server, ...extra);
      const local = await audit("query", "--db", path, ...extra);
      expect(remote.exitCode, extra.join(" ")).toBe(0);
      expect(remote.stdout, extra.join(" ")).toBe(local.stdout);
    }
    const lines = (await audit("query", ...server)).stdout.trim().split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(
      /Z user:alice: reserve on room:401 ALLOWED via room:401#booker@user:alice \[sampled, caller ops, request [\w-]+\]$/,
    );
    expect(lines[1]).toMatch(/Z user:carol: reserve on room:401 DENIED \[caller ops, request [\w-]+\]$/);
    expect(lines[2]).toMatch(
      /Z agent:bot acting for user:alice: reserve on room:401 ALLOWED via .* \[caller ops, request [\w-]+\]$/,
    );

    const verify = await audit("verify", ...server);
    expect(verify).toEqual(await audit("verify", "--db", path));
    expect(verify.stdout).toContain("ok: 3 record(s) verified (records 1..3)");
    expect((await audit("verify", ...server, "--json")).stdout).toBe(
      (await audit("verify", "--db", path, "--json")).stdout,
    );
    // An anchor is read through QueryDecisions: the same verdicts as in process.
    const head = /head: record (\d+), hash ([0-9a-f]{64})/.exec(verify.stdout)!;
    for (const anchor of [`2:${"0".repeat(64)}`, `${head[1]}:${head[2]}`, `9:${head[2]}`]) {
      const remote = await audit("verify", ...server, "--anchor", anchor);
      expect(remote, anchor).toEqual(await audit("verify", "--db", path, "--anchor", anchor));
    }
    expect((await audit("verify", ...server, "--anchor", `9:${head[2]}`)).stdout).toContain(
      "BROKEN at record 9 (truncated)",
    );
  });

  it("tail prints the records appended after it starts, as they come, until SIGINT", async () => {
    const { address, client } = await serve();
    await reserve(client, "user:carol"); // there before the tail: not printed
    const before = process.listenerCount("SIGINT");
    const running = audit("tail", "--address", address, "--token", TOKEN, "--subject", "user:alice");
    await vi.waitFor(() => expect(process.listenerCount("SIGINT")).toBeGreaterThan(before));
    // The watch starts from the log's end once the server has the call: decide until one arrives
    // (runCommand's spy on stdout sees what the command prints).
    const stdout = vi.mocked(process.stdout.write);
    await vi.waitFor(
      async () => {
        await reserve(client, "agent:bot", ["user:alice"]);
        await reserve(client, "user:dave");
        expect(stdout.mock.calls.length).toBeGreaterThan(0);
      },
      { timeout: 10_000, interval: 50 },
    );
    process.emit("SIGINT", "SIGINT");
    const out = await running;
    expect(out.exitCode).toBe(0);
    expect(out.stderr).toBe("");
    const lines = out.stdout.trim().split("\n");
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines)
      expect(line).toMatch(/Z agent:bot acting for user:alice: reserve on room:401 ALLOWED/);
  });

  it("refuses a wrong token, both a database and an address, and --interval-ms for a server", async () => {
    const { path, address } = await serve();
    const bad = await audit("query", "--address", address, "--token", "wrong-token-0123456789");
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/unauthenticated|token/i);
    const both = await audit("query", "--address", address, "--db", path);
    expect(both.exitCode).toBe(1);
    expect(both.stderr).toContain("give either --db/--datastore or --address, not both");
    const interval = await audit("tail", "--address", address, "--token", TOKEN, "--interval-ms", "5");
    expect(interval.exitCode).toBe(1);
    expect(interval.stderr).toContain("--interval-ms applies to a database read in process");
    const none = await audit("query");
    expect(none.stderr).toContain("pass --db FILE or --datastore URL, or --address HOST:PORT");
  });
});
