/**
 * A server stream's message encoded a piece at a time. An export's message holds a thousand
 * relationships, and protobuf-es encodes one by reflection in about 12 µs (several times that
 * before the code is optimized): encoded whole, the first message of an export held the server
 * 60-100 ms (bench/stall-data.ts). A message with one repeated message field is encoded as its
 * other fields, then its list's elements one by one, the stream pacer asked between pieces; the
 * bytes are a valid encoding of the same message (a parser merges fields in any order), and the
 * same bytes as protobuf-es's when the list is the last field set, as in every export.
 */
import {
  create,
  type DescField,
  type DescMessage,
  type MessageInitShape,
  toBinary,
} from "@bufbuild/protobuf";
import type { StreamPacer } from "./stream-pacing.js";

/** Elements encoded between two questions to the pacer. */
export const PIECE = 50;

type ListField = DescField & { fieldKind: "list"; listKind: "message" };

/** The message's one repeated message field, if it has exactly one. */
export function listFieldOf(desc: DescMessage): ListField | undefined {
  const lists = desc.fields.filter((f): f is ListField => f.fieldKind === "list" && f.listKind === "message");
  return lists.length === 1 ? lists[0] : undefined;
}

/** A length-delimited field's tag and length, as varints. */
function fieldHead(fieldNo: number, length: number): Uint8Array {
  const out: number[] = [];
  for (let v of [(fieldNo << 3) | 2, length]) {
    while (v > 0x7f) {
      out.push((v & 0x7f) | 0x80);
      v >>>= 7;
    }
    out.push(v);
  }
  return Uint8Array.from(out);
}

export type PacedEncoder = (message: unknown, pacer: StreamPacer) => Promise<Uint8Array>;

/** An encoder for `output`'s messages that lets the pacer yield within a large one. */
export function pacedEncoder(output: DescMessage): PacedEncoder {
  const field = listFieldOf(output);
  const whole = (message: unknown) =>
    toBinary(output, create(output, message as MessageInitShape<DescMessage>));
  if (field === undefined) return async (message) => whole(message);
  return async (message, pacer) => {
    // The list as given (created messages or initializers), each element made only when its turn
    // comes: creating them is reflection too.
    const list = ((message as Record<string, unknown>)[field.localName] ?? []) as readonly unknown[];
    if (list.length <= PIECE) return whole(message);
    const parts: Uint8Array[] = [whole({ ...(message as object), [field.localName]: [] })];
    for (let i = 0; i < list.length; i++) {
      const bytes = toBinary(field.message, create(field.message, list[i] as MessageInitShape<DescMessage>));
      parts.push(fieldHead(field.number, bytes.length), bytes);
      if (i % PIECE === PIECE - 1) await pacer.afterMessage();
    }
    return Buffer.concat(parts);
  };
}
