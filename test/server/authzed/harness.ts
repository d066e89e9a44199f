/** What the authzed.api.v1 tests share: the real @authzed/authzed-node client and SpiceDB's error details. */

import { v1 } from "@authzed/authzed-node";
import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import type * as grpc from "@grpc/grpc-js";
import { ErrorInfoSchema } from "../../../src/gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../../src/gen/google/rpc/status_pb.js";
import { TOKEN } from "../harness.js";

export { v1 };

/**
 * A client of the real library for a server bound on 127.0.0.1. INSECURE_PLAINTEXT_CREDENTIALS
 * sends the token to any address; INSECURE_LOCALHOST_ALLOWED only to one spelled `localhost:`,
 * so that mode is given the same port under that name.
 */
export function spiceClient(
  address: string,
  options: { token?: string; mode?: "plaintext" | "localhost" } = {},
): v1.ZedClientInterface {
  const mode = options.mode ?? "plaintext";
  return mode === "plaintext"
    ? v1.NewClient(options.token ?? TOKEN, address, v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS)
    : v1.NewClient(
        options.token ?? TOKEN,
        address.replace(/^127\.0\.0\.1:/, "localhost:"),
        v1.ClientSecurity.INSECURE_LOCALHOST_ALLOWED,
      );
}

/** The google.rpc.Status and its ErrorInfo that a failed authzed call carries in its trailers. */
export function errorInfoOf(metadata: grpc.Metadata | undefined) {
  const raw = metadata?.get("grpc-status-details-bin")[0];
  if (!(raw instanceof Buffer)) return undefined;
  const rpc = fromBinary(StatusSchema, raw);
  const info = rpc.details.map((d) => anyUnpack(d, ErrorInfoSchema)).find((x) => x !== undefined);
  return { status: rpc, info };
}

/** The call's error (the same as latch.v1's tests use). */
export { failure } from "../harness.js";
