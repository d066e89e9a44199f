import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "../../src/client/index.js";
import { createEngine } from "../../src/engine/index.js";
import { createLogger, type RunningServer, startServer } from "../../src/server/index.js";
import type { Store } from "../../src/store/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";

const hasOpenssl = spawnSync("openssl", ["version"]).status === 0;
if (!hasOpenssl) console.log("skipping TLS tests: no openssl to make a test certificate");

describe.skipIf(!hasOpenssl)("TLS", () => {
  const dir = mkdtempSync(join(tmpdir(), "latch-tls-"));
  let cert: Buffer;
  let store: Store;
  let server: RunningServer;

  beforeAll(async () => {
    const made = spawnSync("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
    ]);
    expect(made.status, made.stderr.toString()).toBe(0);
    cert = readFileSync(join(dir, "cert.pem"));
    store = await createSqliteStore({ path: ":memory:" });
    server = await startServer({
      store,
      engine: createEngine({ store }),
      tokens: ["tls-token-0123456789"],
      listen: "127.0.0.1:0",
      httpListen: "127.0.0.1:0",
      logger: createLogger("silent"),
      tls: { cert, key: readFileSync(join(dir, "key.pem")) },
      // Short, to show it closes only sockets that never spoke (TLS counts as speaking).
      handshakeTimeoutMs: 200,
    });
  });

  afterAll(async () => {
    await server?.shutdown(1000);
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const transport of ["h2", "http2", "grpc-js"] as const) {
    it(`serves a client that trusts the certificate (${transport} transport)`, async () => {
      const client = createClient({
        address: server.address,
        token: "tls-token-0123456789",
        tls: { rootCerts: cert },
        transport,
      });
      const { token } = await client.writeSchema("definition user {}");
      expect(token).not.toBe("");
      expect((await client.readSchema()).schema).toBe("definition user {}");
      await client.close();
    });
  }

  it("fails UNAVAILABLE, never hangs, when the client does not trust the certificate (h2 transport)", async () => {
    const client = createClient({
      address: server.address,
      token: "tls-token-0123456789",
      tls: true,
      transport: "h2",
      maxAttempts: 2,
    });
    await expect(client.readSchema()).rejects.toMatchObject({ kind: "unavailable" });
    await client.close();
  });

  it("keeps a TLS connection past the handshake timeout, and closes a silent socket", async () => {
    const client = new grpc.Client(server.address, grpc.credentials.createSsl(cert));
    try {
      await new Promise<void>((resolve, reject) =>
        client.waitForReady(Date.now() + 5000, (e) => (e ? reject(e) : resolve())),
      );
      await new Promise((r) => setTimeout(r, 600));
      expect(client.getChannel().getConnectivityState(false)).toBe(grpc.connectivityState.READY);
    } finally {
      client.close();
    }
    const [host, port] = server.address.split(":") as [string, string];
    const closed = await new Promise<boolean>((resolve) => {
      const socket = connect(Number(port), host);
      socket.on("error", () => {});
      socket.on("close", () => resolve(true));
    });
    expect(closed).toBe(true);
  });

  it("serves the HTTP port over TLS with the same certificate", async () => {
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsRequest(
        `https://${server.httpAddress}/latch.v1.SchemaService/WriteSchema`,
        {
          method: "POST",
          ca: cert,
          headers: { authorization: "Bearer tls-token-0123456789", "content-type": "application/json" },
        },
        (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            body += chunk;
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on("error", reject);
      req.end(JSON.stringify({ schema: "definition user {}" }));
    });
    expect(answer.status).toBe(200);
    expect((JSON.parse(answer.body) as { writtenAt: { token: string } }).writtenAt.token).not.toBe("");
  });

  it("refuses a plaintext client", async () => {
    const client = createClient({
      address: server.address,
      token: "tls-token-0123456789",
      maxAttempts: 1,
      timeoutMs: 5000,
    });
    await expect(client.readSchema()).rejects.toMatchObject({ kind: "unavailable" });
    await client.close();
  });
});
