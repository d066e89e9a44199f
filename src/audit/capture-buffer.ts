/**
 * The decision path's side of the handoff to the writer: decisions captured into one reused
 * Float64Array, laid out slot for slot as `Captured` (record.ts), and turned back into that flat
 * array where the batch is appended (`capturedOf`), so the record builder reads what it always did.
 *
 * Why not post the `Captured` array itself: a structured clone costs V8 about 170 instructions a
 * value (about 5.6k a record with its witness), on the thread that answers, and the array and its
 * values live until the batch is posted, which the young-generation collector pays for again. Here
 * each string slot holds a number: a code in a dictionary of names (types, relations, permissions,
 * answers, callers: a schema's worth, sent to the thread once each), -1 for none, or -2 - n for
 * "the next n characters of the batch's text" (ids, request ids, revisions past 2^53, names past
 * the dictionary's limit), or 2^40 + k for "the string of slot k", an id its decision repeats
 * (`SAME`). A batch crosses as that typed array (moved, not copied), its text and
 * the rare parts of the rare decisions that have them (record.ts `RareParts`).
 *
 * Why the buffer itself crosses and comes back (`reuse`) rather than a copy of its used part: the
 * copy (`slice`: a new buffer zeroed, then the slots copied into it) was about 0.55k instructions
 * a record of the answering thread's, counted by callgrind with batches of 500; the writer hands
 * the buffer back with its reply, and a later batch is written into it (a new one, not zeroed,
 * while the writer holds them all).
 *
 * Why one text rather than an array of ids: the clone costs V8 a few hundred instructions per
 * string it writes (about 1.5k a witnessed record), and one string only once per batch; the ids
 * are listed as they come and joined into that text when the batch closes (see `id`).
 */
import { Buffer } from "node:buffer";
import type { ObjectRef, SubjectRef } from "../core/index.js";
import type { CheckRequest, CheckResult, Witness } from "../engine/index.js";
import type { EncodedDecision } from "../store/index.js";
import {
  type AuditCallInfo,
  type Captured,
  type DecisionFacts,
  encodedRecordsOf,
  FIELDS,
  isEscapeFree,
  type RareParts,
  rarePartsOf,
  WITNESS_FIELDS,
} from "./record.js";

/** A string slot's value when it holds nothing. */
const NONE = -1;
/** A string slot's value at most this: the next `TEXT - value` characters of the batch's text. */
const TEXT = -2;
/** Most names a dictionary holds; a name past it crosses as a string, like an id. */
const MAX_NAMES = 65_536;
/**
 * A string slot's value at least this: the string of slot `value - SAME` of the batch, an id met
 * earlier in the same decision. A witness row's ids mostly repeat the request's or the row above's
 * (`document:d#viewer@group:g#member`, `group:g#member@user:u` for `document:d` and `user:u`): each
 * of those crossed in the text cost the answering thread about 130 instructions (listing it,
 * joining and flattening the text, the clone's copy), a comparison a few dozen.
 */
const SAME = 2 ** 40;

/**
 * A buffer of `count` slots, not zeroed: only slots written are read (a batch's first `length`).
 * Zeroing (what `new Float64Array` does) costs as much as writing the batch's slots a second time;
 * a buffer of its own (`allocUnsafeSlow`, not Node's shared pool), since it crosses to the writer.
 */
function slots(count: number): Float64Array {
  return new Float64Array(Buffer.allocUnsafeSlow(count * Float64Array.BYTES_PER_ELEMENT).buffer);
}

/** A closed batch, as the writer gets it. */
export interface CapturedBatch {
  readonly count: number;
  /** The batch's slots are its first `length` (the rest is room, or an earlier batch's slots). */
  readonly numbers: Float64Array;
  readonly length: number;
  readonly text: string;
  readonly rare: readonly RareParts[];
  /** The recorder's dictionary (shared, only ever appended to) and how much of it this batch uses. */
  readonly names: readonly string[];
  readonly namesUpTo: number;
}

/** Where witness slots start in the one-entry caches of the string slots. */
const WITNESS_CACHE = FIELDS;
/**
 * Witness rows with caches of their own (later rows share the last): a proof's rows differ from
 * one another (`document#viewer@group:g#member`, then `group:g#member@user:u`), so one cache for
 * every row would miss at each row and look the name up in the dictionary; the same row of the
 * next decision's proof is far more often alike.
 */
const WITNESS_CACHE_ROWS = 8;
/**
 * Buffers kept for the next batches (`reuse`): one being written and one waiting is the usual
 * state; more would be memory kept for a writer that fell behind.
 */
const SPARE_BUFFERS = 2;

export class CaptureBuffer {
  /** Decisions in the open batch. */
  count = 0;
  private numbers: Float64Array = slots(4096);
  private at = 0;
  /** Buffers of earlier batches the writer has read and given back (`reuse`). */
  private readonly spare: Float64Array[] = [];
  /**
   * The open batch's ids (and other strings past the dictionary), in slot order: the first
   * `idCount`. Entries past it are blanked when a batch closes rather than dropped: a list emptied
   * at each batch was grown again, a copy at each doubling; blanked, it holds no one's ids once
   * their batch has gone (they may be personal data).
   */
  private readonly ids: string[] = [];
  private idCount = 0;
  private rare: RareParts[] = [];
  /** The empty name is the first: every slot's cache below starts on it (see `name`). */
  private readonly names: string[] = [""];
  private readonly codes = new Map<string, number>([["", 0]]);
  /**
   * Per slot, the last name met and its code: most slots repeat their last value. The codes in a
   * list of small integers, not a Float64Array: read from one, each code was checked for being an
   * integer and boxed as one on its way to the batch's slot, and each read tested the array's
   * buffer for being detached (a dozen instructions a name, counted by callgrind).
   */
  private readonly lastName: string[] = new Array(FIELDS + WITNESS_CACHE_ROWS * WITNESS_FIELDS).fill("");
  private readonly lastCode: number[] = Array.from(
    { length: FIELDS + WITNESS_CACHE_ROWS * WITNESS_FIELDS },
    () => 0,
  );
  private lastRevision: bigint | undefined;
  private lastRevisionSlot = Number.NaN;

  constructor(
    private readonly loggable: ReadonlySet<string>,
    /** The caller recorded when a call names none (embedded mode's), read here: no object per call. */
    private readonly defaultCaller: string | undefined,
    /** Most names the dictionary holds (tests lower it). */
    private readonly maxNames = MAX_NAMES,
  ) {}

  /** Appends one decision, slot for slot as `captureFacts` pushes it. */
  capture(facts: DecisionFacts, info: AuditCallInfo | undefined, at: number): void {
    this.put(
      facts.operation,
      facts.subject,
      facts.resource,
      facts.permission,
      facts,
      facts.consistency?.kind,
      facts.latencyUs,
      info,
      at,
      rarePartsOf(facts, this.loggable),
      facts.witness,
    );
  }

  /**
   * Appends a Check's decision that has no rare parts (`plainCheck`: most), as `capture` would its
   * facts, read from the request and the answer without building them.
   */
  captureCheck(
    request: CheckRequest,
    result: CheckResult,
    latencyUs: number | undefined,
    info: AuditCallInfo | undefined,
    at: number,
  ): void {
    this.put(
      "check",
      request.subject,
      request.resource,
      request.permission,
      result,
      request.consistency?.kind,
      latencyUs,
      info,
      at,
      undefined,
      result.witness,
    );
  }

  /**
   * One decision's slots, witness included, after one test for room (a test per part of it, and
   * a call to make room, were a tenth of this function's work).
   */
  private put(
    operation: string,
    subject: SubjectRef,
    resource: ObjectRef,
    permission: string,
    answer: { readonly state: string; readonly revision: bigint },
    consistency: string | undefined,
    latencyUs: number | undefined,
    info: AuditCallInfo | undefined,
    at: number,
    rare: RareParts | undefined,
    witness: Witness | undefined,
  ): void {
    const witnessed = witness === undefined ? 0 : witness.length;
    const i = this.at;
    const end = i + FIELDS + witnessed * WITNESS_FIELDS;
    if (end > this.numbers.length) this.grow(end);
    const n = this.numbers;
    n[i] = this.internedName(0, operation);
    n[i + 1] = this.name(1, subject.type);
    n[i + 2] = this.id(subject.id);
    n[i + 3] = this.name(3, subject.relation);
    n[i + 4] = this.name(4, resource.type);
    n[i + 5] = this.id(resource.id);
    n[i + 6] = this.name(6, permission);
    n[i + 7] = this.internedName(7, answer.state);
    n[i + 8] = this.revision(answer.revision);
    n[i + 9] = this.name(9, consistency);
    n[i + 10] = at;
    n[i + 11] = latencyUs ?? Number.NaN;
    const requestId = info?.requestId;
    n[i + 12] = requestId === undefined ? NONE : this.id(requestId);
    n[i + 13] = this.name(13, info?.caller ?? this.defaultCaller);
    if (rare === undefined) n[i + 14] = 0;
    else {
      n[i + 14] = 1;
      this.rare.push(rare);
    }
    n[i + 15] = witnessed;
    this.at = witnessed === 0 ? end : this.putWitness(n, i, witness!, witnessed, resource.id, subject.id);
    this.count += 1;
  }

  /**
   * The witness rows of the decision whose slots start at `start`, after them; returns the slot
   * after the rows. A method of its own: in `put`, with its dozen name lookups, V8 stopped inlining
   * `name` (its budget of inlined code is per function), and each call cost more than the lookup.
   * An id that repeats the decision's subject's, or (a row's resource) the checked resource's for
   * the first row and the row above's subject's for the others, crosses as that slot (`SAME`).
   */
  private putWitness(
    n: Float64Array,
    start: number,
    witness: Witness,
    witnessed: number,
    resourceId: string,
    subjectId: string,
  ): number {
    const subjectSlot = SAME + start + 2;
    let above = resourceId;
    let aboveSlot = SAME + start + 5;
    let i = start + FIELDS;
    for (let w = 0; w < witnessed; w++, i += WITNESS_FIELDS) {
      const r = witness[w]!;
      const s = r.subject;
      const c = WITNESS_CACHE + (w < WITNESS_CACHE_ROWS ? w : WITNESS_CACHE_ROWS - 1) * WITNESS_FIELDS;
      const id = r.resource.id;
      n[i] = this.internedName(c, r.resource.type);
      n[i + 1] = id === above ? aboveSlot : this.id(id);
      n[i + 2] = this.internedName(c + 2, r.relation);
      n[i + 3] = this.internedName(c + 3, s.type);
      above = s.id;
      aboveSlot = SAME + i + 4;
      n[i + 4] = above === subjectId ? subjectSlot : this.id(above);
      n[i + 5] = this.internedName(c + 5, s.relation);
      n[i + 6] = this.name(c + 6, r.caveat?.name); // not interned by the copy: `name`
      n[i + 7] = r.expiration === undefined ? Number.NaN : r.expiration.getTime();
    }
    return i;
  }

  /**
   * Closes the open batch, which takes the buffer itself: the next batch is captured into a
   * buffer an earlier batch gave back (`reuse`), or into a new one.
   */
  take(): CapturedBatch {
    const numbers = this.numbers;
    this.numbers = this.spare.pop() ?? slots(numbers.length);
    const batch: CapturedBatch = {
      count: this.count,
      numbers,
      length: this.at,
      text: textOf(this.ids, this.idCount),
      rare: this.rare,
      names: this.names,
      namesUpTo: this.names.length,
    };
    blank(this.ids, this.idCount);
    this.count = 0;
    this.at = 0;
    this.idCount = 0;
    this.rare = [];
    return batch;
  }

  /**
   * A closed batch's buffer, given back once the writer has read its slots: kept for a later batch
   * unless enough are kept (one smaller than a batch needs grows as the first did).
   */
  reuse(numbers: Float64Array): void {
    if (this.spare.length < SPARE_BUFFERS) this.spare.push(numbers);
  }

  /** Room for `end` slots, keeping those written. */
  private grow(end: number): void {
    const grown = slots(Math.max(this.numbers.length * 2, end));
    grown.set(this.numbers.subarray(0, this.at));
    this.numbers = grown;
  }

  /**
   * An id, kept in order for the batch's text (`textOf`, when the batch closes) rather than
   * appended to a string held here: each `+=` made a rope node in the young generation, stored
   * into this (old) object through the write barrier's slow path, copied by each scavenge while
   * the batch was open or waiting and flattened by the clone (callgrind: 1.2k to 1.7k
   * instructions a check of bench/audit-cost.ts's mix, under valgrind, where batches wait longer
   * for the writer than in real runs; about 0.3k this way).
   */
  private id(value: string): number {
    this.ids[this.idCount++] = value;
    return TEXT - value.length;
  }

  /** Kept small, so that V8 inlines it at every slot: the lookup in the dictionary is apart. */
  private name(slot: number, value: string | undefined): number {
    // None first, and a cache of strings only: V8 then compares two strings, not any two values.
    if (value === undefined) return NONE;
    if (value === this.lastName[slot]) return this.lastCode[slot]!;
    return this.lookUp(slot, value);
  }

  /**
   * `name` for names V8 has internalized: the witness rows' (the in-memory copy interns its names
   * as internalized strings, `RelationshipIndex.name` in store/mirror), the operation's and the
   * answer's (string literals). The same as `name`, apart so that its comparisons have type
   * feedback of their own: when only internalized strings have reached them, V8 compares by
   * reference. The request's names, which no one interns, reach `name`'s, which call V8's string
   * comparison for every name as long as its slot's last (about 40 instructions each with the
   * registers saved and restored around the call; 12 calls a witnessed check of the bench's mix).
   * A string of another kind here only costs V8 one recompilation with the general comparison.
   */
  private internedName(slot: number, value: string | undefined): number {
    if (value === undefined) return NONE;
    if (value === this.lastName[slot]) return this.lastCode[slot]!;
    return this.lookUp(slot, value);
  }

  /** A name's code in the dictionary (added when new), kept as the slot's last. */
  private lookUp(slot: number, value: string): number {
    let code = this.codes.get(value);
    if (code === undefined) {
      if (this.names.length >= this.maxNames) return this.id(value);
      code = this.names.length;
      this.names.push(value);
      this.codes.set(value, code);
    }
    this.lastName[slot] = value;
    this.lastCode[slot] = code;
    return code;
  }

  /** A revision as a number when it is exact as one (always, in practice), else as text. */
  private revision(revision: bigint): number {
    if (revision === this.lastRevision) return this.lastRevisionSlot;
    const asNumber = Number(revision);
    if (!Number.isSafeInteger(asNumber) || asNumber < 0) return this.id(String(revision));
    this.lastRevision = revision;
    this.lastRevisionSlot = asNumber;
    return asNumber;
  }
}

/**
 * Blanks the first `count` ids. A loop, not `fill`: V8's `fill` is a runtime call walking the list
 * element by element (about 25 instructions an id, counted by callgrind), the loop a few once
 * optimized. A function of its own: `take` runs once a batch, too seldom to stay optimized through
 * a deoptimization, and this loop ran unoptimized in it (about 0.3k instructions a record).
 */
function blank(ids: string[], count: number): void {
  for (let k = 0; k < count; k++) ids[k] = "";
}

/**
 * The first `count` ids as one flat string. Appended one by one and flattened here, rather than `join("")`:
 * callgrind counted about 140 instructions an id this way against about 210 for `join` (600
 * short ids, flattening included). Flattened at once (`charCodeAt` does it) because the batch may
 * wait for the writer: a rope of one node an id would be copied by each scavenge meanwhile.
 */
function textOf(ids: readonly string[], count: number): string {
  let text = "";
  for (let i = 0; i < count; i++) text += ids[i]!;
  text.charCodeAt(0);
  return text;
}

/** The part of a batch that crosses to the writer thread. */
export interface PostedBatch {
  /** The slots are the first `length`. */
  readonly numbers: Float64Array;
  readonly length: number;
  readonly text: string;
  readonly rare: readonly RareParts[];
}

/**
 * A batch as `captureFacts` would have pushed it, for `recordsOf`; `names` is the whole dictionary.
 * Written out slot by slot (the layout of `captureFacts`, record.ts) rather than driven by a table
 * of slot kinds: the table's lookups and branches were a third of this function's own work (this
 * function is about a tenth of the writer thread's work on a record).
 */
export function capturedOf(batch: PostedBatch, names: readonly string[]): Captured {
  const { numbers, length, text, rare } = batch;
  const out: Captured = new Array(length);
  /** Where the next id starts in the text: ids are cut from it in slot order. */
  let at = 0;
  let r = 0;
  /** The revision met last, as a number and as the bigint made of it (most of a batch's are one). */
  let revisionNumber = Number.NaN;
  let revision = 0n;
  /** The next `count` characters of the text. */
  const next = (count: number): string => {
    const from = at;
    at += count;
    return text.slice(from, at);
  };
  const string = (value: number): string | undefined => {
    if (value >= 0) return value < SAME ? names[value] : (out[value - SAME] as string);
    return value === NONE ? undefined : next(TEXT - value);
  };
  const number = (value: number): number | undefined => (Number.isNaN(value) ? undefined : value);
  for (let i = 0; i < length; ) {
    out[i] = string(numbers[i]!); // operation
    out[i + 1] = string(numbers[i + 1]!); // subject type
    out[i + 2] = string(numbers[i + 2]!); // subject id
    out[i + 3] = string(numbers[i + 3]!); // subject relation
    out[i + 4] = string(numbers[i + 4]!); // resource type
    out[i + 5] = string(numbers[i + 5]!); // resource id
    out[i + 6] = string(numbers[i + 6]!); // permission
    out[i + 7] = string(numbers[i + 7]!); // answer
    const value = numbers[i + 8]!;
    if (value < 0) out[i + 8] = BigInt(next(TEXT - value));
    else {
      if (value !== revisionNumber) {
        revisionNumber = value;
        revision = BigInt(value);
      }
      out[i + 8] = revision;
    }
    out[i + 9] = string(numbers[i + 9]!); // consistency
    out[i + 10] = number(numbers[i + 10]!); // time (ms)
    out[i + 11] = number(numbers[i + 11]!); // latency (µs)
    out[i + 12] = string(numbers[i + 12]!); // request id
    out[i + 13] = string(numbers[i + 13]!); // caller
    out[i + 14] = numbers[i + 14] === 1 ? rare[r++] : undefined;
    const witnessed = numbers[i + 15]!;
    out[i + 15] = witnessed;
    i += FIELDS;
    for (let w = 0; w < witnessed; w++, i += WITNESS_FIELDS) {
      out[i] = string(numbers[i]!); // resource type
      out[i + 1] = string(numbers[i + 1]!); // resource id
      out[i + 2] = string(numbers[i + 2]!); // relation
      out[i + 3] = string(numbers[i + 3]!); // subject type
      out[i + 4] = string(numbers[i + 4]!); // subject id
      out[i + 5] = string(numbers[i + 5]!); // subject relation
      out[i + 6] = string(numbers[i + 6]!); // caveat name
      out[i + 7] = number(numbers[i + 7]!); // expiration (ms)
    }
  }
  return out;
}

/**
 * The writer's side of the dictionary: the names received so far (a batch's codes are positions
 * in it), and whether every one of them is escape-free, tested once as it arrives.
 */
export class ReceivedNames {
  readonly names: string[] = [];
  private escapeFree = true;

  add(names: readonly string[]): void {
    for (const name of names) {
      this.names.push(name);
      if (this.escapeFree && !isEscapeFree(name)) this.escapeFree = false;
    }
  }

  /**
   * A posted batch's records in their stored form (what the writer thread appends). Every string
   * of a plain record is a name or a cut of the batch's text, so when both are escape-free (one
   * test of the text a batch, not one of each record's strings) no record needs its own test.
   */
  encoded(batch: PostedBatch): EncodedDecision[] {
    const escapeFree = this.escapeFree && isEscapeFree(batch.text);
    return encodedRecordsOf(capturedOf(batch, this.names), escapeFree);
  }
}
