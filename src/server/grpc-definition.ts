/**
 * grpc-js service definitions (paths and serializers) built from protobuf-es descriptors: the full
 * one for clients and tests, and the server's, whose requests stay raw bytes until the call
 * wrapper (grpc-adapter.ts) has seen the token.
 */
import { type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";
import type { ContextDecodeLimits } from "./struct-codec.js";

/** A Buffer over the encoded bytes: toBinary's array is ours alone, so it need not be copied. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * A server-side codec for one method, used instead of protobuf-es's reflection where that is a
 * visible cost (check-permission-codec.ts); it must give what fromBinary and toBinary give.
 */
export interface ServerCodec {
  /** Caveat contexts past `limits` are refused while decoding (struct-codec.ts). */
  readonly decodeRequest: (bytes: Buffer, limits?: ContextDecodeLimits) => unknown;
  readonly encodeResponse: (message: never) => Buffer;
}

/** Paths and names of every method: `/latch.v1.PermissionService/CheckPermission`. */
export function methodPaths(service: GenService<GenServiceMethods>): string[] {
  return service.methods.map((m) => `/${service.typeName}/${m.name}`);
}

function definitionOf(
  service: GenService<GenServiceMethods>,
  serverCodecs: Readonly<Record<string, ServerCodec>>,
  rawRequests: boolean,
): ServiceDefinition {
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const m of service.methods) {
    const codec = Object.hasOwn(serverCodecs, m.localName) ? serverCodecs[m.localName] : undefined;
    const encodeResponse =
      (codec?.encodeResponse as ((value: unknown) => Buffer) | undefined) ??
      ((value: unknown) => asBuffer(toBinary(m.output, value as MessageShape<DescMessage>)));
    definition[m.localName] = {
      path: `/${service.typeName}/${m.name}`,
      originalName: m.localName,
      requestStream: m.methodKind === "client_streaming" || m.methodKind === "bidi_streaming",
      responseStream: m.methodKind === "server_streaming" || m.methodKind === "bidi_streaming",
      requestSerialize: (value) => asBuffer(toBinary(m.input, value as MessageShape<DescMessage>)),
      requestDeserialize: rawRequests
        ? passBytes
        : (codec?.decodeRequest ?? ((bytes: Buffer) => fromBinary(m.input, bytes))),
      responseSerialize: rawRequests ? bytesAsGiven(encodeResponse) : encodeResponse,
      responseDeserialize: (bytes: Buffer) => fromBinary(m.output, bytes),
    };
  }
  return definition as ServiceDefinition;
}

const passBytes = (bytes: Buffer): Buffer => bytes;

/**
 * The server's response encoder: bytes (a server stream's message, encoded by grpc-adapter.ts in
 * its paced loop) go on as they are; a message is encoded by `encode`.
 */
function bytesAsGiven(encode: (value: unknown) => Buffer): (value: unknown) => Buffer {
  return (value) => (value instanceof Uint8Array ? asBuffer(value) : encode(value));
}

/**
 * The grpc-js service definition for a protobuf-es service: paths and protobuf-es serializers, or
 * for the methods named in `serverCodecs`, their request decoder and response encoder. What a
 * client (or a test server) needs.
 */
export function serviceDefinition(
  service: GenService<GenServiceMethods>,
  serverCodecs: Readonly<Record<string, ServerCodec>> = {},
): ServiceDefinition {
  return definitionOf(service, serverCodecs, false);
}

/**
 * The definition Latch's server registers: requests reach the handler as the bytes received, for
 * `serviceImplementation` to decode (with the same `serverCodecs`) after authentication.
 */
export function serverServiceDefinition(
  service: GenService<GenServiceMethods>,
  serverCodecs: Readonly<Record<string, ServerCodec>> = {},
): ServiceDefinition {
  return definitionOf(service, serverCodecs, true);
}
