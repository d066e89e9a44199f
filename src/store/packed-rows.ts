/**
 * The layout of PackedRows (types.ts), built in one place: the in-memory copy packs its lists with
 * it, and the engine's walk packs rows from a snapshot that hands out none.
 */
import type { Relationship, SubjectRef } from "../core/index.js";
import type { PackedRows, ReverseRows } from "./types.js";

/**
 * Where a packed row's fields are: after the header (see PackedHead), four slots a row, from the
 * row's first: its relation, its subject's key (see `subjectKey`), its subject, its relationship.
 */
export const PACKED_HEAD = 1;
export const PACKED_STRIDE = 4;
export const PACKED_KEY = 1;
export const PACKED_SUBJECT = 2;
export const PACKED_RELATIONSHIP = 3;

/** A subject key's low bits: a wildcard (`user:*`), a subject set (`group:x#member`). */
export const KEY_WILDCARD = 1;
export const KEY_SET = 2;

/**
 * A small integer standing for a row's subject, kept in the row beside it, so the walk tells a row
 * that cannot grant from one that may without reading the subject object or its id string (in a
 * copy larger than the CPU's caches each a likely cache miss, and at scale `l` most rows a check
 * reads name someone else). A plain subject's key is a hash of its id with the low bits clear: two
 * subjects whose keys differ are different; equal keys say only "compare the subjects". A wildcard
 * or a subject set is its kind alone (`KEY_WILDCARD`, `KEY_SET`): the walk reads those subjects
 * anyway. Always a small integer (under 2^30), which V8 keeps in the slot itself.
 */
export function subjectKey(subject: SubjectRef): number {
  if (subject.relation !== undefined) return KEY_SET;
  const id = subject.id;
  if (id === "*") return KEY_WILDCARD;
  // FNV-1a over the UTF-16 code units, folded to 28 bits.
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return (h >>> 4) << 2;
}

/**
 * What a packed list's first slot says of its rows, so the walk reads a row's Relationship only
 * when it must: `expiring` when a row may carry an expiration, `caveated` when one may carry a
 * caveat. One of four shared objects, never one per list: the header costs no heap, and reading it
 * touches an object every walk reads (always in cache), where a Relationship read for its caveat
 * is a likely cache miss in a large copy.
 */
export interface PackedHead {
  readonly expiring: boolean;
  readonly caveated: boolean;
}

const HEADS: readonly PackedHead[] = [
  Object.freeze({ expiring: false, caveated: false }),
  Object.freeze({ expiring: true, caveated: false }),
  Object.freeze({ expiring: false, caveated: true }),
  Object.freeze({ expiring: true, caveated: true }),
];

/** The shared header saying `expiring` and `caveated`. */
export function packedHead(expiring: boolean, caveated: boolean): PackedHead {
  return HEADS[(expiring ? 1 : 0) + (caveated ? 2 : 0)]!;
}

/**
 * The header of packed rows. A first slot that is not a header (rows packed some other way) reads
 * as "may expire, may carry a caveat": the walk then reads every row's Relationship, slower but
 * never granting past a caveat it did not see.
 */
export function headOf(rows: PackedRows): PackedHead {
  const head = rows[0];
  return typeof head === "object" && head !== null ? (head as PackedHead) : HEADS[3]!;
}

/**
 * `list` packed; `expiring` when some entry may carry an expiration (the walk then reads it; by
 * default, whether one does). Every packed list is made the same way (`new Array(n)`, then filled)
 * and never frozen: the walk's reads of them then see one kind of array, which V8 loads from
 * inline. Frozen arrays, or several kinds, sent every load through V8's generic keyed load
 * (callgrind: a sixth of the walk's instructions). Readers must not change them (PackedRows is
 * readonly); a write replaces a list.
 */
export function packRows(
  list: readonly Relationship[],
  expiring: boolean = list.some((r) => r.expiration !== undefined),
): PackedRows {
  const out = new Array<unknown>(PACKED_HEAD + PACKED_STRIDE * list.length);
  let caveated = false;
  for (let i = 0, at = PACKED_HEAD; i < list.length; i++, at += PACKED_STRIDE) {
    const r = list[i]!;
    if (r.caveat !== undefined) caveated = true;
    out[at] = r.relation;
    out[at + PACKED_KEY] = subjectKey(r.subject);
    out[at + PACKED_SUBJECT] = r.subject;
    out[at + PACKED_RELATIONSHIP] = r;
  }
  out[0] = packedHead(expiring, caveated);
  return out;
}

/**
 * Where a packed reverse row's fields are (see ReverseRows): after the header (`caveated`,
 * `expiring`), three slots a row.
 */
export const REVERSE_HEAD = 2;
export const REVERSE_STRIDE = 3;

/**
 * Reverse `list` packed (see ReverseRows): one subject's relationships to one resource type, in the
 * order given. Made like `packRows` (`new Array(n)`, then filled, never frozen), for the same reason.
 */
export function packReverse(list: readonly Relationship[]): ReverseRows {
  const out = new Array<unknown>(REVERSE_HEAD + REVERSE_STRIDE * list.length);
  let caveated = false;
  let expiring = false;
  for (let i = 0, at = REVERSE_HEAD; i < list.length; i++, at += REVERSE_STRIDE) {
    const r = list[i]!;
    if (r.caveat !== undefined) caveated = true;
    if (r.expiration !== undefined) expiring = true;
    out[at] = r.relation;
    out[at + 1] = r.resource.id;
    out[at + 2] = r;
  }
  out[0] = caveated;
  out[1] = expiring;
  return out;
}

/**
 * The relationships of packed rows of either layout (`head` slots of header, then `stride` a row,
 * the relationship each row's last slot), in order.
 */
export function relationshipsIn(rows: readonly unknown[], head: number, stride: number): Relationship[] {
  const out = new Array<Relationship>((rows.length - head) / stride);
  for (let i = 0; i < out.length; i++) out[i] = rows[head + stride * i + stride - 1] as Relationship;
  return out;
}
