/**
 * Decodes a request message with protobuf-es, except its caveat contexts (`google.protobuf.Struct`
 * fields), which struct-codec.ts reads straight into JSON.
 *
 * How: protobuf-es decodes the message by a copy of its descriptor without the Struct fields, made
 * once per message type, so it keeps each context's bytes as an unknown field (a view of the
 * request, not a copy) instead of building a message per value. Then a walk along the fields that
 * can hold a context reads those bytes and puts the JSON where protobuf-es would have put it (two
 * occurrences of a context merge, as they do in protobuf-es) and removes them from `$unknown`.
 * What protobuf-es reads differently from struct-codec.ts — a context field with another wire type
 * than length-delimited (protobuf-es then reads it as a message all the same), or a context whose
 * bytes run past its own length — is decoded by protobuf-es itself, whole: the answer stays
 * exactly `fromBinary`'s on every input, except for contexts past the decode limits.
 */
import {
  clone,
  createFileRegistry,
  type DescField,
  type DescFile,
  type DescMessage,
  fromBinary,
  type JsonObject,
  type MessageShape,
} from "@bufbuild/protobuf";
import { type DescriptorProto, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { type ContextDecodeLimits, ContextReader, DEFAULT_CONTEXT_DECODE_LIMITS } from "./struct-codec.js";

const STRUCT = "google.protobuf.Struct";
const WIRE_LEN = 2;

/** Which fields of a message hold a context, or a message that (transitively) does. */
interface Plan {
  readonly contexts: DescField[];
  readonly nested: { readonly field: DescField; readonly plan: Plan }[];
}

const plans = new Map<DescMessage, Plan | null>();

function planOf(desc: DescMessage): Plan | undefined {
  const known = plans.get(desc);
  if (known !== undefined) return known ?? undefined;
  const plan: Plan = { contexts: [], nested: [] };
  // Set before the fields are looked at, so that a recursive type ends.
  plans.set(desc, plan);
  for (const field of desc.fields) {
    const message =
      field.fieldKind === "message" || field.fieldKind === "list" || field.fieldKind === "map"
        ? field.message
        : undefined;
    if (message === undefined) continue;
    if (message.typeName === STRUCT) {
      if (field.fieldKind !== "message" || field.oneof !== undefined) {
        throw new Error(
          `request-decoder: ${desc.typeName}.${field.name}, a ${field.fieldKind} of Struct, is not handled`,
        );
      }
      plan.contexts.push(field);
    } else if (!message.typeName.startsWith("google.protobuf.")) {
      const sub = planOf(message);
      if (sub !== undefined) plan.nested.push({ field, plan: sub });
    }
  }
  if (plan.contexts.length === 0 && plan.nested.length === 0) {
    plans.set(desc, null);
    return undefined;
  }
  return plan;
}

/** Message fields of type Struct removed, in every message of the file (nested ones too). */
function stripStructs(message: DescriptorProto): void {
  message.field = message.field.filter((f) => f.typeName !== `.${STRUCT}`);
  for (const nested of message.nestedType) stripStructs(nested);
}

const variantFiles = new Map<string, DescFile>();

/** The file without its Struct fields, importing the same files without theirs. */
function variantFile(file: DescFile): DescFile {
  const name = file.proto.name;
  if (name.startsWith("google/protobuf/")) return file;
  const known = variantFiles.get(name);
  if (known !== undefined) return known;
  const proto = clone(FileDescriptorProtoSchema, file.proto);
  for (const message of proto.messageType) stripStructs(message);
  const registry = createFileRegistry(proto, (wanted) => {
    const dependency = file.dependencies.find((d) => d.proto.name === wanted);
    return dependency === undefined ? undefined : variantFile(dependency);
  });
  const variant = registry.getFile(name);
  if (variant === undefined) throw new Error(`request-decoder: no variant of ${name}`);
  variantFiles.set(name, variant);
  return variant;
}

function variantOf(desc: DescMessage): DescMessage {
  const file = variantFile(desc.file);
  const found = findMessage(file.messages, desc.typeName);
  if (found === undefined) throw new Error(`request-decoder: no variant of ${desc.typeName}`);
  return found;
}

function findMessage(messages: readonly DescMessage[], typeName: string): DescMessage | undefined {
  for (const m of messages) {
    if (m.typeName === typeName) return m;
    const nested = findMessage(m.nestedMessages, typeName);
    if (nested !== undefined) return nested;
  }
  return undefined;
}

/** protobuf-es and struct-codec.ts would read these bytes differently: protobuf-es decides. */
const NOT_HANDLED = Symbol("not handled");

type Message = Record<string, unknown> & { $unknown?: { no: number; wireType: number; data: Uint8Array }[] };

/**
 * Reads the contexts kept as unknown fields of `msg` (`depth` messages deep in the request, as
 * protobuf-es counts), then those of the messages below it that can hold one.
 */
function fill(msg: Message, plan: Plan, reader: ContextReader, bytes: Buffer, depth: number): void {
  const unknown = msg.$unknown;
  if (plan.contexts.length > 0 && unknown !== undefined) {
    const kept = [];
    for (const u of unknown) {
      const field = plan.contexts.find((f) => f.number === u.no);
      if (field === undefined) {
        kept.push(u);
        continue;
      }
      if (u.wireType !== WIRE_LEN || u.data.buffer !== bytes.buffer) throw NOT_HANDLED;
      // The field's bytes after its tag: the length, then the Struct.
      const start = u.data.byteOffset - bytes.byteOffset;
      const stop = start + u.data.byteLength;
      const into = (msg[field.localName] as JsonObject | undefined) ?? {};
      msg[field.localName] = into;
      if (reader.readLengthDelimitedStruct(start, into, depth) !== stop) throw NOT_HANDLED;
    }
    if (kept.length > 0) msg.$unknown = kept;
    else delete msg.$unknown;
  }
  for (const { field, plan: sub } of plan.nested) {
    if (field.oneof !== undefined) {
      const oneof = msg[field.oneof.localName] as { case: string | undefined; value?: Message };
      if (oneof.case === field.localName) fill(oneof.value!, sub, reader, bytes, depth + 1);
    } else if (field.fieldKind === "message") {
      const value = msg[field.localName] as Message | undefined;
      if (value !== undefined) fill(value, sub, reader, bytes, depth + 1);
    } else if (field.fieldKind === "list") {
      for (const value of msg[field.localName] as Message[]) fill(value, sub, reader, bytes, depth + 1);
    } else if (field.fieldKind === "map") {
      for (const value of Object.values(msg[field.localName] as Record<string, Message>))
        fill(value, sub, reader, bytes, depth + 1);
    }
  }
}

export type RequestDecoder<Desc extends DescMessage> = (
  bytes: Buffer,
  limits?: ContextDecodeLimits,
) => MessageShape<Desc>;

/**
 * A decoder of `desc` messages that gives what `fromBinary(desc, bytes)` gives, with the contexts
 * read by struct-codec.ts within `limits`. For a message that cannot hold a context, fromBinary.
 */
export function requestDecoder<Desc extends DescMessage>(desc: Desc): RequestDecoder<Desc> {
  const plan = planOf(desc);
  if (plan === undefined) return (bytes) => fromBinary(desc, bytes);
  const variant = variantOf(desc);
  return (bytes, limits = DEFAULT_CONTEXT_DECODE_LIMITS) => {
    let msg: Message;
    try {
      msg = fromBinary(variant, bytes) as unknown as Message;
    } catch {
      // Malformed, or a context field with another wire type that protobuf-es skips differently
      // as an unknown field than it reads as a message: its verdict on the real type.
      return fromBinary(desc, bytes);
    }
    try {
      fill(msg, plan, new ContextReader(bytes, limits), bytes, 1);
    } catch (error) {
      if (error !== NOT_HANDLED) throw error;
      return fromBinary(desc, bytes);
    }
    return msg as unknown as MessageShape<Desc>;
  };
}
