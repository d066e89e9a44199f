/** The server edge bounds what a failed call sends back (see src/server/errors.ts). */
import { type Metadata, status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { LatchError } from "../../src/core/index.js";
import { compileSchema, SchemaError } from "../../src/schema/index.js";
import {
  boundDetails,
  boundStatusMessage,
  MAX_ERROR_DETAILS_BYTES,
  MAX_STATUS_MESSAGE_CHARS,
  MAX_STATUS_MESSAGE_OCTETS,
  toWireError,
} from "../../src/server/errors.js";

/** What the trailers of a failed call weigh in HTTP/2 terms (name + value + 32 per field). */
function trailerOctets(details: string, metadata: Metadata): number {
  let total = "grpc-status".length + 1 + 32 + "grpc-message".length + encodeURI(details).length + 32;
  for (const [name, value] of Object.entries(metadata.toHttp2Headers())) {
    for (const v of Array.isArray(value) ? value : [value]) total += name.length + String(v).length + 32;
  }
  return total;
}

function schemaError(text: string): SchemaError {
  try {
    compileSchema(text);
  } catch (error) {
    if (error instanceof SchemaError) return error;
    throw error;
  }
  throw new Error("expected a SchemaError");
}

describe("boundStatusMessage", () => {
  it("leaves a normal message alone", () => {
    expect(boundStatusMessage("unknown object type spaceship")).toBe("unknown object type spaceship");
  });

  it("cuts a long message and says how much is missing", () => {
    const message = "x".repeat(1024 * 1024);
    const bounded = boundStatusMessage(message);
    expect(bounded.length).toBeLessThanOrEqual(MAX_STATUS_MESSAGE_CHARS);
    const match = / … \((\d+) more characters\)$/.exec(bounded);
    expect(match).not.toBeNull();
    expect(match!.index + Number(match![1])).toBe(message.length);
  });

  it("bounds the percent-encoded size, which grpc-js sends", () => {
    for (const char of ["€", " ", "😀", "é"]) {
      const bounded = boundStatusMessage(char.repeat(MAX_STATUS_MESSAGE_CHARS));
      expect(encodeURI(bounded).length).toBeLessThanOrEqual(MAX_STATUS_MESSAGE_OCTETS);
    }
  });

  it("replaces lone surrogates, on which encodeURI would throw", () => {
    const bounded = boundStatusMessage(`bad \uD800 name \uDC00`);
    expect(() => encodeURI(bounded)).not.toThrow();
    expect(bounded).toBe("bad \uFFFD name \uFFFD");
  });
});

describe("boundDetails", () => {
  it("leaves small details whole", () => {
    expect(JSON.parse(boundDetails({ type: "document", limit: 5n }))).toEqual({
      type: "document",
      limit: "5",
    });
  });

  it("shrinks large details and marks them truncated", () => {
    const details = {
      field: "resource.object_type",
      count: 3,
      type: "a".repeat(1024 * 1024),
      list: Array.from({ length: 10_000 }, (_, i) => `item-${i}`),
      context: Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`key${i}`, i])),
    };
    const json = boundDetails(details);
    expect(Buffer.byteLength(json)).toBeLessThanOrEqual(MAX_ERROR_DETAILS_BYTES);
    const parsed = JSON.parse(json) as Record<string, unknown>;
    expect(parsed).toMatchObject({ field: "resource.object_type", count: 3, truncated: true });
    expect(parsed.type).toMatch(/… \(1048576 characters\)$/);
  });

  it("falls back to the short top-level values when even the shrunk form is too large", () => {
    const wide = Object.fromEntries(
      Array.from({ length: 20 }, (_, i) => [`k${i}`, Array.from({ length: 20 }, () => "y".repeat(200))]),
    );
    const json = boundDetails({ code: "x", ...wide });
    expect(Buffer.byteLength(json)).toBeLessThanOrEqual(MAX_ERROR_DETAILS_BYTES);
    expect(JSON.parse(json)).toEqual({ code: "x", truncated: true });
  });
});

describe("toWireError", () => {
  it("sends a schema with many errors as the first diagnostics and the count of all", () => {
    const lines = ["definition user {}", "definition doc {"];
    for (let i = 0; i < 300; i++) lines.push(`  relation rel_${i}: missing_type_${i}`);
    const error = schemaError(`${lines.join("\n")}\n}`);
    const wire = toWireError(error, "req-1");
    expect(wire.code).toBe(status.INVALID_ARGUMENT);
    expect(wire.details.length).toBeLessThanOrEqual(MAX_STATUS_MESSAGE_CHARS);
    expect(wire.details).toContain("missing_type_0");
    expect(wire.details).toContain("… and 280 more");
    const raw = wire.metadata.get("latch-error-details-bin")[0] as Buffer;
    expect(raw.length).toBeLessThanOrEqual(MAX_ERROR_DETAILS_BYTES);
    const details = JSON.parse(raw.toString("utf8")) as Record<string, unknown>;
    expect(details.diagnosticCount).toBe(300);
    expect(details.truncated).toBe(true);
    expect(details.diagnostics).toHaveLength(20);
    expect((details.diagnostics as unknown[])[0]).toEqual({
      code: "schema/unknown-type",
      file: "schema.zed",
      line: 3,
      column: 19,
      message: expect.stringContaining("missing_type_0"),
    });
  });

  it("keeps the trailers of the worst case far below Node's 64 KiB header list limit", () => {
    const huge = "€".repeat(1024 * 1024);
    const error = new LatchError("check/unknown-type", "invalid-argument", huge, {
      type: huge,
      list: [huge, huge],
      field: huge,
    });
    const wire = toWireError(error, "req-1");
    expect(trailerOctets(wire.details, wire.metadata)).toBeLessThan(32 * 1024);
  });

  it("leaves a normal error as it was", () => {
    const error = new LatchError("check/unknown-type", "invalid-argument", "unknown object type spaceship", {
      type: "spaceship",
    });
    const wire = toWireError(error, "req-1");
    expect(wire.details).toBe("unknown object type spaceship");
    const raw = wire.metadata.get("latch-error-details-bin")[0] as Buffer;
    expect(JSON.parse(raw.toString("utf8"))).toEqual({ type: "spaceship" });
  });
});
