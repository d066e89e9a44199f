import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LatchError } from "../../../src/core/index.js";
import { AuthzedError, toAuthzedWireError } from "../../../src/server/authzed/index.js";
import { healthStatus, reflectionAnswers } from "../grpc-probes.js";
import { type Harness, startHarness, TOKEN } from "../harness.js";
import { errorInfoOf, failure, spiceClient, v1 } from "./harness.js";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

function client(token = TOKEN) {
  return spiceClient(h.server.address, { token });
}

describe("authzed.api.v1 registration", () => {
  it("answers a method not yet served with UNIMPLEMENTED and says which", async () => {
    const c = client();
    try {
      const error = await failure(
        c.promises.experimentalCountRelationships(
          v1.ExperimentalCountRelationshipsRequest.create({ name: "x" }),
        ),
      );
      expect(error.code).toBe(grpc.status.UNIMPLEMENTED);
      expect(error.details).toContain("authzed.api.v1.ExperimentalService/ExperimentalCountRelationships");
    } finally {
      c.close();
    }
  });

  it("refuses a call without a valid token before anything else", async () => {
    const c = client("not-the-token-0123456789");
    try {
      const error = await failure(c.promises.readSchema(v1.ReadSchemaRequest.create({})));
      expect(error.code).toBe(grpc.status.UNAUTHENTICATED);
    } finally {
      c.close();
    }
  });

  it("sends the token to a localhost address in INSECURE_LOCALHOST_ALLOWED mode", async () => {
    const c = spiceClient(h.server.address, { mode: "localhost" });
    try {
      const error = await failure(
        c.promises.experimentalCountRelationships(
          v1.ExperimentalCountRelationshipsRequest.create({ name: "x" }),
        ),
      );
      // Past the auth interceptor: the method itself answered.
      expect(error.code).toBe(grpc.status.UNIMPLEMENTED);
    } finally {
      c.close();
    }
  });

  it("is listed by health and reflection", async () => {
    for (const service of ["authzed.api.v1.PermissionsService", "authzed.api.v1.WatchService"]) {
      expect(await healthStatus(h.server.address, service)).toBe("SERVING");
    }
    // Both versions of the reflection API (grpcurl still asks v1alpha).
    for (const version of ["v1", "v1alpha"] as const) {
      const list = await reflectionAnswers(h.server.address, version, [
        { list_services: "" },
        { file_containing_symbol: "authzed.api.v1.PermissionsService" },
      ]);
      const services = list[0]?.list_services_response as { service: { name: string }[] };
      expect(services.service.map((s) => s.name)).toEqual(
        expect.arrayContaining([
          "latch.v1.PermissionService",
          "authzed.api.v1.PermissionsService",
          "authzed.api.v1.SchemaService",
          "authzed.api.v1.WatchService",
          "authzed.api.v1.ExperimentalService",
        ]),
      );
      const files = list[1]?.file_descriptor_response as { file_descriptor_proto: Buffer[] };
      expect(files.file_descriptor_proto.length).toBeGreaterThan(0);
    }
  });
});

describe("SpiceDB's error shape", () => {
  it("maps an unknown definition to FAILED_PRECONDITION with ErrorInfo UNKNOWN_DEFINITION", () => {
    const wire = toAuthzedWireError(
      new LatchError("check/unknown-type", "invalid-argument", "unknown object type doc", { type: "doc" }),
      "req-1",
    );
    expect(wire.code).toBe(grpc.status.FAILED_PRECONDITION);
    const details = errorInfoOf(wire.metadata);
    expect(details?.status.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(details?.info).toMatchObject({
      domain: "authzed.com",
      reason: "ERROR_REASON_UNKNOWN_DEFINITION",
      metadata: { definition_name: "doc" },
    });
  });

  it("gives a schema parse error SpiceDB's 0-based line and column metadata", () => {
    const wire = toAuthzedWireError(
      new LatchError("schema/invalid", "invalid-argument", "schema:2:5: unexpected token", {
        diagnostics: [
          {
            code: "schema/syntax",
            line: 2,
            column: 5,
            length: 3,
            message: "x",
            excerpt: "  foo bar\n    ^^^",
          },
        ],
      }),
      "req-2",
    );
    expect(wire.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(errorInfoOf(wire.metadata)?.info).toMatchObject({
      reason: "ERROR_REASON_SCHEMA_PARSE_ERROR",
      metadata: {
        start_line_number: "1",
        start_column_position: "4",
        end_line_number: "1",
        end_column_position: "6",
        source_code: "foo bar",
      },
    });
  });

  it("keeps an unexpected failure's cause to the log: INTERNAL with the request id only", () => {
    const wire = toAuthzedWireError(new Error("disk on fire at /secret"), "req-3");
    expect(wire.code).toBe(grpc.status.INTERNAL);
    expect(wire.unexpected).toBe(true);
    expect(wire.details).not.toContain("secret");
    expect(wire.details).toContain("req-3");
  });

  it("passes an AuthzedError's status and reason as they are", () => {
    const wire = toAuthzedWireError(
      new AuthzedError(grpc.status.INVALID_ARGUMENT, "too many", "ERROR_REASON_TOO_MANY_UPDATES_IN_REQUEST", {
        update_count: "1001",
      }),
      "req-4",
    );
    expect(wire.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(errorInfoOf(wire.metadata)?.info?.metadata).toEqual({ update_count: "1001" });
  });
});

describe("lists over their limits, as SpiceDB reports each", () => {
  const over = (code: string, details: Record<string, unknown>) =>
    errorInfoOf(
      toAuthzedWireError(new LatchError(code as never, "resource-exhausted", "over", details), "r").metadata,
    )?.info;

  it("names updates, preconditions and other limits with SpiceDB's keys", () => {
    expect(over("request/over-limit", { field: "updates", limit: 1000, got: 1001 })).toMatchObject({
      reason: "ERROR_REASON_TOO_MANY_UPDATES_IN_REQUEST",
      metadata: { update_count: "1001", maximum_updates_allowed: "1000" },
    });
    expect(over("write/too-many-updates", { limit: 1000, count: 1200 })).toMatchObject({
      reason: "ERROR_REASON_TOO_MANY_UPDATES_IN_REQUEST",
      metadata: { update_count: "1200", maximum_updates_allowed: "1000" },
    });
    expect(
      over("request/over-limit", { field: "optional_preconditions", limit: 1000, got: 1001 }),
    ).toMatchObject({
      reason: "ERROR_REASON_TOO_MANY_PRECONDITIONS_IN_REQUEST",
      metadata: { precondition_count: "1001" },
    });
    expect(over("check/too-many-items", { max: 1000, count: 1001 })).toMatchObject({
      reason: "ERROR_REASON_UNSPECIFIED",
      metadata: { check_count: "1001", maximum_checks_allowed: "1000" },
    });
    expect(over("request/over-limit", { field: "relationships", limit: 10, got: 11 })).toMatchObject({
      reason: "ERROR_REASON_EXCEEDS_MAXIMUM_ALLOWABLE_LIMIT",
      metadata: { limit_provided: "11", maximum_limit_allowed: "10" },
    });
  });
});
