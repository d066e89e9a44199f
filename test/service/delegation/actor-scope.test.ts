/**
 * The `scope` claim of actor tokens: a token that carries one authorizes only the permissions it
 * lists; a request outside it is answered DENIED and recorded with the reason. In embedded mode
 * and in the in-process CLI (`--actor-token-jwks/-issuer/-audience`). Keys are generated here.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { auditCommand } from "../../../src/cli/commands/audit.js";
import { checkCommand } from "../../../src/cli/commands/check.js";
import { createEmbedded, type EmbeddedClient } from "../../../src/client/index.js";
import { runCommand } from "../../cli/run-command.js";
import { TRANSPORTS } from "../transports.js";
import { type ActorKey, AUDIENCE, actorKey, ISSUER } from "./actor-fixtures.js";

const SCHEMA = `
definition agent {}
definition user {
  relation delegate_to: agent
  permission delegate = delegate_to
}
definition document {
  relation viewer: user | agent
  relation owner: user | agent
  permission view = viewer + owner
  permission export = owner
}
definition folder {
  relation viewer: user | agent
  permission view = viewer
}`;
const UPDATES = [
  "document:a#owner@user:alice",
  "document:a#owner@agent:bot",
  "folder:f#viewer@user:alice",
  "folder:f#viewer@agent:bot",
  "user:alice#delegate_to@agent:bot",
].map((relationship) => ({ operation: "touch" as const, relationship }));

const dir = mkdtempSync(join(tmpdir(), "latch-actor-scope-"));
let key: ActorKey;
let jwks: ActorKey["jwks"];
let client: EmbeddedClient;
let db: string;

function sign(claims: Record<string, unknown>): Promise<string> {
  return key.sign({ sub: "user:alice", act: { sub: "agent:bot" }, ...claims });
}

beforeAll(async () => {
  key = await actorKey();
  jwks = key.jwks;
  db = join(dir, "scope.db");
  client = await createEmbedded({
    database: db,
    schema: SCHEMA,
    actorTokens: { jwks, issuer: ISSUER, audience: AUDIENCE },
    audit: { policy: "all", mode: "sync" },
  });
  await client.writeRelationships({ updates: UPDATES });
});
afterAll(async () => {
  await client.close();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  process.exitCode = 0;
});

const ask = (actorToken: string, permission: string, resource = "document:a") =>
  client.check({ resource, permission, subject: "agent:bot", actorToken });

describe("an actor token's scope (embedded)", () => {
  it("without scope, the chain alone limits the agent", async () => {
    const token = await sign({});
    expect((await ask(token, "view")).state).toBe("ALLOWED");
    expect((await ask(token, "export")).state).toBe("ALLOWED");
  });

  it("type#permission and bare permission entries authorize those; anything else is DENIED", async () => {
    const typed = await sign({ scope: "openid document#view" });
    expect((await ask(typed, "view")).state).toBe("ALLOWED");
    expect((await ask(typed, "export")).state).toBe("DENIED");
    // document#view does not reach folder#view.
    expect((await ask(typed, "view", "folder:f")).state).toBe("DENIED");
    const bare = await sign({ scope: "view" });
    expect((await ask(bare, "view", "folder:f")).state).toBe("ALLOWED");
    expect((await ask(bare, "view")).state).toBe("ALLOWED");
    expect((await ask(bare, "export")).state).toBe("DENIED");
    const empty = await sign({ scope: "" });
    expect((await ask(empty, "view")).state).toBe("DENIED");
  });

  it("records the DENIED answer with the reason; explain says why", async () => {
    const token = await sign({ scope: "document#view" });
    const explained = await client.check({
      resource: "document:a",
      permission: "export",
      subject: "agent:bot",
      actorToken: token,
      explain: true,
    });
    expect(explained.explain?.label).toContain("outside the actor token's scope (document#view)");
    const records = await client.queryDecisions({ subject: "agent:bot" });
    const last = records.decisions.at(-1)!.record;
    expect(last).toMatchObject({
      subject: "agent:bot",
      onBehalfOf: ["user:alice"],
      permission: "export",
      answer: "DENIED",
      reason: "outside the actor token's scope (document#view): it lists neither export nor document#export",
    });
  });

  it("CheckBulk denies only the items outside the scope; a lookup outside it finds nothing", async () => {
    const token = await sign({ scope: "document#view" });
    const bulk = await client.checkBulk({
      actorToken: token,
      items: [
        { resource: "document:a", permission: "view", subject: "agent:bot" },
        { resource: "document:a", permission: "export", subject: "agent:bot" },
      ],
    });
    expect(bulk.results.map((r) => (r.ok ? r.state : r.error.code))).toEqual(["ALLOWED", "DENIED"]);
    const found = async (permission: string) => {
      const ids: string[] = [];
      for await (const r of client.lookupResources({
        resourceType: "document",
        permission,
        subject: "agent:bot",
        actorToken: token,
      }))
        ids.push(r.resourceId);
      return ids;
    };
    expect(await found("view")).toEqual(["a"]);
    expect(await found("export")).toEqual([]);
  });

  it("a scope that is not a string makes the token invalid (UNAUTHENTICATED)", async () => {
    const token = await sign({ scope: ["document#view"] });
    await expect(ask(token, "view")).rejects.toMatchObject({
      code: "delegation/invalid-actor-token",
      kind: "unauthenticated",
      message: expect.stringContaining("scope must be a string"),
    });
  });
});

describe("an actor token's scope on every transport", () => {
  it.each(TRANSPORTS)("is enforced through %s", (_name, transport) =>
    transport(
      { schema: SCHEMA, actorTokens: { jwks, issuer: ISSUER, audience: AUDIENCE } },
      async (remote) => {
        await remote.writeRelationships({ updates: UPDATES });
        const actorToken = await sign({ scope: "document#view" });
        const ask = { resource: "document:a", subject: "agent:bot", actorToken };
        expect((await remote.check({ ...ask, permission: "view" })).state).toBe("ALLOWED");
        expect((await remote.check({ ...ask, permission: "export" })).state).toBe("DENIED");
      },
    ),
  );
});

const check = (...args: string[]) => runCommand(checkCommand(), args);

describe("actor tokens in the in-process CLI", () => {
  it("latch check --db verifies --actor-token with the JWKS flags, and records the scope's reason", async () => {
    const path = join(dir, "cli.db");
    const seed = await createEmbedded({ database: path, schema: SCHEMA, audit: false });
    await seed.writeRelationships({ updates: UPDATES });
    await seed.close();
    const jwksFile = join(dir, "jwks.json");
    writeFileSync(jwksFile, JSON.stringify(jwks));
    const keys = [
      "--actor-token-jwks",
      jwksFile,
      "--actor-token-issuer",
      ISSUER,
      "--actor-token-audience",
      AUDIENCE,
    ];
    const token = await sign({ scope: "document#view" });

    const unconfigured = await check("document:a", "view", "agent:bot", "--db", path, "--actor-token", token);
    expect(unconfigured.exitCode).toBe(1);
    expect(unconfigured.stderr).toContain("delegation/actor-tokens-not-configured");

    const withToken = (permission: string) =>
      check("document:a", permission, "agent:bot", "--db", path, "--actor-token", token, ...keys);
    expect(await withToken("view")).toMatchObject({ exitCode: 0, stdout: "allowed\n" });
    expect(await withToken("export")).toMatchObject({ exitCode: 0, stdout: "denied\n" });
    const other = await sign({ sub: "user:bob" });
    const mismatch = await check(
      ...["document:a", "view", "agent:bot", "--on-behalf-of", "user:alice", "--db", path],
      ...["--actor-token", other, ...keys],
    );
    expect(mismatch.exitCode).toBe(1);
    expect(mismatch.stderr).toContain("delegation/actor-token-mismatch");

    const query = await runCommand(auditCommand(), ["query", "--db", path]);
    expect(query.stdout).toContain(
      "agent:bot acting for user:alice: export on document:a DENIED (outside the actor token's scope (document#view): it lists neither export nor document#export) [caller cli]",
    );

    const half = await check("document:a", "view", "agent:bot", "--db", path, "--actor-token-jwks", jwksFile);
    expect(half.stderr).toContain(
      "--actor-token-jwks, --actor-token-issuer and --actor-token-audience go together",
    );
    const remote = await check("document:a", "view", "agent:bot", "--address", "127.0.0.1:1", ...keys);
    expect(remote.stderr).toContain("--actor-token-jwks applies in process");
  });
});
