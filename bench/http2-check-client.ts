/**
 * A lean gRPC client for unary CheckPermission over node:http2, for load generation only. On this
 * 2-core machine the load generator shares the CPU with the server it measures, and the grpc-js
 * client spends more CPU per call than a Latch server answering a cached check does
 * (bench/README.md), so the grpc-js client caps the figure at its own speed. This one frames
 * pre-encoded requests by hand (the gRPC wire format: a 1-byte compression flag, a 4-byte
 * big-endian length, the message) and checks the status trailer and the answer of every call.
 */
import { connect } from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  CheckPermissionRequestSchema,
  CheckPermissionResponseSchema,
} from "../src/gen/latch/v1/permission_service_pb.js";
import type { CheckInput } from "./fixtures.js";

const PATH = "/latch.v1.PermissionService/CheckPermission";

export interface Http2CheckClient {
  /** Sends one framed request from `encodeCheck`; resolves with the answer's permissionship. */
  check(framed: Uint8Array): Promise<number>;
  close(): void;
}

/** A check request in gRPC framing, encoded once outside any timed code. */
export function encodeCheck(input: CheckInput): Uint8Array {
  const message = toBinary(
    CheckPermissionRequestSchema,
    create(CheckPermissionRequestSchema, {
      resource: { objectType: input.resource.type, objectId: input.resource.id },
      permission: input.permission,
      subject: {
        object: { objectType: input.subject.type, objectId: input.subject.id },
        optionalRelation: "",
      },
    }),
  );
  const framed = new Uint8Array(5 + message.length);
  new DataView(framed.buffer).setUint32(1, message.length);
  framed.set(message, 5);
  return framed;
}

export function createHttp2CheckClient(address: string, token: string): Http2CheckClient {
  const session = connect(`http://${address}`);
  session.on("error", () => {
    // Each call reports its own failure; an idle session error must not crash the generator.
  });
  const headers = {
    ":method": "POST",
    ":path": PATH,
    "content-type": "application/grpc",
    te: "trailers",
    authorization: `Bearer ${token}`,
  };
  return {
    check(framed) {
      return new Promise((resolve, reject) => {
        const stream = session.request(headers);
        const chunks: Buffer[] = [];
        let status: string | undefined;
        let message = "";
        const take = (h: Record<string, unknown>) => {
          if (h["grpc-status"] !== undefined) {
            status = String(h["grpc-status"]);
            message = decodeURIComponent(String(h["grpc-message"] ?? ""));
          }
        };
        stream.on("response", take);
        stream.on("trailers", take);
        stream.on("data", (chunk: Buffer) => chunks.push(chunk));
        stream.on("error", reject);
        stream.on("close", () => {
          if (status !== "0") {
            reject(new Error(`grpc-status ${status ?? "missing"}: ${message}`));
            return;
          }
          const body = Buffer.concat(chunks);
          if (body.length < 5) {
            reject(new Error("empty response"));
            return;
          }
          resolve(
            fromBinary(CheckPermissionResponseSchema, body.subarray(5, 5 + body.readUInt32BE(1)))
              .permissionship,
          );
        });
        stream.end(framed);
      });
    },
    close() {
      session.close();
    },
  };
}
