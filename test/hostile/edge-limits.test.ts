/**
 * Issue 23, finding 7: what the server's edge refuses or closes. Timestamps out of the well-known
 * type's range, tokens given with commas or too short, /metrics without its token, sockets that
 * say nothing, and a garbage import stream (one warning, no stack).
 */

import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { serveCommand } from "../../src/cli/commands/serve.js";
import { createClient } from "../../src/client/index.js";
import { RelationshipUpdate_Operation } from "../../src/gen/latch/v1/core_pb.js";
import {
  ImportRelationshipsRequestSchema,
  WriteRelationshipsRequestSchema,
} from "../../src/gen/latch/v1/relationship_service_pb.js";
import { createLogger, createServer, ServerConfigError } from "../../src/server/index.js";
import { latestReader } from "../../src/store/index.js";
import { runCommand } from "../cli/run-command.js";
import { auth, failure, type Harness, startHarness, unary } from "../server/harness.js";

const SCHEMA = "definition user {}\ndefinition document { relation viewer: user }";
const EXPIRING =
  "use expiration\ndefinition user {}\ndefinition document { relation viewer: user with expiration }";

function touch(expiresAt: { seconds: bigint; nanos: number }) {
  return {
    operation: RelationshipUpdate_Operation.TOUCH,
    relationship: {
      resource: { objectType: "document", objectId: "memo" },
      relation: "viewer",
      subject: { object: { objectType: "user", objectId: "ann" } },
      optionalExpiresAt: expiresAt,
    },
  };
}

describe("timestamps in requests", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    await h.store.writeSchema(EXPIRING);
  });
  afterAll(() => h.close());

  const write = (expiresAt: { seconds: bigint; nanos: number }) =>
    unary(h.relationship, "writeRelationships", WriteRelationshipsRequestSchema, {
      updates: [touch(expiresAt)],
    });

  it("refuses nanos outside 0..999,999,999, naming the field, and writes nothing", async () => {
    for (const nanos of [1_000_000_000, 2_000_000_000, -1]) {
      const error = await failure(write({ seconds: 4_000_000_000n, nanos }));
      expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(error.details).toContain("updates[0].relationship.optional_expires_at.nanos");
    }
    const stored = await (await latestReader(h.store)).readRelationships({ resourceType: "document" });
    expect(stored.relationships).toEqual([]);
  });

  it("refuses seconds outside 0001-01-01..9999-12-31", async () => {
    for (const seconds of [253_402_300_800n, -62_135_596_801n]) {
      const error = await failure(write({ seconds, nanos: 0 }));
      expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(error.details).toContain("optional_expires_at.seconds");
    }
  });

  it("refuses them in an import too", async () => {
    const error = await failure(
      new Promise((resolve, reject) => {
        const call = (
          h.relationship as unknown as Record<string, (...a: unknown[]) => grpc.ClientWritableStream<unknown>>
        ).importRelationships!.call(h.relationship, auth(), (e: grpc.ServiceError | null, r: unknown) =>
          e ? reject(e) : resolve(r),
        );
        call.write(
          create(ImportRelationshipsRequestSchema, {
            relationships: [touch({ seconds: 4_000_000_000n, nanos: -5 }).relationship],
          }),
        );
        call.end();
      }),
    );
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toContain("relationships[0].optional_expires_at.nanos");
  });

  it("accepts what is in range", async () => {
    await write({ seconds: 4_000_000_000n, nanos: 999_999_999 });
    const stored = await (await latestReader(h.store)).readRelationships({ resourceType: "document" });
    expect(stored.relationships).toHaveLength(1);
  });
});

/** Starts `latch serve` in process; resolves with its address once it listens. */
async function serve(args: string[]): Promise<{ address: string; stop(): Promise<void> }> {
  let stdout = "";
  const out = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  });
  const serving = serveCommand().parseAsync(["--listen", "127.0.0.1:0", "--log-level", "silent", ...args], {
    from: "user",
  });
  try {
    await vi.waitFor(() => expect(stdout).toMatch(/latch listening on \S+/), { timeout: 10_000 });
  } finally {
    out.mockRestore();
  }
  return {
    address: /latch listening on (\S+)/.exec(stdout)![1]!,
    async stop() {
      process.emit("SIGTERM", "SIGTERM");
      await serving;
    },
  };
}

describe("tokens at start", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "latch-edge-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => {
    process.exitCode = 0;
    delete process.env.LATCH_TOKENS;
  });

  async function answers(address: string, token: string): Promise<string> {
    const client = createClient({ address, token, maxAttempts: 1 });
    try {
      await client.readSchema();
      return "ok";
    } catch (error) {
      return (error as { code: string }).code;
    } finally {
      await client.close();
    }
  }

  it("takes `--token a,b` as one token: `b` alone does not authenticate", async () => {
    const a = "alpha-token-0123456789";
    const b = "beta-token-0123456789";
    const server = await serve(["--db", join(dir, "comma.db"), "--token", `${a},${b}`]);
    try {
      expect(await answers(server.address, b)).toBe("auth/invalid-token");
      expect(await answers(server.address, a)).toBe("auth/invalid-token");
      // Nothing is stored yet: the whole string authenticates, and finds no schema.
      expect(await answers(server.address, `${a},${b}`)).toBe("schema/not-found");
    } finally {
      await server.stop();
    }
  });

  it("takes several tokens from repeated flags, or from LATCH_TOKENS separated by whitespace", async () => {
    const a = "alpha-token-0123456789";
    const b = "beta-token-0123456789";
    const flags = await serve(["--db", join(dir, "flags.db"), "--token", a, "--token", b]);
    try {
      expect(await answers(flags.address, a)).toBe("schema/not-found");
      expect(await answers(flags.address, b)).toBe("schema/not-found");
    } finally {
      await flags.stop();
    }
    process.env.LATCH_TOKENS = `${a}\n  ${b}\n`;
    const env = await serve(["--db", join(dir, "env.db")]);
    try {
      expect(await answers(env.address, b)).toBe("schema/not-found");
      expect(await answers(env.address, `${a} ${b}`)).toBe("auth/invalid-token");
    } finally {
      await env.stop();
    }
  });

  it("refuses a token shorter than 16 characters unless --insecure-short-tokens", async () => {
    const refused = await runCommand(serveCommand(), [
      "--listen",
      "127.0.0.1:0",
      "--db",
      join(dir, "short.db"),
      "--token",
      "short-token",
    ]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain("at least 16");
    expect(() =>
      createServer({
        store: {} as never,
        engine: {} as never,
        tokens: ["short-token"],
        logger: createLogger("silent"),
      }),
    ).toThrow(ServerConfigError);

    const server = await serve([
      "--db",
      join(dir, "short-ok.db"),
      "--token",
      "short-token",
      "--insecure-short-tokens",
    ]);
    try {
      expect(await answers(server.address, "short-token")).toBe("schema/not-found");
    } finally {
      await server.stop();
    }
  });
});

describe("--max-import-relationships", () => {
  it("bounds an import stream of either API, nothing written past it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "latch-import-bound-"));
    const token = "import-token-0123456789";
    const server = await serve([
      "--db",
      join(dir, "s.db"),
      "--token",
      token,
      "--max-import-relationships",
      "3",
    ]);
    const client = createClient({ address: server.address, token, maxAttempts: 1 });
    try {
      await client.writeSchema(SCHEMA);
      const docs = (n: number) => Array.from({ length: n }, (_, i) => `document:d${i}#viewer@user:ann`);
      const refused = await client.importRelationships(docs(4), { batchSize: 2 }).then(
        () => undefined,
        (e: unknown) => e as { code: string; message: string },
      );
      expect(refused?.code).toBe("request/over-limit");
      expect(refused?.message).toContain("at most 3 relationships");
      expect((await client.importRelationships(docs(3))).count).toBe(3);
      const stored = [];
      for await (const item of client.readRelationships({
        filter: { resourceType: "document" },
        consistency: { kind: "fully-consistent" },
      }))
        stored.push(item.relationship);
      expect(stored).toHaveLength(3);
    } finally {
      await client.close();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("/metrics with --metrics-token", () => {
  const METRICS_TOKEN = "metrics-token-0123456789";
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ metricsListen: "127.0.0.1:0", server: { metricsToken: METRICS_TOKEN } });
  });
  afterAll(() => h.close());

  const scrape = (headers: Record<string, string> = {}) =>
    fetch(`http://${h.server.metricsAddress}/metrics`, { headers });

  it("answers 401 without the token or with a wrong one, 200 with it", async () => {
    const none = await scrape();
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toContain("Bearer");
    expect(await none.text()).toBe("");
    expect((await scrape({ authorization: "Bearer wrong-token-0123456789" })).status).toBe(401);
    expect((await scrape({ authorization: METRICS_TOKEN })).status).toBe(401);
    const ok = await scrape({ authorization: `Bearer ${METRICS_TOKEN}` });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain("latch_grpc_requests_total");
  });
});

/** Resolves once the server closes the socket; `first` is written right after connecting. */
function closedByServer(address: string, first?: string): Promise<boolean> {
  const [host, port] = address.split(":") as [string, string];
  return new Promise<boolean>((resolve) => {
    const socket = connect(Number(port), host, () => {
      if (first !== undefined) socket.write(first);
    });
    socket.on("error", () => {});
    socket.on("data", () => {});
    socket.on("close", () => resolve(true));
  });
}

describe("connections that say nothing", () => {
  describe("with a short idle timeout", () => {
    let h: Harness;
    beforeAll(async () => {
      h = await startHarness({ server: { idleTimeoutMs: 200, handshakeTimeoutMs: 60_000 } });
    });
    afterAll(() => h.close());

    it("closes a TCP socket that never sends a byte", async () => {
      expect(await closedByServer(h.server.address)).toBe(true);
    }, 15_000);

    it("still serves a client that comes back after its connection was closed", async () => {
      const client = createClient({ address: h.server.address, token: "test-token-0123456789" });
      try {
        await h.store.writeSchema(SCHEMA);
        expect((await client.readSchema()).schema).toBe(SCHEMA);
        await new Promise((r) => setTimeout(r, 500));
        expect((await client.readSchema()).schema).toBe(SCHEMA);
      } finally {
        await client.close();
      }
    });
  });

  describe("with a short handshake timeout (and the default idle timeout of minutes)", () => {
    let h: Harness;
    beforeAll(async () => {
      h = await startHarness({ server: { handshakeTimeoutMs: 200 } });
    });
    afterAll(() => h.close());

    it("closes a socket that sends nothing, or half an HTTP/2 preface", async () => {
      expect(await closedByServer(h.server.address)).toBe(true);
      expect(await closedByServer(h.server.address, "PRI * HTTP/2.0\r\n")).toBe(true);
    }, 15_000);

    it("keeps a connection that spoke HTTP/2, idle between calls", async () => {
      const client = new grpc.Client(h.server.address, grpc.credentials.createInsecure());
      try {
        await new Promise<void>((resolve, reject) =>
          client.waitForReady(Date.now() + 5000, (e) => (e ? reject(e) : resolve())),
        );
        await new Promise((r) => setTimeout(r, 600));
        expect(client.getChannel().getConnectivityState(false)).toBe(grpc.connectivityState.READY);
      } finally {
        client.close();
      }
    });
  });
});

describe("a garbage import stream", () => {
  it("is logged once, at warn, without a stack", async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger("info", { write: (line: string) => lines.push(JSON.parse(line)) });
    const h = await startHarness({ logger });
    try {
      await h.store.writeSchema(SCHEMA);
      const client = new grpc.Client(h.server.address, grpc.credentials.createInsecure());
      const bytes = (b: Buffer) => b;
      const error = await new Promise<grpc.ServiceError | null>((resolve) => {
        const call = client.makeClientStreamRequest(
          "/latch.v1.RelationshipService/ImportRelationships",
          bytes,
          bytes,
          auth(),
          (e) => resolve(e),
        );
        call.on("error", () => {});
        for (let i = 0; i < 5; i++) call.write(Buffer.alloc(4096, 0xff));
        call.end();
      });
      client.close();
      expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
      // Let anything logged after the answer arrive.
      await new Promise((r) => setTimeout(r, 100));
      const loud = lines.filter((l) => (l.level as number) >= 40);
      expect(loud).toHaveLength(1);
      expect(loud[0]).toMatchObject({ level: 40, errorCode: "request/malformed" });
      expect(JSON.stringify(loud[0])).not.toContain("stack");
    } finally {
      await h.close();
    }
  });
});
