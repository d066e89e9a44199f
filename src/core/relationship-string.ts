/**
 * The one parser and formatter for the relationship string form used by the CLI, validation files,
 * tests and logs:
 *
 *   resource-type:id#relation@subject-type:id[#relation][caveat[:{json}]][expiration:RFC3339]
 *
 * `#...` on the subject is the same subject as no relation and is normalised away. Types and caveat
 * names may carry slash-separated prefixes (`acme/document`); relations may not.
 */
import { clip } from "./clip.js";
import { LatchError } from "./errors.js";
import type { CaveatRef, ObjectRef, Relationship, SubjectRef } from "./types.js";
import { WILDCARD_ID } from "./types.js";

/** SpiceDB's bound on object ids. */
export const MAX_OBJECT_ID_LENGTH = 1024;
/** Characters an object id may use; `*` alone is the subject wildcard and is not an id. */
export const OBJECT_ID_PATTERN = /^[a-zA-Z0-9/_|\-=+]{1,1024}$/;
/** What OBJECT_ID_PATTERN accepts, for error messages. */
export const OBJECT_ID_RULE = "1 to 1024 of the characters a-z A-Z 0-9 / _ | - = +";
/**
 * A type (or caveat) name: lowercase segments of up to 64 characters separated by `/`, at most 128
 * in all (SpiceDB's bounds). Bounded so that a huge name is refused at the edge, before any lookup.
 */
export const TYPE_NAME_PATTERN = /^(?=.{1,128}$)(?:[a-z][a-z0-9_]{0,63}\/)*[a-z][a-z0-9_]{0,63}$/;
/** A relation or permission name: up to 64 characters. */
export const RELATION_NAME_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;
export const CAVEAT_NAME_PATTERN = TYPE_NAME_PATTERN;
/** What TYPE_NAME_PATTERN and RELATION_NAME_PATTERN accept, for error messages. */
export const TYPE_NAME_RULE =
  "lowercase letters, digits and `_`, starting with a letter, in `/`-separated segments of at most 64 characters, 128 in all";
export const RELATION_NAME_RULE =
  "lowercase letters, digits and `_`, starting with a letter, at most 64 characters";
/** The subject relation that means "the object itself". */
export const ELLIPSIS_RELATION = "...";

/** The relationship string (or one of its parts) is malformed. `details.column` is 1-based. */
export class RelationshipParseError extends LatchError {
  override readonly name = "RelationshipParseError";
}

export function isValidObjectId(id: string): boolean {
  return OBJECT_ID_PATTERN.test(id);
}

const NAME_START = /[a-z]/;
const NAME_PART = /[a-z0-9_]/;
const ID_CHAR = /[a-zA-Z0-9/_|\-=+]/;

/** A cursor over the input that knows how to complain precisely. */
class Scanner {
  pos = 0;
  constructor(readonly input: string) {}

  peek(): string | undefined {
    return this.input[this.pos];
  }

  atEnd(): boolean {
    return this.pos >= this.input.length;
  }

  fail(expected: string, at = this.pos, message?: string): never {
    const found = this.input[at];
    const foundText = found === undefined ? "end of input" : `'${found}'`;
    const column = at + 1;
    const shown = excerpt(this.input, at);
    throw new RelationshipParseError(
      "relationship/syntax",
      "invalid-argument",
      `${clip(message ?? `expected ${expected}, found ${foundText}`, 512)} at column ${column} in "${shown}"`,
      { column, expected, found: found ?? null, input: shown },
    );
  }

  expect(char: string, what: string): void {
    if (this.input[this.pos] !== char) this.fail(what);
    this.pos++;
  }

  /** `name(/name)*` with names `[a-z][a-z0-9_]*`; `prefixed` allows the slashes. */
  name(what: string, prefixed: boolean): string {
    const start = this.pos;
    for (;;) {
      if (!NAME_START.test(this.peek() ?? "")) this.fail(`${what} (a lowercase letter)`);
      this.pos++;
      while (NAME_PART.test(this.peek() ?? "")) this.pos++;
      if (!prefixed || this.peek() !== "/") break;
      this.pos++;
    }
    return this.input.slice(start, this.pos);
  }

  objectId(allowWildcard: boolean): string {
    const start = this.pos;
    if (allowWildcard && this.peek() === WILDCARD_ID) {
      this.pos++;
      return WILDCARD_ID;
    }
    while (ID_CHAR.test(this.peek() ?? "")) this.pos++;
    if (this.pos === start) {
      this.fail(
        allowWildcard ? "an object id ([a-zA-Z0-9/_|-=+]) or '*'" : "an object id ([a-zA-Z0-9/_|-=+])",
      );
    }
    if (this.pos - start > MAX_OBJECT_ID_LENGTH) {
      this.fail(
        `an object id of at most ${MAX_OBJECT_ID_LENGTH} characters`,
        start,
        `object id is ${this.pos - start} characters long, more than ${MAX_OBJECT_ID_LENGTH}`,
      );
    }
    return this.input.slice(start, this.pos);
  }

  objectRef(what: string): ObjectRef {
    const type = this.name(`${what} type`, true);
    this.expect(":", `':' after the ${what} type`);
    if (this.peek() === WILDCARD_ID) this.fail("", this.pos, `a ${what} id cannot be the wildcard '*'`);
    const id = this.objectId(false);
    return { type, id };
  }

  subjectRef(): SubjectRef {
    const type = this.name("subject type", true);
    this.expect(":", "':' after the subject type");
    const id = this.objectId(true);
    if (this.peek() !== "#") return { type, id };
    const hashAt = this.pos;
    this.pos++;
    if (this.input.startsWith(ELLIPSIS_RELATION, this.pos)) {
      this.pos += ELLIPSIS_RELATION.length;
      return { type, id };
    }
    if (id === WILDCARD_ID) this.fail("", hashAt, "a wildcard subject cannot have a relation");
    const relation = this.name("subject relation or '...'", false);
    return { type, id, relation };
  }

  /** `[name]` or `[name:{json}]`, the scanner standing on `[`. */
  caveat(): CaveatRef {
    this.pos++;
    const name = this.name("caveat name", true);
    if (this.peek() === "]") {
      this.pos++;
      return { name };
    }
    this.expect(":", "':' or ']' after the caveat name");
    const jsonStart = this.pos;
    if (this.peek() !== "{") this.fail("'{' starting the caveat context (a JSON object)");
    const jsonEnd = this.jsonObjectEnd();
    let context: unknown;
    try {
      context = JSON.parse(this.input.slice(jsonStart, jsonEnd));
    } catch (error) {
      const message = (error as Error).message;
      // V8 names the offending offset; point at it when it does.
      const offset = /at position (\d+)/.exec(message)?.[1];
      this.fail(
        "a JSON object",
        jsonStart + (offset === undefined ? 0 : Number(offset)),
        `caveat context is not valid JSON (${message})`,
      );
    }
    this.pos = jsonEnd;
    this.expect("]", "']' after the caveat context");
    return { name, context: context as Record<string, unknown> };
  }

  /** The index just past the JSON object starting at `pos`, honouring strings and escapes. */
  jsonObjectEnd(): number {
    let depth = 0;
    let inString = false;
    for (let i = this.pos; i < this.input.length; i++) {
      const c = this.input[i];
      if (inString) {
        if (c === "\\") i++;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === "{" || c === "[") depth++;
      else if (c === "}" || c === "]") {
        depth--;
        if (depth === 0) return i + 1;
      }
    }
    return this.fail("the end of the caveat context '}'", this.input.length);
  }

  /** `[expiration:RFC3339]`, the scanner standing just past `[expiration`. */
  expiration(): Date {
    this.expect(":", "':' after 'expiration'");
    const start = this.pos;
    const end = this.input.indexOf("]", start);
    if (end < 0) this.fail("']' after the expiration time", this.input.length);
    const date = parseRfc3339(this.input.slice(start, end));
    if (date === undefined) {
      this.fail("an RFC 3339 time like 2027-01-01T00:00:00Z", start, "expiration is not an RFC 3339 time");
    }
    this.pos = end + 1;
    return date;
  }
}

/** Characters of the input shown on each side of the spot a parse error points at. */
const EXCERPT_SIDE = 100;

/**
 * The input as an error quotes it: whole when short, else a window around `at` (the error may be a
 * megabyte in), marked with ellipses, and the input's length.
 */
function excerpt(input: string, at: number): string {
  if (input.length <= 2 * EXCERPT_SIDE) return input;
  const start = Math.max(0, Math.min(at - EXCERPT_SIDE, input.length - 2 * EXCERPT_SIDE));
  const end = start + 2 * EXCERPT_SIDE;
  return `${start > 0 ? "…" : ""}${input.slice(start, end)}${end < input.length ? "…" : ""} (${input.length} characters)`;
}

const EXPIRATION_OPEN = "[expiration";

export function parseRelationship(input: string): Relationship {
  const s = new Scanner(input);
  const resource = s.objectRef("resource");
  s.expect("#", "'#' after the resource id");
  const relation = s.name("relation", false);
  s.expect("@", "'@' after the relation");
  const subject = s.subjectRef();
  let caveat: CaveatRef | undefined;
  let expiration: Date | undefined;
  // `expiration` is reserved: `[expiration:...]` is always the expiration, never a caveat.
  const atExpiration = () =>
    input.startsWith(EXPIRATION_OPEN, s.pos) && !NAME_PART.test(input[s.pos + EXPIRATION_OPEN.length] ?? "");
  if (s.peek() === "[" && !atExpiration()) caveat = s.caveat();
  if (s.peek() === "[") {
    if (!atExpiration()) s.fail("'expiration' (a relationship has at most one caveat)", s.pos + 1);
    s.pos += EXPIRATION_OPEN.length;
    expiration = s.expiration();
  }
  if (!s.atEnd()) {
    s.fail(
      caveat === undefined && expiration === undefined
        ? "'[' (caveat or expiration) or end of input"
        : expiration === undefined
          ? "'[expiration:' or end of input"
          : "end of input",
    );
  }
  return {
    resource,
    relation,
    subject,
    ...(caveat === undefined ? {} : { caveat }),
    ...(expiration === undefined ? {} : { expiration }),
  };
}

export function parseObjectRef(input: string): ObjectRef {
  const s = new Scanner(input);
  const ref = s.objectRef("object");
  if (!s.atEnd()) s.fail("end of input");
  return ref;
}

export function parseSubjectRef(input: string): SubjectRef {
  const s = new Scanner(input);
  const ref = s.subjectRef();
  if (!s.atEnd()) s.fail("end of input");
  return ref;
}

export function formatObjectRef(ref: ObjectRef): string {
  return `${ref.type}:${ref.id}`;
}

export function formatSubjectRef(ref: SubjectRef): string {
  return ref.relation === undefined || ref.relation === ELLIPSIS_RELATION
    ? `${ref.type}:${ref.id}`
    : `${ref.type}:${ref.id}#${ref.relation}`;
}

export function formatRelationship(r: Relationship): string {
  return format(r, true);
}

/**
 * A relationship with its caveat's name but never its stored context, as the audit trail and the
 * approval webhook show witnesses: the context may hold data their readers must not see.
 */
export function formatRelationshipWithoutContext(r: Relationship): string {
  return format(r, false);
}

function format(r: Relationship, withContext: boolean): string {
  let out = `${r.resource.type}:${r.resource.id}#${r.relation}@${formatSubjectRef(r.subject)}`;
  if (r.caveat !== undefined) {
    out +=
      r.caveat.context === undefined || !withContext
        ? `[${r.caveat.name}]`
        : `[${r.caveat.name}:${JSON.stringify(r.caveat.context)}]`;
  }
  if (r.expiration !== undefined) out += `[expiration:${formatTimestamp(r.expiration)}]`;
  return out;
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * Parses an RFC 3339 time (`2027-01-01T00:00:00Z`, `2024-10-03T07:16:28.068632-07:00`). Digits
 * past milliseconds are truncated: a JavaScript Date holds no more. Returns undefined for anything
 * else, including impossible dates such as February 30th, which `Date.parse` would accept.
 */
export function parseRfc3339(text: string): Date | undefined {
  const m = RFC3339.exec(text);
  if (m === null) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = Number(m[6]);
  const fraction = m[7];
  const millis =
    fraction === undefined
      ? 0
      : Number(fraction.length >= 3 ? fraction.slice(0, 3) : fraction.padEnd(3, "0"));
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  // An impossible day (February 30th) is refused here; Date.parse would roll it over.
  if (day > daysInMonth(year, month)) return undefined;
  let offsetMinutes = 0;
  if (m[8] === undefined) {
    const offsetHours = Number(m[10]);
    const offsetMins = Number(m[11]);
    if (offsetHours > 23 || offsetMins > 59) return undefined;
    offsetMinutes = (m[9] === "-" ? -1 : 1) * (offsetHours * 60 + offsetMins);
  }
  // Date.UTC reads years 0-99 as 1900-1999; shifting by a 400-year Gregorian cycle avoids that.
  const utc =
    year < 100
      ? Date.UTC(year + 400, month - 1, day, hour, minute, second, millis) - GREGORIAN_CYCLE_MS
      : Date.UTC(year, month - 1, day, hour, minute, second, millis);
  return new Date(utc - offsetMinutes * 60_000);
}

const GREGORIAN_CYCLE_MS = 146_097 * 86_400_000;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  if (month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) return 29;
  return DAYS_IN_MONTH[month - 1] ?? 0;
}

/** `2027-01-01T00:00:00Z`, with milliseconds only when they are not zero. */
export function formatTimestamp(date: Date): string {
  const iso = date.toISOString();
  return iso.endsWith(".000Z") ? `${iso.slice(0, -5)}Z` : iso;
}
