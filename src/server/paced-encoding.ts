/**
 * A server stream's message encoded a piece at a time. An export's message holds a thousand
 * relationships, and protobuf-es encodes one by reflection in about 12 µs (several times that
 * before the code is optimized): encoded whole, the first message of an export held the server
 * 60-100 ms (bench/stall-data.ts); a Watch message carries a whole revision, which may be 200,000
 * changes. A message whose repeated message fields hold more than a piece is encoded as its other
 * fields, then each list's elements one by one, the stream pacer asked between pieces; the bytes
 * are a valid encoding of the same message (a parser merges fields in any order), and the same
 * bytes as protobuf-es's when the one list is the last field set, as in every export.
 */
import {
  create,
  type DescField,
  type DescMessage,
  type Message,
  type MessageInitShape,
  toBinary,
} from "@bufbuild/protobuf";
import { varintSize, writeVarint } from "./check-permission-codec.js";
import { PACED_PIECE, type StreamPacer } from "./stream-pacing.js";

export type ListField = DescField & { fieldKind: "list"; listKind: "message" };

/**
 * The message's repeated fields of Latch's and SpiceDB's own messages. Well-known types are left
 * with the other fields: protobuf-es holds a list of google.protobuf.Struct as plain JSON objects,
 * not messages (and such lists are short: a Watch message's revision metadata).
 */
export function listFieldsOf(desc: DescMessage): readonly ListField[] {
  return desc.fields.filter(
    (f): f is ListField =>
      f.fieldKind === "list" &&
      f.listKind === "message" &&
      !f.message.typeName.startsWith("google.protobuf."),
  );
}

/** The lists of `message` (created or an initializer) in `fields`, and whether any is large. */
export function listsOf(
  message: unknown,
  fields: readonly ListField[],
): { readonly lists: readonly (readonly unknown[])[]; readonly large: boolean } {
  const lists = fields.map(
    (f) => ((message as Record<string, unknown>)[f.localName] ?? []) as readonly unknown[],
  );
  return { lists, large: lists.reduce((n, l) => n + l.length, 0) > PACED_PIECE };
}

/** `message` with its lists in `fields` emptied (a created message stays one). */
export function withoutLists(message: unknown, fields: readonly ListField[]): unknown {
  const out: Record<string, unknown> = { ...(message as object) };
  for (const f of fields) out[f.localName] = [];
  return out;
}

/** A length-delimited field's tag and length, as varints. */
function fieldHead(fieldNo: number, length: number): Buffer {
  const tag = (fieldNo << 3) | 2;
  const out = Buffer.allocUnsafe(varintSize(tag) + varintSize(length));
  writeVarint(out, writeVarint(out, 0, tag), length);
  return out;
}

/** An element of one of a message's lists, made a message. */
export interface ListElement {
  readonly field: ListField;
  readonly message: Message;
}

/**
 * The elements of `lists` (as `listsOf` gives them for `fields`), made messages one at a time, in
 * pieces of PACED_PIECE with the pacer asked after each full piece: what both the gRPC encoder
 * below and the HTTP gateway's JSON (http-gateway.ts) walk.
 */
export async function* piecesOf(
  fields: readonly ListField[],
  lists: readonly (readonly unknown[])[],
  pacer: StreamPacer,
): AsyncGenerator<readonly ListElement[]> {
  let piece: ListElement[] = [];
  for (const [k, field] of fields.entries()) {
    for (const element of lists[k]!) {
      piece.push({ field, message: create(field.message, element as MessageInitShape<DescMessage>) });
      if (piece.length === PACED_PIECE) {
        yield piece;
        piece = [];
        await pacer.afterMessage();
      }
    }
  }
  if (piece.length > 0) yield piece;
}

export type PacedEncoder = (message: unknown, pacer: StreamPacer) => Promise<Uint8Array>;

/** An encoder for `output`'s messages that lets the pacer yield within a large one. */
export function pacedEncoder(output: DescMessage): PacedEncoder {
  const fields = listFieldsOf(output);
  const whole = (message: unknown) =>
    toBinary(output, create(output, message as MessageInitShape<DescMessage>));
  if (fields.length === 0) return async (message) => whole(message);
  return async (message, pacer) => {
    // The lists as given (created messages or initializers), each element made only when its turn
    // comes: creating them is reflection too.
    const { lists, large } = listsOf(message, fields);
    if (!large) return whole(message);
    // Each piece joined on its own: one join of 400,000 small arrays (a Watch message of 200,000
    // changes) took 40-70 ms by itself.
    const chunks: Uint8Array[] = [whole(withoutLists(message, fields))];
    for await (const piece of piecesOf(fields, lists, pacer)) {
      const parts: Uint8Array[] = [];
      for (const { field, message: element } of piece) {
        const bytes = toBinary(field.message, element);
        parts.push(fieldHead(field.number, bytes.length), bytes);
      }
      chunks.push(Buffer.concat(parts));
    }
    return Buffer.concat(chunks);
  };
}
