import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
      logger: createLogger("silent"),
      tls: { cert, key: readFileSync(join(dir, "key.pem")) },
    });
  });

  afterAll(async () => {
    await server?.shutdown(1000);
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves a client that trusts the certificate", async () => {
    const client = createClient({
      address: server.address,
      token: "tls-token-0123456789",
      tls: { rootCerts: cert },
    });
    const { token } = await client.writeSchema("definition user {}");
    expect(token).not.toBe("");
    await client.close();
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
