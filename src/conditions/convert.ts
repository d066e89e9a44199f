import type { Duration } from "@marcbachmann/cel-js/evaluator";
import { clip, parseRfc3339 } from "../core/index.js";
import { conditionError } from "./errors.js";
import { IPAddress, parseIPAddress } from "./ip-address.js";
import { celLibrary } from "./libraries.js";
import { formatParameterType } from "./parameter-type.js";
import type { ParameterType, ParameterTypes } from "./types.js";

/**
 * Turns one JSON-like value into the CEL value of its declared type, or returns `INVALID`.
 * `path` names the place for error messages (`limits[2]`, `labels.team`).
 */
export type Converter = (value: unknown, path: string, fail: FailFn) => unknown;
type FailFn = (path: string, type: ParameterType, value: unknown) => never;

const MIN_INT = -(2n ** 63n);
const MAX_INT = 2n ** 63n - 1n;
const MAX_UINT = 2n ** 64n - 1n;
const INTEGER_TEXT = /^[-+]?\d+$/;
const BASE64 = /^(?:[A-Za-z0-9+/_-]{4})*(?:[A-Za-z0-9+/_-]{2}(?:==)?|[A-Za-z0-9+/_-]{3}=?)?$/;

function toBigInt(value: unknown): bigint | undefined {
  if (typeof value === "bigint") return value;
  if (typeof value === "number") return Number.isSafeInteger(value) ? BigInt(value) : undefined;
  if (typeof value === "string" && INTEGER_TEXT.test(value)) return BigInt(value);
  if (value instanceof celLibrary().UnsignedInt) return value.value;
  return undefined;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

const DURATION_PART = /^(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/;
const NANOS_PER_UNIT: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n,
  μs: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

/**
 * Go's duration syntax (`1h30m`, `10s`, `1.5s`, `-300ms`, `0`), which is also what CEL's
 * `duration()` and protobuf JSON accept. Returns undefined when the text is not one.
 */
export function parseDuration(text: string): Duration | undefined {
  const { Duration } = celLibrary();
  let rest = text;
  let negative = false;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    negative = rest.startsWith("-");
    rest = rest.slice(1);
  }
  if (rest === "0") return new Duration(0);
  if (rest === "") return undefined;
  let nanos = 0n;
  while (rest !== "") {
    const m = DURATION_PART.exec(rest);
    if (m === null) return undefined;
    const whole = m[1] ?? "";
    const fraction = m[2] ?? "";
    if (whole === "" && fraction === "") return undefined;
    const unit = NANOS_PER_UNIT[m[3] ?? ""] ?? 0n;
    nanos += BigInt(whole || "0") * unit;
    if (fraction !== "") {
      const scale = 10n ** BigInt(fraction.length);
      nanos += (BigInt(fraction) * unit) / scale;
    }
    rest = rest.slice(m[0].length);
  }
  const seconds = nanos / 1_000_000_000n;
  const rem = Number(nanos % 1_000_000_000n);
  // Same sign convention as the CEL library's own duration(): both parts carry the sign.
  return negative ? new Duration(-seconds, -rem) : new Duration(seconds, rem);
}

function decodeBase64(text: string): Uint8Array | undefined {
  if (!BASE64.test(text)) return undefined;
  const standard = text.replace(/-/g, "+").replace(/_/g, "/");
  const padded = standard.padEnd(Math.ceil(standard.length / 4) * 4, "=");
  const binary = atob(padded);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** `any`: JSON numbers stay doubles (as SpiceDB's structpb values are); objects become maps. */
function convertAny(value: unknown, path: string, fail: FailFn, type: ParameterType): unknown {
  if (value === null || typeof value !== "object") {
    if (typeof value === "function" || typeof value === "symbol" || value === undefined) {
      fail(path, type, value);
    }
    return value;
  }
  if (Array.isArray(value)) return value.map((item, i) => convertAny(item, `${path}[${i}]`, fail, type));
  if (isPlainObject(value)) {
    const out = new Map<string, unknown>();
    for (const [k, v] of Object.entries(value)) out.set(k, convertAny(v, `${path}.${k}`, fail, type));
    return out;
  }
  if (value instanceof Map) {
    const out = new Map<string, unknown>();
    for (const [k, v] of value) {
      if (typeof k !== "string") fail(path, type, value);
      out.set(k, convertAny(v, `${path}.${k}`, fail, type));
    }
    return out;
  }
  // Dates, durations, bytes, ip addresses and unsigned ints are already CEL values.
  return value;
}

/** Builds the converter for a type once, so evaluation does no type dispatch by name. */
export function createConverter(type: ParameterType): Converter {
  switch (type.kind) {
    case "any":
      return (v, path, fail) => convertAny(v, path, fail, type);
    case "bool":
      return (v, path, fail) => (typeof v === "boolean" ? v : fail(path, type, v));
    case "string":
      return (v, path, fail) => (typeof v === "string" ? v : fail(path, type, v));
    case "int":
      return (v, path, fail) => {
        const n = toBigInt(v);
        return n !== undefined && n >= MIN_INT && n <= MAX_INT ? n : fail(path, type, v);
      };
    case "uint": {
      const { UnsignedInt } = celLibrary();
      return (v, path, fail) => {
        if (v instanceof UnsignedInt) return v;
        const n = toBigInt(v);
        return n !== undefined && n >= 0n && n <= MAX_UINT ? new UnsignedInt(n) : fail(path, type, v);
      };
    }
    case "double":
      return (v, path, fail) => {
        if (typeof v === "number") return v;
        if (typeof v === "bigint") return Number(v);
        return fail(path, type, v);
      };
    case "bytes":
      return (v, path, fail) => {
        if (v instanceof Uint8Array) return v;
        const bytes = typeof v === "string" ? decodeBase64(v) : undefined;
        return bytes ?? fail(path, type, v);
      };
    case "duration": {
      const { Duration } = celLibrary();
      return (v, path, fail) => {
        if (v instanceof Duration) return v;
        const d = typeof v === "string" ? parseDuration(v) : undefined;
        return d ?? fail(path, type, v);
      };
    }
    case "timestamp":
      return (v, path, fail) => {
        if (v instanceof Date) return Number.isNaN(v.getTime()) ? fail(path, type, v) : v;
        const d = typeof v === "string" ? parseRfc3339(v) : undefined;
        return d ?? fail(path, type, v);
      };
    case "ipaddress":
      return (v, path, fail) => {
        if (v instanceof IPAddress) return v;
        const ip = typeof v === "string" ? parseIPAddress(v) : undefined;
        return ip ?? fail(path, type, v);
      };
    case "list": {
      const element = createConverter(type.element);
      return (v, path, fail) => {
        if (!Array.isArray(v)) return fail(path, type, v);
        return v.map((item, i) => element(item, `${path}[${i}]`, fail));
      };
    }
    case "map": {
      const value = createConverter(type.value);
      return (v, path, fail) => {
        const out = new Map<string, unknown>();
        if (isPlainObject(v)) {
          for (const [k, item] of Object.entries(v)) out.set(k, value(item, `${path}.${k}`, fail));
        } else if (v instanceof Map) {
          for (const [k, item] of v) {
            if (typeof k !== "string") return fail(path, type, v);
            out.set(k, value(item, `${path}.${k}`, fail));
          }
        } else {
          return fail(path, type, v);
        }
        return out;
      };
    }
  }
}

/**
 * What a value is, never what it holds: the message reaches the server's log ("call failed"), and
 * a context value is redacted everywhere else unless its parameter is loggable (a card number sent
 * where an amount goes would be logged in full).
 */
function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "string") return `a string (${value.length} characters)`;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return "a number that is not finite";
    return Number.isInteger(value) ? "a number" : "a number with a fraction";
  }
  if (typeof value === "bigint") return "an integer";
  if (typeof value === "boolean") return "a boolean";
  if (isPlainObject(value) || value instanceof Map) return "an object";
  return typeof value;
}

/** Throws the `condition/bad-context` error; `path` starts with the parameter name. */
export const failConversion: FailFn = (path, type, value) => {
  const parameter = /^[^.[]*/.exec(path)?.[0] ?? path;
  throw conditionError(
    "condition/bad-context",
    `caveat parameter ${clip(path)} must be ${formatParameterType(type)}, got ${describe(value)}`,
    { parameter: clip(parameter), path: clip(path), expected: formatParameterType(type) },
  );
};

/**
 * Converts the declared parameters present in a JSON-like context to their CEL values (absent and
 * undefined ones are left out; keys that are not declared parameters are ignored). Throws a
 * ConditionError `condition/bad-context` naming the parameter when a value does not convert, so
 * callers can validate caveat context when it is written.
 */
export function convertContext(
  parameters: ParameterTypes,
  context: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null);
  for (const [name, type] of parameters) {
    if (!Object.hasOwn(context, name)) continue;
    const value = context[name];
    if (value === undefined) continue;
    out[name] = createConverter(type)(value, name, failConversion);
  }
  return out;
}
