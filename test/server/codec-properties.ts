/**
 * The properties both hand CheckPermission codecs (latch.v1's and authzed.api.v1's) must keep
 * against protobuf-es: for any request, and for its bytes mangled, the hand decoder gives what
 * fromBinary gives, or fails where it fails.
 */
import {
  create,
  type DescMessage,
  equals,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import fc from "fast-check";
import { expect, it } from "vitest";

/** Truncations, overwritten bytes and trailing garbage: one to three of them. */
const edits = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
    fc.record({ kind: fc.constant("set" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({
      kind: fc.constant("append" as const),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
    }),
  ),
  { minLength: 1, maxLength: 3 },
);

/** Checks that `decode` reads `bytes` (as a Buffer, as grpc-js gives them) as protobuf-es does. */
export function sameDecodingAs<S extends DescMessage>(
  schema: S,
  decode: (bytes: Buffer) => MessageShape<S>,
): (bytes: Uint8Array) => void {
  return (bytes) => {
    let expected: MessageShape<S>;
    try {
      expected = fromBinary(schema, Buffer.from(bytes));
    } catch {
      expect(() => decode(Buffer.from(bytes))).toThrow();
      return;
    }
    const got = decode(Buffer.from(bytes));
    expect(got).toStrictEqual(expected);
    expect(equals(schema, got, expected)).toBe(true);
  };
}

/** The two properties, as `it`s of the calling `describe`. */
export function itDecodesAsProtobufEs<S extends DescMessage>(
  schema: S,
  request: fc.Arbitrary<MessageInitShape<S>>,
  expectSameDecoding: (bytes: Uint8Array) => void,
): void {
  it("gives what fromBinary gives for any request", () => {
    fc.assert(
      fc.property(request, (init) => {
        expectSameDecoding(toBinary(schema, create(schema, init)));
      }),
      { numRuns: 2000 },
    );
  });

  it("gives what fromBinary gives, or fails where it fails, on mangled bytes", () => {
    fc.assert(
      fc.property(request, edits, (init, list) => {
        let bytes = toBinary(schema, create(schema, init));
        for (const e of list) {
          if (e.kind === "truncate") bytes = bytes.slice(0, e.at % (bytes.length + 1));
          else if (e.kind === "append") bytes = Uint8Array.from([...bytes, ...e.bytes]);
          else if (bytes.length > 0) {
            bytes = bytes.slice();
            bytes[e.at % bytes.length] = e.byte;
          }
        }
        expectSameDecoding(bytes);
      }),
      { numRuns: 3000 },
    );
  });
}
