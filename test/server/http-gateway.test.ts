/**
 * SpiceDB's HTTP gateway routes on `--http-listen`, with plain `fetch` and JSON as SpiceDB's
 * documented `curl` examples send it: the answers, the error shape (google.rpc.Status as JSON with
 * the HTTP status of its code), streams as JSON lines, and the per-token stores of `--testing`.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseRelationship } from "../../src/core/index.js";
import { CheckPermissionRequestSchema } from "../../src/gen/authzed/api/v1/permission_service_pb.js";
import { openLatch } from "../../src/open/index.js";
import { SPICEDB_GATEWAY_ROUTES } from "../../src/server/gateway-routes.js";
import { grpcTimeoutMs, withUnsetAsNull } from "../../src/server/http-gateway.js";
import { createLogger, type RunningServer, startServer } from "../../src/server/index.js";
import { listElements, scanned, splitJsonValues } from "../../src/server/json-text.js";
import { SERVED_SHAPES } from "../../src/server/services.js";
import { type Harness, startHarness, TOKEN } from "./harness.js";

const SCHEMA = `definition user {}
definition document {
  relation viewer: user
  permission view = viewer
}`;

type Json = Record<string, unknown>;

function poster(address: () => string) {
  return (path: string, body: unknown, token: string | null = TOKEN, method = "POST") =>
    fetch(`http://${address()}${path}`, {
      method,
      headers: token === null ? {} : { authorization: `Bearer ${token}` },
      ...(method === "POST" ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
    });
}

const doc = (id: string) => ({ objectType: "document", objectId: id });
const user = (id: string) => ({ object: { objectType: "user", objectId: id } });
const fully = { fullyConsistent: true };

describe("SpiceDB's HTTP gateway", () => {
  let h: Harness;
  const post = poster(() => h.server.httpAddress!);

  beforeAll(async () => {
    h = await startHarness({ server: { httpListen: "127.0.0.1:0" } });
    await h.store.writeSchema(SCHEMA);
    await h.store.write(
      [
        "document:plan#viewer@user:alice",
        "document:memo#viewer@user:alice",
        "document:memo#viewer@user:bob",
      ].map((r) => ({ operation: "touch", relationship: parseRelationship(r) })),
    );
  });

  afterAll(async () => {
    await h.close();
  });

  it("answers POST /v1/permissions/check as SpiceDB's gateway does", async () => {
    const res = await post("/v1/permissions/check", {
      consistency: fully,
      resource: doc("plan"),
      permission: "view",
      subject: user("alice"),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/json");
    const body = (await res.json()) as Json;
    expect(body.permissionship).toBe("PERMISSIONSHIP_HAS_PERMISSION");
    expect((body.checkedAt as { token: string }).token).not.toBe("");
    // Unset message fields are written as null, as grpc-gateway's marshaler writes them.
    expect(body).toMatchObject({ partialCaveatInfo: null, debugTrace: null, optionalExpiresAt: null });
    const no = (await (
      await post("/v1/permissions/check", {
        consistency: fully,
        resource: doc("plan"),
        permission: "view",
        subject: user("bob"),
      })
    ).json()) as Json;
    expect(no.permissionship).toBe("PERMISSIONSHIP_NO_PERMISSION");
  });

  it("answers a bulk check with a result per item", async () => {
    const res = await post("/v1/permissions/checkbulk", {
      consistency: fully,
      items: ["alice", "bob"].map((u) => ({ resource: doc("plan"), permission: "view", subject: user(u) })),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { pairs: { item: { permissionship: string } }[] };
    expect(body.pairs.map((p) => p.item.permissionship)).toEqual([
      "PERMISSIONSHIP_HAS_PERMISSION",
      "PERMISSIONSHIP_NO_PERMISSION",
    ]);
  });

  it("imports a body of several messages, a large one read in parts, as one CREATE import", async () => {
    const rels = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({
        resource: doc(`bulk-${from + i}`),
        relation: "viewer",
        subject: user(`u${(from + i) % 7}`),
      }));
    // 1,000 relationships in the first message: several parts of the gateway's 200.
    const body = `${JSON.stringify({ relationships: rels(0, 1_000) })}\n${JSON.stringify({ relationships: rels(1_000, 3) })}`;
    const res = await post("/v1/relationships/importbulk", body);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ numLoaded: "1003" });
    const check = async (id: string, u: string) =>
      (
        (await (
          await post("/v1/permissions/check", {
            consistency: fully,
            resource: doc(id),
            permission: "view",
            subject: user(u),
          })
        ).json()) as Json
      ).permissionship;
    expect(await check("bulk-0", "u0")).toBe("PERMISSIONSHIP_HAS_PERMISSION");
    expect(await check("bulk-999", "u5")).toBe("PERMISSIONSHIP_HAS_PERMISSION");
    expect(await check("bulk-1002", "u1")).toBe("PERMISSIONSHIP_HAS_PERMISSION");
    expect(await check("bulk-999", "u6")).toBe("PERMISSIONSHIP_NO_PERMISSION");

    // A bad relationship in a late part, or one that exists, refuses the whole body.
    const late = rels(2_000, 1_000);
    late[900] = { ...late[900]!, relation: "owner" };
    const refused = await post("/v1/relationships/importbulk", { relationships: late });
    expect(refused.status).toBe(400);
    const again = await post("/v1/relationships/importbulk", {
      relationships: rels(3_000, 500).concat(rels(0, 1)),
    });
    expect(again.status).toBe(409);
    expect(await check("bulk-2000", "u5")).toBe("PERMISSIONSHIP_NO_PERMISSION");
    expect(await check("bulk-3000", "u4")).toBe("PERMISSIONSHIP_NO_PERMISSION");
  });

  it("exports a large message as a small one: the same JSON for every relationship, in the same key order", async () => {
    const exported = async (limit: number) => {
      const res = await post("/v1/relationships/exportbulk", { consistency: fully, optionalLimit: limit });
      expect(res.status).toBe(200);
      const results = (await res.text())
        .trim()
        .split("\n")
        .map((line) => (JSON.parse(line) as { result: Json }).result);
      return {
        keys: Object.keys(results[0]!),
        relationships: results.flatMap((r) => r.relationships as Json[]),
        sizes: results.map((r) => (r.relationships as Json[]).length),
      };
    };
    // Messages of up to 1,000 (the bulk import above: converted a piece at a time) and of 40 (whole).
    const large = await exported(1_000);
    const small = await exported(40);
    expect(Math.max(...large.sizes)).toBeGreaterThan(50);
    expect(Math.max(...small.sizes)).toBeLessThanOrEqual(40);
    expect(large.keys).toEqual(["afterResultCursor", "relationships"]);
    expect(small.keys).toEqual(large.keys);
    expect(large.relationships).toEqual(small.relationships);
    expect(large.relationships[0]).toMatchObject({ optionalCaveat: null, optionalExpiresAt: null });
  });

  it('streams LookupResources as one {"result": ...} object per line', async () => {
    const res = await post("/v1/permissions/resources", {
      consistency: fully,
      resourceObjectType: "document",
      permission: "view",
      subject: user("alice"),
    });
    expect(res.status).toBe(200);
    const lines = (await res.text()).trim().split("\n");
    const ids = lines.map(
      (line) => (JSON.parse(line) as { result: { resourceObjectId: string } }).result.resourceObjectId,
    );
    expect(ids.sort()).toEqual(["memo", "plan"]);
  });

  it("gives errors as a google.rpc.Status in JSON, with the HTTP status of its code and SpiceDB's ErrorInfo", async () => {
    const res = await post("/v1/permissions/check", {
      consistency: fully,
      resource: { objectType: "folder", objectId: "x" },
      permission: "view",
      subject: user("alice"),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: number; message: string; details: Json[] };
    expect(body.code).toBe(9); // FAILED_PRECONDITION, as SpiceDB answers an unknown definition
    expect(body.message).toContain("folder");
    expect(body.details[0]?.["@type"]).toBe("type.googleapis.com/google.rpc.ErrorInfo");
    expect(body.details[0]?.reason).toBe("ERROR_REASON_UNKNOWN_DEFINITION");
    expect(body.details[0]?.domain).toBe("authzed.com");
  });

  it('fails a stream before its first result with the HTTP status and {"error": ...}', async () => {
    const res = await post("/v1/permissions/resources", {
      resourceObjectType: "folder",
      permission: "view",
      subject: user("alice"),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: number } };
    expect(body.error.code).toBe(9);
  });

  it("refuses a call without a valid token with 401 and code 16", async () => {
    for (const token of [null, "wrong-token-0123456789"]) {
      const res = await post(
        "/v1/permissions/check",
        { resource: doc("plan"), permission: "view", subject: user("a") },
        token,
      );
      expect(res.status).toBe(401);
      expect(((await res.json()) as { code: number }).code).toBe(16);
    }
  });

  it("refuses a body that is not JSON of the request message with 400 and says why", async () => {
    const notJson = await post("/v1/permissions/check", "{not json");
    expect(notJson.status).toBe(400);
    const body = (await notJson.json()) as { code: number; message: string };
    expect(body.code).toBe(3);
    expect(body.message).toContain("authzed.api.v1.CheckPermissionRequest");
    const wrongType = await post("/v1/permissions/check", { permission: 42 });
    expect(wrongType.status).toBe(400);
    expect(((await wrongType.json()) as { message: string }).message).toContain("permission");
  });

  it("refuses a client stream's body that is not JSON values with 400, where it goes wrong, importing nothing", async () => {
    const one = JSON.stringify({
      relationships: [{ resource: doc("torn-1"), relation: "viewer", subject: user("ana") }],
    });
    for (const [body, says] of [
      [`${one}\n{"relationships": [`, "not complete"],
      [`${one} x ${one}`, 'found "x"'],
      [`${one}\u00a0${one}`, "found byte 0xc2"],
    ] as const) {
      const res = await post("/v1/relationships/importbulk", body);
      expect(res.status).toBe(400);
      const refusal = (await res.json()) as { code: number; message: string };
      expect(refusal.code).toBe(3);
      expect(refusal.message).toContain("authzed.api.v1.ImportBulkRelationshipsRequest");
      expect(refusal.message).toContain(says);
    }
    const check = await post("/v1/permissions/check", {
      consistency: fully,
      resource: doc("torn-1"),
      permission: "view",
      subject: user("ana"),
    });
    expect(((await check.json()) as Json).permissionship).toBe("PERMISSIONSHIP_NO_PERMISSION");
  });

  it("refuses a caveat context nested past any limit on both routes with 400, and keeps serving", async () => {
    const deep = "[".repeat(200_000) + "]".repeat(200_000);
    const body = `{"resource":{"objectType":"document","objectId":"plan"},"permission":"view","subject":{"object":{"objectType":"user","objectId":"alice"}},"context":{"x":${deep}}}`;
    const gateway = await post("/v1/permissions/check", body);
    expect(gateway.status).toBe(400);
    expect(((await gateway.json()) as { code: number }).code).toBe(3);
    const connect = await fetch(`http://${h.server.httpAddress}/latch.v1.PermissionService/CheckPermission`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body,
    });
    expect(connect.status).toBe(400);
    expect(((await connect.json()) as { code: string }).code).toBe("invalid_argument");
    const after = await post("/v1/permissions/check", {
      consistency: fully,
      resource: doc("plan"),
      permission: "view",
      subject: user("alice"),
    });
    expect(after.status).toBe(200);
  });

  it("refuses a body over --max-message-bytes with 429", async () => {
    const huge = "x".repeat(h.server.server.limits.maxMessageBytes + 1);
    const res = await post("/v1/permissions/check", { permission: huge });
    expect(res.status).toBe(429);
    expect(((await res.json()) as { code: number }).code).toBe(8);
  });

  it("answers an unknown /v1/ path with 404 and a method other than POST with 405", async () => {
    const missing = await post("/v1/permissions/nothing", {});
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { code: number }).code).toBe(5);
    const get = await post("/v1/permissions/check", undefined, TOKEN, "GET");
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
  });

  it("answers GET /healthz without a token, as grpc-gateway's health endpoint does", async () => {
    const res = await post("/healthz", undefined, null, "GET");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "SERVING" });
  });

  it("takes Grpc-Timeout as the call's deadline, and refuses one it cannot read", async () => {
    const request = { consistency: fully, resource: doc("plan"), permission: "view", subject: user("alice") };
    const within = await fetch(`http://${h.server.httpAddress}/v1/permissions/check`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "grpc-timeout": "10S" },
      body: JSON.stringify(request),
    });
    expect(within.status).toBe(200);
    const bad = await fetch(`http://${h.server.httpAddress}/v1/permissions/check`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "grpc-timeout": "soon" },
      body: JSON.stringify(request),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toContain("Grpc-Timeout");
    expect(grpcTimeoutMs("250m")).toBe(250);
    expect(grpcTimeoutMs("2S")).toBe(2000);
    expect(grpcTimeoutMs("1H")).toBe(3_600_000);
    expect(grpcTimeoutMs(undefined)).toBeUndefined();
  });

  it("answers a method Latch does not serve with 501 and code 12 (UNIMPLEMENTED)", async () => {
    const res = await post("/v1/experimental/countrelationships", { name: "docs" });
    expect(res.status).toBe(501);
    const body = (await res.json()) as { code: number; message: string };
    expect(body.code).toBe(12);
    expect(body.message).toContain("ExperimentalCountRelationships");
  });
});

describe("the gateway's route table", () => {
  it("names each path once, and only methods the authzed services have", () => {
    const paths = SPICEDB_GATEWAY_ROUTES.map((r) => r.path);
    expect(new Set(paths).size).toBe(paths.length);
    for (const r of SPICEDB_GATEWAY_ROUTES) {
      const service = SERVED_SHAPES.find((s) => s.service.typeName === r.service)?.service;
      expect(
        service?.methods.some((m) => m.name === r.method),
        `${r.path} -> ${r.service}/${r.method}`,
      ).toBe(true);
    }
  });

  it("routes every method of the authzed services", () => {
    for (const shape of SERVED_SHAPES.filter((s) => s.service.typeName.startsWith("authzed."))) {
      for (const m of shape.service.methods) {
        expect(
          SPICEDB_GATEWAY_ROUTES.some((r) => r.service === shape.service.typeName && r.method === m.name),
          `${shape.service.typeName}/${m.name}`,
        ).toBe(true);
      }
    }
  });

  it("writes unset message fields as null, but leaves unset oneof members out", () => {
    const json = withUnsetAsNull(CheckPermissionRequestSchema, {
      permission: "view",
      consistency: {},
    }) as Json;
    expect(json).toMatchObject({ permission: "view", resource: null, subject: null, context: null });
    expect(json.consistency).toEqual({});
    expect(Object.keys(json)).not.toContain("minimizeLatency");
  });

  it("splits a client stream's body into its JSON messages, outside strings", () => {
    const values = (text: string) => {
      const body = Buffer.from(text);
      return scanned(splitJsonValues(body)).map(([from, to]) => body.toString("utf8", from, to));
    };
    expect(values('{"a":"}{"}\n{"b":[1,{"c":2}]}  {}')).toEqual(['{"a":"}{"}', '{"b":[1,{"c":2}]}', "{}"]);
    expect(values('{"a":"\\"}"}')).toEqual(['{"a":"\\"}"}']);
    // A quote after an escaped backslash closes the string.
    expect(values('{"a":"x\\\\"}{"b":"\\\\\\""}')).toEqual(['{"a":"x\\\\"}', '{"b":"\\\\\\""}']);
    // Bytes, not characters: a multi-byte character never reads as structure.
    expect(values('\uFEFF{"ä€😀":"}"} {"b":"ü"}')).toEqual(['{"ä€😀":"}"}', '{"b":"ü"}']);
    expect(() => values('{"a":1')).toThrow("not complete");
    expect(() => values('{"a":"1}')).toThrow("not complete");
    // A string between values is not a message: refused, not skipped.
    expect(() => values('{} "x" {}')).toThrow('expected a JSON object at byte 3, found """');
    expect(() => values('1 {"a":1}')).toThrow('expected a JSON object at byte 0, found "1"');
    expect(() => values("{} \u00a0{}")).toThrow("found byte 0xc2");
  });
});

describe("listElements", () => {
  const elementsOf = (text: string) => {
    const body = Buffer.from(` ${text}`);
    const list = scanned(listElements(body, 1));
    if (list === undefined) return undefined;
    const items: unknown[] = [];
    for (let k = 0; k < list.bounds.length; k += 2) {
      items.push(JSON.parse(body.toString("utf8", list.bounds[k], list.bounds[k + 1])));
    }
    return { [list.key]: items };
  };

  it("finds each element of a one-key object's array, as JSON.parse reads them", () => {
    fc.assert(
      fc.property(
        fc
          .string({ unit: "grapheme" })
          .filter((k) => !k.includes("\\") && !k.includes('"') && k !== "__proto__"),
        fc.array(fc.jsonValue({ stringUnit: "grapheme" }), { maxLength: 8 }),
        fc.constantFrom(undefined, 2, "\t"),
        (key, items, space) => {
          const text = JSON.stringify({ [key]: items }, null, space);
          expect(elementsOf(text)).toEqual(JSON.parse(text));
        },
      ),
    );
  });

  it("never disagrees with JSON.parse on any JSON text; declines other shapes", () => {
    fc.assert(
      fc.property(fc.json({ stringUnit: "grapheme" }), (text) => {
        const found = elementsOf(text);
        if (found !== undefined) expect(found).toEqual(JSON.parse(text));
      }),
    );
    for (const text of [
      '{"a": [1], "b": 2}',
      '{"a": 1}',
      "[1]",
      '{"a\\"b": [1]}',
      '{"a": [1}',
      '{"a": [1]} x',
    ]) {
      expect(scanned(listElements(Buffer.from(text)))).toBeUndefined();
    }
    // Elements that are not JSON are found, and left to JSON.parse to refuse.
    expect(scanned(listElements(Buffer.from('{"a": [1,,2]}')))?.bounds).toHaveLength(6);
    // A large body is scanned in steps (a caller paces them), with the same result.
    const items = Array.from({ length: 3_000 }, (_, k) => ({ id: `item-${k}`, text: "x".repeat(k % 200) }));
    const large = Buffer.from(JSON.stringify({ items }));
    let steps = 0;
    const values = splitJsonValues(large);
    for (let step = values.next(); step.done !== true; step = values.next()) steps++;
    const scan = listElements(large);
    let step = scan.next();
    for (; step.done !== true; step = scan.next()) steps++;
    expect(steps).toBeGreaterThanOrEqual(2 * Math.floor(large.length / (64 * 1024)));
    const bounds = step.value!.bounds;
    expect(bounds).toHaveLength(2 * items.length);
    expect(JSON.parse(large.toString("utf8", bounds[2 * 2_999], bounds[2 * 2_999 + 1]))).toEqual(
      items[2_999],
    );
    // Only the span asked for is read: the same list inside a larger body.
    const body = Buffer.from('{"x": [0]} {"a": [1, 2]} {}');
    expect(scanned(listElements(body, 11, 24))).toEqual({ key: "a", bounds: [18, 19, 20, 22] });
  });
});

describe("the gateway in --testing", () => {
  let server: RunningServer;
  const post = poster(() => server.httpAddress!);

  beforeAll(async () => {
    server = await startServer({
      testing: { open: () => openLatch({ database: ":memory:", mirror: false }) },
      listen: "127.0.0.1:0",
      httpListen: "127.0.0.1:0",
      logger: createLogger("silent"),
    });
  });

  afterAll(async () => {
    await server.shutdown(1000);
  });

  it("answers each token from its own store", async () => {
    const connect = await fetch(`http://${server.httpAddress}/latch.v1.SchemaService/WriteSchema`, {
      method: "POST",
      headers: { authorization: "Bearer gateway-token-a", "content-type": "application/json" },
      body: JSON.stringify({ schema: SCHEMA }),
    });
    expect(connect.status).toBe(200);
    const request = { consistency: fully, resource: doc("plan"), permission: "view", subject: user("alice") };
    const a = await post("/v1/permissions/check", request, "gateway-token-a");
    expect(a.status).toBe(200);
    expect(((await a.json()) as Json).permissionship).toBe("PERMISSIONSHIP_NO_PERMISSION");
    // The other token's store has no schema: SpiceDB's answer for an unknown definition.
    const b = await post("/v1/permissions/check", request, "gateway-token-b");
    expect(b.status).toBe(400);
    expect(((await b.json()) as { code: number }).code).toBe(9);
  });
});
