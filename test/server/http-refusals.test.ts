/**
 * The HTTP port's edges: browsers' cross-site requests are refused before any route (a page the
 * user opens must not write through `--insecure-no-auth`); a deadline over 2^31-1 ms is clamped,
 * not fired after 1 ms; a server stream cut by its deadline ends with DEADLINE_EXCEEDED, not as a
 * clean stream; and a refused request's body is not drained: the answer is readable and the
 * server closes the connection.
 */
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEngine } from "../../src/engine/index.js";
import { grpcTimeoutMs } from "../../src/server/http-gateway.js";
import { crossSiteReason, MAX_TIMER_MS } from "../../src/server/http-server.js";
import { createLogger, type RunningServer, startServer } from "../../src/server/index.js";
import type { Store } from "../../src/store/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { endlessBody } from "../support/endless-body.js";
import { type Harness, startHarness, TOKEN } from "./harness.js";

const SCHEMA = `definition user {}
definition document {
  relation viewer: user
  permission view = viewer
}`;

const CHECK = JSON.stringify({
  resource: { objectType: "document", objectId: "plan" },
  permission: "view",
  subject: { object: { objectType: "user", objectId: "alice" } },
});

const WRITE = JSON.stringify({
  updates: [
    {
      operation: "OPERATION_TOUCH",
      relationship: {
        resource: { objectType: "document", objectId: "plan" },
        relation: "viewer",
        subject: { object: { objectType: "user", objectId: "mallory" } },
      },
    },
  ],
});

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** A request through node:http, which sends Origin, Host and Sec-Fetch-Site as given. */
function send(address: string, path: string, headers: Record<string, string>, body = ""): Promise<Answer> {
  const [host, port] = address.split(":") as [string, string];
  return new Promise((resolve, reject) => {
    const req = request({ host, port: Number(port), path, method: "POST", headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("cross-site browser requests", () => {
  let store: Store;
  let server: RunningServer;
  let address: string;

  beforeAll(async () => {
    store = await createSqliteStore({ path: ":memory:" });
    await store.writeSchema(SCHEMA);
    server = await startServer({
      store,
      engine: createEngine({ store }),
      tokens: [],
      insecureNoAuth: true,
      listen: "127.0.0.1:0",
      httpListen: "127.0.0.1:0",
      logger: createLogger("silent"),
    });
    address = server.httpAddress!;
  });

  afterAll(async () => {
    await server.shutdown(1000);
    await store.close();
  });

  const written = async () =>
    (await store.at(await store.currentRevision()).readRelationships({ resourceType: "document" }))
      .relationships.length;

  for (const [name, headers] of [
    ["Sec-Fetch-Site: cross-site", { "sec-fetch-site": "cross-site", "content-type": "text/plain" }],
    ["Sec-Fetch-Site: same-site", { "sec-fetch-site": "same-site" }],
    ["an Origin of another host", { origin: "http://localhost:9999" }],
    ["an Origin of another port", { origin: "http://127.0.0.1:1" }],
    ["Origin: null", { origin: "null" }],
  ] as const) {
    it(`refuses a gateway write with ${name} (403, nothing written)`, async () => {
      const answer = await send(address, "/v1/relationships/write", headers, WRITE);
      expect(answer.status).toBe(403);
      expect(answer.headers["latch-error-code"]).toBe("http/cross-site");
      const body = JSON.parse(answer.body) as { code: number; message: string };
      expect(body.code).toBe(7);
      expect(body.message).toContain("cross-site browser requests are refused");
      expect(await written()).toBe(0);
    });
  }

  it("refuses a cross-site Connect call, in Connect's error shape", async () => {
    const answer = await send(
      address,
      "/latch.v1.PermissionService/CheckPermission",
      { "sec-fetch-site": "cross-site", "content-type": "application/json" },
      "{}",
    );
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.body)).toMatchObject({
      code: "permission_denied",
      errorCode: "http/cross-site",
    });
  });

  it("takes same-origin browser requests and requests without browser headers", async () => {
    const sameOrigin = await send(
      address,
      "/v1/permissions/check",
      { "sec-fetch-site": "same-origin" },
      CHECK,
    );
    expect(sameOrigin.status).toBe(200);
    const typed = await send(address, "/v1/permissions/check", { "sec-fetch-site": "none" }, CHECK);
    expect(typed.status).toBe(200);
    const origin = await send(address, "/v1/permissions/check", { origin: `http://${address}` }, CHECK);
    expect(origin.status).toBe(200);
    const curl = await send(address, "/v1/permissions/check", {}, CHECK);
    expect(curl.status).toBe(200);
  });

  it("leaves GET alone (health, the console's files)", async () => {
    const res = await fetch(`http://${address}/healthz`, { headers: { "sec-fetch-site": "cross-site" } });
    expect(res.status).toBe(200);
    await res.text();
  });

  it("compares Origin with Host by scheme and default port", () => {
    const req = (method: string, headers: Record<string, string>) =>
      ({ method, headers }) as unknown as Parameters<typeof crossSiteReason>[0];
    expect(
      crossSiteReason(req("POST", { origin: "https://latch.example.com", host: "latch.example.com:443" })),
    ).toBe(undefined);
    expect(
      crossSiteReason(req("POST", { origin: "http://LATCH.example.com", host: "latch.example.com" })),
    ).toBe(undefined);
    expect(
      crossSiteReason(req("POST", { origin: "https://evil.example", host: "latch.example.com" })),
    ).toContain("evil.example");
    // A browser that sends Sec-Fetch-Site is judged by it alone (a proxy may rewrite Host).
    expect(
      crossSiteReason(req("POST", { "sec-fetch-site": "same-origin", origin: "https://a", host: "b" })),
    ).toBe(undefined);
    expect(crossSiteReason(req("GET", { "sec-fetch-site": "cross-site" }))).toBe(undefined);
  });
});

describe("deadlines over HTTP", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ server: { httpListen: "127.0.0.1:0" } });
    await h.store.writeSchema(SCHEMA);
  });
  afterAll(async () => {
    await h.close();
  });

  it("clamps a Grpc-Timeout over 2^31-1 ms", () => {
    expect(grpcTimeoutMs("1000H")).toBe(MAX_TIMER_MS);
    expect(grpcTimeoutMs("99999999S")).toBe(MAX_TIMER_MS);
    expect(grpcTimeoutMs("596H")).toBe(596 * 3_600_000);
  });

  for (const timeout of ["1000H", "99999999S"]) {
    it(`answers a gateway check with Grpc-Timeout ${timeout} (not DEADLINE_EXCEEDED after 1 ms)`, async () => {
      const res = await fetch(`http://${h.server.httpAddress}/v1/permissions/check`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}`, "grpc-timeout": timeout },
        body: CHECK,
      });
      expect(`${res.status} ${await res.text()}`).toMatch(/^200 /);
    });
  }

  for (const ms of ["2147483648", "9999999999"]) {
    it(`answers a Connect check with connect-timeout-ms ${ms}`, async () => {
      const res = await fetch(`http://${h.server.httpAddress}/latch.v1.PermissionService/CheckPermission`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${TOKEN}`,
          "content-type": "application/json",
          "connect-timeout-ms": ms,
        },
        body: CHECK,
      });
      expect(`${res.status} ${await res.text()}`).toMatch(/^200 /);
    });
  }

  it("ends a gateway Watch cut by its deadline with a DEADLINE_EXCEEDED error line", async () => {
    const res = await fetch(`http://${h.server.httpAddress}/v1/watch`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "grpc-timeout": "200m" },
      body: "{}",
    });
    const lines = (await res.text()).trim().split("\n");
    const last = JSON.parse(lines.at(-1)!) as { error?: { code: number } };
    expect(last.error?.code).toBe(4);
  });

  it("ends a Connect Watch cut by its deadline with deadline_exceeded", async () => {
    const json = Buffer.from("{}");
    const res = await fetch(`http://${h.server.httpAddress}/latch.v1.RelationshipService/Watch`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${TOKEN}`,
        "content-type": "application/connect+json",
        "connect-timeout-ms": "200",
      },
      body: Buffer.concat([Buffer.from([0, 0, 0, 0, json.length]), json]),
    });
    const text = Buffer.from(await res.arrayBuffer()).toString("latin1");
    expect(text).toContain('"code":"deadline_exceeded"');
  });
});

describe("refused requests with an endless body", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ server: { httpListen: "127.0.0.1:0" } });
  });
  afterAll(async () => {
    await h.close();
  });

  const cases: [string, string, string][] = [
    ["Connect without a token", "POST /latch.v1.PermissionService/CheckPermission", "401"],
    ["a path no route takes", "POST /nothing", "404"],
    ["the gateway without a token", "POST /v1/permissions/check", "401"],
  ];
  for (const [name, line, status] of cases) {
    it(`${name}: answered ${status} with connection: close, then closed by the server`, async () => {
      const r = await endlessBody(
        h.server.httpAddress!,
        `${line} HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n`,
      );
      expect(r.statusLine).toMatch(new RegExp(`^HTTP/1.1 ${status} `));
      expect(r.head).toContain("connection: close");
    }, 20_000);
  }

  it("the gateway over the size limit: answered 429, not cut before the answer", async () => {
    const r = await endlessBody(
      h.server.httpAddress!,
      `POST /v1/permissions/check HTTP/1.1\r\nHost: x\r\nauthorization: Bearer ${TOKEN}\r\n`,
    );
    expect(r.statusLine).toMatch(/^HTTP\/1.1 429 /);
  }, 20_000);

  it("a refusal of a request whose whole body was sent is answered as usual", async () => {
    const res = await fetch(`http://${h.server.httpAddress}/nothing`, { method: "POST", body: "{}" });
    expect(res.status).toBe(404);
    await res.text();
    const ok = await fetch(`http://${h.server.httpAddress}/healthz`);
    expect(ok.status).toBe(200);
    await ok.text();
  });
});
