/**
 * Our authzed.api.v1 definitions against the real client library: every message of the services
 * @authzed/authzed-node calls is filled in every field (each oneof case in turn), encoded by the
 * library, decoded by our generated schema and compared field by field (canonical JSON on both
 * sides), then the other way round. A wrong number, type, name or oneof shows as a difference
 * or an unknown field.
 */
import { createRegistry, type DescMessage, fromBinary, toBinary, toJson } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { AUTHZED_FILES } from "../../../src/server/authzed/index.js";

const LIB = "../../../node_modules/@authzed/authzed-node/dist/src/authzedapi/authzed/api/v1";
const MODULES = [
  "core",
  "debug",
  "permission_service",
  "schema_service",
  "watch_service",
  "experimental_service",
];

interface FieldInfo {
  no: number;
  name: string;
  localName: string;
  kind: "scalar" | "enum" | "message" | "map";
  T: number | (() => unknown);
  K?: number;
  V?: { kind: string; T: number | (() => unknown) };
  oneof?: string;
  repeat?: number;
}
interface LibType {
  typeName: string;
  fields: readonly FieldInfo[];
  create(value?: object): object;
  toBinary(message: object): Uint8Array;
  fromBinary(bytes: Uint8Array): object;
  toJson(message: object): unknown;
}

function scalar(t: number, seed: number): unknown {
  switch (t) {
    case 8:
      return true;
    case 9:
      return `s${seed}`;
    case 12:
      return new Uint8Array([1, 2, seed & 255]);
    case 1:
    case 2:
      return 1.5;
    case 3:
    case 4:
    case 6:
    case 16:
    case 18:
      return String(1000 + seed);
    default:
      return 7 + (seed % 5);
  }
}

/** A message of the library's type with every field set; `pick` chooses each oneof's case. */
function fill(type: LibType, pick: number, depth: number): object {
  const value: Record<string, unknown> = {};
  const seen = new Map<string, number>();
  for (const f of type.fields) {
    if (f.oneof !== undefined) {
      const index = seen.get(f.oneof) ?? 0;
      seen.set(f.oneof, index + 1);
      const members = type.fields.filter((x) => x.oneof === f.oneof).length;
      if (index !== pick % members) continue;
    }
    let v: unknown;
    if (f.kind === "map") {
      const inner = f.V!;
      const mv =
        inner.kind === "scalar"
          ? scalar(inner.T as number, f.no)
          : inner.kind === "enum"
            ? 1
            : depth > 3
              ? undefined
              : fill((inner.T as () => LibType)(), pick, depth + 1);
      if (mv === undefined) continue;
      v = { [`k${f.no}`]: mv };
    } else if (f.kind === "scalar") v = scalar(f.T as number, f.no);
    else if (f.kind === "enum") {
      const [, values] = (f.T as () => [string, Record<string, number | string>])();
      v = Math.max(...Object.values(values).filter((x): x is number => typeof x === "number"));
    } else {
      const inner = (f.T as () => LibType)();
      // google.protobuf.Any needs a registry for JSON; its contents are not ours to check.
      if (depth > 3 || inner.typeName === "google.protobuf.Any") continue;
      v = fill(inner, pick, depth + 1);
    }
    if (f.repeat) v = [v, v];
    if (f.oneof !== undefined) value[f.oneof] = { oneofKind: f.localName, [f.localName]: v };
    else value[f.localName] = v;
  }
  return type.create(value);
}

async function libraryTypes(): Promise<LibType[]> {
  const out: LibType[] = [];
  for (const name of MODULES) {
    const mod = (await import(`${LIB}/${name}.js`)) as Record<string, unknown>;
    for (const v of Object.values(mod)) {
      const t = v as Partial<LibType>;
      if (typeof t?.typeName === "string" && Array.isArray(t.fields)) out.push(t as LibType);
    }
  }
  return out;
}

const registry = createRegistry(...AUTHZED_FILES);

describe("authzed.api.v1 definitions against @authzed/authzed-node 1.6.1", async () => {
  const types = await libraryTypes();

  it("define every message the library has", () => {
    const missing = types.map((t) => t.typeName).filter((n) => registry.getMessage(n) === undefined);
    expect(missing).toEqual([]);
    expect(types.length).toBeGreaterThan(80);
  });

  it("serve the same services and methods, with the same messages and streaming", async () => {
    interface LibService {
      typeName: string;
      methods: {
        name: string;
        I: LibType;
        O: LibType;
        serverStreaming?: boolean;
        clientStreaming?: boolean;
      }[];
    }
    for (const name of MODULES) {
      const mod = (await import(`${LIB}/${name}.js`)) as Record<string, unknown>;
      for (const v of Object.values(mod)) {
        const s = v as Partial<LibService>;
        if (typeof s?.typeName !== "string" || !Array.isArray(s.methods)) continue;
        const ours = registry.getService(s.typeName);
        expect(ours, s.typeName).toBeDefined();
        const shape = (m: { name: string; input: string; output: string; kind: string }) => m;
        expect(
          ours!.methods.map((m) =>
            shape({ name: m.name, input: m.input.typeName, output: m.output.typeName, kind: m.methodKind }),
          ),
        ).toEqual(
          s.methods.map((m) =>
            shape({
              name: m.name,
              input: m.I.typeName,
              output: m.O.typeName,
              kind: m.clientStreaming ? "client_streaming" : m.serverStreaming ? "server_streaming" : "unary",
            }),
          ),
        );
      }
    }
  });

  it.each(types.map((t) => [t.typeName, t] as const))(
    "%s decodes field by field, both ways",
    (_name, type) => {
      const schema = registry.getMessage(type.typeName) as DescMessage;
      const oneofMembers = Math.max(1, ...schema.oneofs.map((o) => o.fields.length));
      for (let pick = 0; pick < oneofMembers; pick++) {
        const theirs = fill(type, pick, 0);
        if (type.fields.length > 0)
          expect(Object.keys(type.toJson(theirs) as object).length).toBeGreaterThan(0);
        const ours = fromBinary(schema, type.toBinary(theirs));
        expect(ours.$unknown ?? []).toEqual([]);
        expect(toJson(schema, ours, { registry })).toEqual(type.toJson(theirs));
        const back = type.fromBinary(toBinary(schema, ours));
        expect(type.toJson(back)).toEqual(type.toJson(theirs));
      }
    },
  );
});
