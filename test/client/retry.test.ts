import { create } from "@bufbuild/protobuf";
import { Server, ServerCredentials, type sendUnaryData, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "../../src/client/index.js";
import {
  ReadSchemaResponseSchema,
  SchemaService,
  WriteSchemaResponseSchema,
} from "../../src/gen/latch/v1/schema_service_pb.js";
import { serviceDefinition } from "../../src/server/index.js";

/** A stand-in server whose calls fail with UNAVAILABLE a given number of times first. */
describe("client retries", () => {
  const server = new Server();
  const calls = { readSchema: 0, writeSchema: 0 };
  let failuresLeft = 0;
  let address = "";

  beforeAll(async () => {
    const unavailable = { code: status.UNAVAILABLE, details: "try again" };
    server.addService(serviceDefinition(SchemaService), {
      readSchema(_call: unknown, callback: sendUnaryData<unknown>) {
        calls.readSchema++;
        if (failuresLeft-- > 0) callback(unavailable);
        else
          callback(
            null,
            create(ReadSchemaResponseSchema, { schemaText: "definition user {}", readAt: { token: "t" } }),
          );
      },
      writeSchema(_call: unknown, callback: sendUnaryData<unknown>) {
        calls.writeSchema++;
        if (failuresLeft-- > 0) callback(unavailable);
        else callback(null, create(WriteSchemaResponseSchema, { writtenAt: { token: "t" } }));
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    address = `127.0.0.1:${port}`;
  });

  afterAll(() => {
    server.forceShutdown();
  });

  it("retries an idempotent call on UNAVAILABLE", async () => {
    const client = createClient({ address, maxAttempts: 3 });
    calls.readSchema = 0;
    failuresLeft = 2;
    expect((await client.readSchema()).schema).toBe("definition user {}");
    expect(calls.readSchema).toBe(3);
    await client.close();
  });

  it("gives up after the configured attempts", async () => {
    const client = createClient({ address, maxAttempts: 2 });
    calls.readSchema = 0;
    failuresLeft = 5;
    await expect(client.readSchema()).rejects.toMatchObject({
      kind: "unavailable",
      status: status.UNAVAILABLE,
    });
    expect(calls.readSchema).toBe(2);
    await client.close();
  });

  it("never retries a write", async () => {
    const client = createClient({ address, maxAttempts: 5 });
    calls.writeSchema = 0;
    failuresLeft = 1;
    await expect(client.writeSchema("definition user {}")).rejects.toMatchObject({ kind: "unavailable" });
    expect(calls.writeSchema).toBe(1);
    await client.close();
  });
});
