import type { ParameterType, ScalarTypeName } from "./types.js";

const SCALARS: ReadonlySet<string> = new Set<ScalarTypeName>([
  "any",
  "bool",
  "string",
  "int",
  "uint",
  "double",
  "bytes",
  "duration",
  "timestamp",
  "ipaddress",
]);

/** Scalars are shared singletons so comparing and hashing parameter types stays cheap. */
const SCALAR_TYPES = new Map<string, ParameterType>(
  [...SCALARS].map((kind) => [kind, Object.freeze({ kind }) as ParameterType]),
);

/**
 * Reads a caveat parameter type as written in a schema: `int`, `list<string>`, `map<list<int>>`.
 * Whitespace around names and brackets is allowed. Returns undefined for anything else.
 */
export function parseParameterType(text: string): ParameterType | undefined {
  const tokens = text.match(/[a-z_][a-z0-9_]*|[<>]|\S/gi) ?? [];
  let pos = 0;
  const read = (): ParameterType | undefined => {
    const name = tokens[pos++];
    if (name === undefined) return undefined;
    if (name === "list" || name === "map") {
      if (tokens[pos++] !== "<") return undefined;
      const inner = read();
      if (inner === undefined || tokens[pos++] !== ">") return undefined;
      return name === "list" ? { kind: "list", element: inner } : { kind: "map", value: inner };
    }
    return SCALAR_TYPES.get(name);
  };
  const type = read();
  return type !== undefined && pos === tokens.length ? type : undefined;
}

export function formatParameterType(type: ParameterType): string {
  switch (type.kind) {
    case "list":
      return `list<${formatParameterType(type.element)}>`;
    case "map":
      return `map<${formatParameterType(type.value)}>`;
    default:
      return type.kind;
  }
}

/** The type name the CEL library knows for a parameter type. */
export function celTypeName(type: ParameterType): string {
  switch (type.kind) {
    case "list":
      return `list<${celTypeName(type.element)}>`;
    case "map":
      return `map<string, ${celTypeName(type.value)}>`;
    case "any":
      return "dyn";
    case "duration":
      return "google.protobuf.Duration";
    case "timestamp":
      return "google.protobuf.Timestamp";
    default:
      return type.kind;
  }
}
