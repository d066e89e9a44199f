/**
 * Relationships held in memory, versioned like the rows of the SQL backends: a read at revision R
 * sees exactly the relationships visible at R, while newer changes are already applied. Two hash
 * indexes answer the engine's two hot queries without a scan: forward (resource type, then id) and
 * reverse (subject type, subject relation and resource type, then subject id). Both hold the same
 * frozen Relationship objects and hand them out on every read: nothing is allocated per row read.
 * The forward index keeps a plain resource's rows packed (see PackedRows): relation and subject
 * beside each Relationship, so the walk that reads them touches one array per object read.
 *
 * Compact on purpose (a copy of millions of rows): there is no per-entry object besides the
 * Relationship itself. Revisions are kept on the side, in `versions`, only for the few entries a
 * reader may not see: created after the last compaction, or deleted. Every other entry is visible
 * to every reader the copy serves, so a resource without such entries answers `packedOf` with its
 * own (frozen, copied on the next write) list.
 *
 * Deleted entries stay until `compact` drops those no reader may still see (older than the floor).
 */
import type { ObjectRef, Relationship, SubjectRef } from "../../core/index.js";
import {
  PACKED_HEAD as HEAD,
  headOf,
  PACKED_KEY,
  PACKED_RELATIONSHIP,
  PACKED_SUBJECT,
  packedHead,
  packReverse,
  packRows,
  REVERSE_HEAD,
  REVERSE_STRIDE,
  relationshipsIn,
  PACKED_STRIDE as STRIDE,
  subjectKey,
} from "../packed-rows.js";
import type { ForwardQuery, PackedRows, ReverseQuery, ReverseRows } from "../types.js";

/** Revisions of an entry that not every reader sees. */
interface Version {
  readonly created: number;
  /** The revision that deleted (or replaced) it; Infinity while it lives. */
  deleted: number;
}

/** One resource's relationships; `live` (identity -> relationship) is built once the list is long. */
interface Bucket {
  /** Shared by every relationship of this resource. */
  readonly resource: ObjectRef;
  /** Frozen once handed to a reader; a write then replaces it by a copy. */
  entries: Relationship[];
  live: Map<string, Relationship> | undefined;
  /** How many entries have a version or an expiration: while none, `entries` is every answer. */
  special: number;
  /** `entries` packed (see PackedRows), kept while `entries` is the list it was packed from. */
  packed: PackedRows | undefined;
  packedFrom: Relationship[] | undefined;
  /**
   * While some entries are versioned: what a reader at revision `shownAt` sees, packed, kept while
   * `entries` is the list it was filtered from and none of it expires (see `packedOf`).
   */
  shown: PackedRows | undefined;
  shownFrom: Relationship[] | undefined;
  shownAt: number;
}

/**
 * A plain resource's relationships in the form the synchronous walk reads (see `PackedRows` in
 * store/types.ts): the walk compares a row's relation and subject without touching the row's
 * Relationship object, so a resource read costs one array rather than an object per row.
 */
type Plain = PackedRows;

/**
 * What the forward index holds for one resource. Most resources have a few relationships, every one
 * visible to every reader: for them the list alone (its entries share the resource object), with
 * no Bucket beside it. At scale `l` that is a million objects fewer, and one dependent memory read
 * less on every read of a resource (each a likely cache miss once the copy outgrows the cache).
 * A resource becomes a Bucket when it needs one (a versioned or expiring entry, or a long list)
 * and a plain list again when `compact` finds it plain.
 */
type Slot = Plain | Bucket;

const plainCount = (p: Plain): number => (p.length - HEAD) / STRIDE;
const plainAt = (p: Plain, i: number): Relationship =>
  p[HEAD + STRIDE * i + PACKED_RELATIONSHIP] as Relationship;

const unpack = (p: Plain): Relationship[] => relationshipsIn(p, HEAD, STRIDE);

const isPlain = (slot: Slot): slot is Plain => Array.isArray(slot);

const resourceOf = (slot: Slot): ObjectRef => (isPlain(slot) ? plainAt(slot, 0).resource : slot.resource);
const entriesOf = (slot: Slot): Relationship[] => (isPlain(slot) ? unpack(slot) : slot.entries);

/** Above this many entries a bucket keeps a map of its live entries, so a change finds its row fast. */
const LIVE_MAP_AT = 16;

const NUL = "\u0000";

const NONE: readonly Relationship[] = Object.freeze([]);
const NO_ROWS: PackedRows = packRows(NONE, false);

const INF = Number.POSITIVE_INFINITY;

function identity(r: Relationship): string {
  const s = r.subject;
  return `${r.relation}${NUL}${s.type}${NUL}${s.id}${NUL}${s.relation ?? ""}`;
}

function sameIdentity(a: Relationship, b: Relationship): boolean {
  return (
    a.relation === b.relation &&
    a.subject.id === b.subject.id &&
    a.subject.type === b.subject.type &&
    (a.subject.relation ?? "") === (b.subject.relation ?? "")
  );
}

/** Short lists grow by copy, to their exact length: `push` would reserve room for 17 entries. */
const EXACT_UP_TO = 16;

/** `list` with `r` appended: `list` itself when it grows in place, a copy when short or frozen. */
function append(list: readonly Relationship[], r: Relationship): Relationship[] {
  if (list.length < EXACT_UP_TO || Object.isFrozen(list)) {
    const out = new Array<Relationship>(list.length + 1);
    for (let i = 0; i < list.length; i++) out[i] = list[i]!;
    out[list.length] = r;
    return out;
  }
  const grown = list as Relationship[];
  grown.push(r);
  return grown;
}

/** Plain list `p` with `r` appended: always a copy of exactly the new length (plain lists are short). */
function appendPlain(p: Plain | undefined, r: Relationship): Plain {
  const n = p === undefined ? HEAD : p.length;
  const out = new Array<unknown>(n + STRIDE);
  // A plain list has no expiring entry (one makes it a Bucket); a caveated one marks it caveated.
  out[0] = packedHead(false, r.caveat !== undefined || (p !== undefined && headOf(p).caveated));
  for (let i = HEAD; i < n; i++) out[i] = p![i];
  out[n] = r.relation;
  out[n + PACKED_KEY] = subjectKey(r.subject);
  out[n + PACKED_SUBJECT] = r.subject;
  out[n + PACKED_RELATIONSHIP] = r;
  return out;
}

/**
 * One subject's relationships to one resource type: the list, or the list packed (ReverseRows) once
 * the membership walk read it while every entry was visible to every reader and none could expire.
 * The packed form stands for the list until a write to this list (a new entry, or a deletion of one
 * of its entries) turns it back into a list: a write elsewhere leaves it as it is, so a copy under
 * steady writes packs each list it reads once, not on every read.
 */
type ReverseList = Relationship[] | ReverseRows;

/** Reverse lists by subject id, for one (subject type, subject relation, resource type). */
type ReverseLists = Map<string, ReverseList>;

/** A list is never empty (an emptied one is removed), so its first slot tells the two forms apart. */
const isRawList = (list: ReverseList): list is Relationship[] => typeof list[0] !== "boolean";

/** The entries of `list`: itself, or a new list of the packed form's relationships. */
function rawList(list: ReverseList): Relationship[] {
  return isRawList(list) ? list : relationshipsIn(list, REVERSE_HEAD, REVERSE_STRIDE);
}

/**
 * Subject type, then subject relation ("" for none), then resource type: nested maps whose keys
 * are the few interned names, so a read builds and hashes no key string.
 */
type ReverseIndex = Map<string, Map<string, Map<string, ReverseLists>>>;

export class RelationshipIndex {
  private readonly forwardIndex = new Map<string, Map<string, Slot>>();
  private readonly reverseIndex: ReverseIndex = new Map();
  /** Revisions of the entries some reader may not see (see the file comment). */
  private readonly versions = new Map<Relationship, Version>();
  /**
   * Entries created with a version, in creation order: `compact` forgets the versions of those
   * created by the floor (a slice a call, so some may wait, still versioned, past `settled`).
   */
  private readonly young = new Fifo<Relationship>();
  /** Deleted entries in deletion order, waiting for `compact`. */
  private readonly dead = new Fifo<Relationship>();
  /** Every reader the copy serves reads at this revision or later (the last compaction's floor). */
  private settled = 0;
  private liveCount = 0;
  /** Interned type, relation and subject-relation names: few distinct values, many rows. */
  private readonly names = new Map<string, string>();
  /**
   * One object per distinct subject, shared by all its relationships: fewer objects make every
   * garbage collection of a large copy cheaper. Never pruned; there are far fewer subjects than rows.
   */
  private readonly subjects = new Map<string, SubjectRef>();
  /** Live entries by resource type, then relation: the sets a partial copy keeps or drops whole. */
  private readonly setSizes = new Map<string, Map<string, number>>();
  /** Reverse lists packed and kept (see ReverseList), for tests that a write elsewhere keeps them. */
  reversePacks = 0;

  /** Live relationships. */
  get size(): number {
    return this.liveCount;
  }

  /** Entries kept with their revisions (see the file comment): what `compact` has yet to settle. */
  get versioned(): number {
    return this.versions.size;
  }

  /** Applies a TOUCH at `revision`: replaces the live entry of the same identity, if any. */
  touch(rel: Relationship, revision: number): void {
    let byId = this.forwardIndex.get(rel.resource.type);
    if (byId === undefined) {
      byId = new Map();
      this.forwardIndex.set(this.name(rel.resource.type), byId);
    }
    let slot = byId.get(rel.resource.id);
    if (slot !== undefined) {
      const previous = this.findLive(slot, rel);
      if (previous !== undefined) slot = this.kill(byId, slot, previous, revision);
    }
    const resource =
      slot === undefined
        ? Object.freeze({ type: this.name(rel.resource.type), id: rel.resource.id })
        : resourceOf(slot);
    const frozen = this.freeze(rel, resource);
    let special = frozen.expiration !== undefined;
    if (revision > this.settled) {
      this.versions.set(frozen, { created: revision, deleted: INF });
      this.young.push(frozen);
      special = true;
    }
    if (!special && (slot === undefined || (isPlain(slot) && plainCount(slot) < LIVE_MAP_AT))) {
      byId.set(resource.id, appendPlain(slot, frozen));
    } else {
      const bucket = this.bucketFor(byId, slot, resource);
      if (special) bucket.special++;
      bucket.entries = append(bucket.entries, frozen);
      if (bucket.live !== undefined) bucket.live.set(identity(frozen), frozen);
      else if (bucket.entries.length > LIVE_MAP_AT) {
        bucket.live = new Map();
        for (const e of bucket.entries) if (this.isLive(e)) bucket.live.set(identity(e), e);
      }
    }
    const s = frozen.subject;
    const lists = this.reverseLists(s.type, s.relation ?? "", resource.type, true)!;
    const list = lists.get(s.id);
    // A packed list stands for entries every reader sees: one that some may not see unpacks it.
    const longer = append(list === undefined ? NONE : rawList(list), frozen);
    if (longer !== list) lists.set(s.id, longer);
    this.liveCount++;
    this.countSet(frozen, 1);
  }

  /** Applies a DELETE at `revision`; deleting what does not exist is not an error (as in SQL). */
  delete(rel: Relationship, revision: number): void {
    const byId = this.forwardIndex.get(rel.resource.type);
    const slot = byId?.get(rel.resource.id);
    if (slot === undefined) return;
    const previous = this.findLive(slot, rel);
    if (previous !== undefined) this.kill(byId!, slot, previous, revision);
  }

  /** An entry as a reader at `revision` sees it: created by then, not yet deleted, not expired. */
  private visibleAt(r: Relationship, revision: number, now: number): boolean {
    if (this.versions.size !== 0) {
      const v = this.versions.get(r);
      if (v !== undefined && (v.created > revision || v.deleted <= revision)) return false;
    }
    return r.expiration === undefined || r.expiration.getTime() > now;
  }

  forward(query: ForwardQuery, revision: number, now: number): Relationship[] {
    const out: Relationship[] = [];
    const byId = this.forwardIndex.get(query.resourceType);
    if (byId === undefined || query.relations.length === 0) return out;
    const relations = query.relations;
    const single = relations.length === 1 ? relations[0] : undefined;
    const subjectType = query.subjectType;
    const subjectRelation = query.subjectRelation === "..." ? "" : query.subjectRelation;
    const subjectIds = query.subjectIds === undefined ? undefined : new Set(query.subjectIds);
    const ids = query.resourceIds;
    // Ids asked twice are answered once, as `IN (...)` does.
    const seen = ids.length > 1 ? new Set<string>() : undefined;
    for (const id of ids) {
      if (seen !== undefined) {
        if (seen.has(id)) continue;
        seen.add(id);
      }
      const slot = byId.get(id);
      if (slot === undefined) continue;
      const plain = isPlain(slot) || slot.special === 0;
      const n = isPlain(slot) ? plainCount(slot) : slot.entries.length;
      for (let i = 0; i < n; i++) {
        const r = isPlain(slot) ? plainAt(slot, i) : slot.entries[i]!;
        if (single !== undefined ? r.relation !== single : !relations.includes(r.relation)) continue;
        if (!plain && !this.visibleAt(r, revision, now)) continue;
        if (subjectType !== undefined && r.subject.type !== subjectType) continue;
        if (subjectRelation !== undefined && (r.subject.relation ?? "") !== subjectRelation) continue;
        if (subjectIds !== undefined && !subjectIds.has(r.subject.id)) continue;
        out.push(r);
      }
    }
    return out;
  }

  /**
   * Every relationship of one object visible at `revision`. A plain resource's list is built on
   * each call: the synchronous walk reads `packedOf` instead, which allocates nothing.
   */
  relationshipsOf(resourceType: string, id: string, revision: number, now: number): readonly Relationship[] {
    const slot = this.forwardIndex.get(resourceType)?.get(id);
    if (slot === undefined) return NONE;
    if (isPlain(slot)) return unpack(slot);
    if (slot.special === 0) {
      return Object.isFrozen(slot.entries) ? slot.entries : Object.freeze(slot.entries);
    }
    const out: Relationship[] = [];
    for (const r of slot.entries) if (this.visibleAt(r, revision, now)) out.push(r);
    return out;
  }

  /**
   * `relationshipsOf` packed (see PackedRows): the synchronous walk's one read. A plain resource
   * (most) and a long list every reader sees answer with a list kept for them: nothing allocated.
   */
  packedOf(resourceType: string, id: string, revision: number, now: number): PackedRows {
    const slot = this.forwardIndex.get(resourceType)?.get(id);
    if (slot === undefined) return NO_ROWS;
    // Every entry is visible at every revision served: the list itself is the answer.
    if (isPlain(slot)) return slot;
    if (slot.special === 0) {
      if (slot.packedFrom !== slot.entries) {
        slot.packed = packRows(slot.entries, false);
        // Kept only while the list is this one: a write replaces the list (copy on write).
        Object.freeze(slot.entries);
        slot.packedFrom = slot.entries;
      }
      return slot.packed!;
    }
    // Read again at the same revision (most reads: requests share the quantized revision), the
    // list answers as before. What a revision sees of a list changes only when the list does (a
    // write then replaces it: frozen below) or with the clock (an expiring entry: not kept). A
    // deletion marks its entry in place, but at a revision later than any reader has read at.
    if (slot.shownFrom === slot.entries && slot.shownAt === revision) return slot.shown!;
    let expiring = false;
    let timed = false;
    const out: Relationship[] = [];
    for (const r of slot.entries) {
      if (r.expiration !== undefined) timed = true;
      if (!this.visibleAt(r, revision, now)) continue;
      if (r.expiration !== undefined) expiring = true;
      out.push(r);
    }
    const packed = packRows(out, expiring);
    if (!timed) {
      Object.freeze(slot.entries);
      slot.shown = packed;
      slot.shownFrom = slot.entries;
      slot.shownAt = revision;
    }
    return packed;
  }

  reverse(query: ReverseQuery, revision: number, now: number): Relationship[] {
    const out: Relationship[] = [];
    const subjectRelation = query.subjectRelation === "..." ? "" : query.subjectRelation;
    const bySubject = this.reverseLists(query.subjectType, subjectRelation, query.resourceType, false);
    if (bySubject === undefined || query.relations.length === 0) return out;
    const relations = query.relations;
    const single = relations.length === 1 ? relations[0] : undefined;
    const ids = query.subjectIds;
    const seen = ids.length > 1 ? new Set<string>() : undefined;
    for (const id of ids) {
      if (seen !== undefined) {
        if (seen.has(id)) continue;
        seen.add(id);
      }
      const list = bySubject.get(id);
      if (list === undefined) continue;
      if (!isRawList(list)) {
        // Every entry visible to every reader, none expiring: no version to look up.
        for (let i = REVERSE_HEAD; i < list.length; i += REVERSE_STRIDE) {
          const relation = list[i] as string;
          if (single !== undefined ? relation !== single : !relations.includes(relation)) continue;
          out.push(list[i + 2] as Relationship);
        }
        continue;
      }
      for (const r of list) {
        if (single !== undefined ? r.relation !== single : !relations.includes(r.relation)) continue;
        if (!this.visibleAt(r, revision, now)) continue;
        out.push(r);
      }
    }
    return out;
  }

  /**
   * `reverse` packed (see ReverseRows): one list per subject id that has entries, with the entries
   * of every relation (the reader picks its own). A list whose entries every reader sees and none of
   * which may expire is packed once and kept in its place (see ReverseList); any other is packed
   * for this read, from the entries visible at `revision`.
   */
  reverseRows(query: ReverseQuery, revision: number, now: number): ReverseRows[] {
    const out: ReverseRows[] = [];
    const subjectRelation = query.subjectRelation === "..." ? "" : query.subjectRelation;
    const bySubject = this.reverseLists(query.subjectType, subjectRelation, query.resourceType, false);
    if (bySubject === undefined) return out;
    for (const id of query.subjectIds) {
      const list = bySubject.get(id);
      if (list === undefined) continue;
      if (!isRawList(list)) out.push(list);
      else if (this.everyReaderSees(list)) {
        const packed = packReverse(list);
        bySubject.set(id, packed);
        this.reversePacks++;
        out.push(packed);
      } else {
        const visible = list.filter((r) => this.visibleAt(r, revision, now));
        if (visible.length > 0) out.push(packReverse(visible));
      }
    }
    return out;
  }

  /** No entry of `list` has a version (see `versions`) or an expiration. */
  private everyReaderSees(list: readonly Relationship[]): boolean {
    const versions = this.versions;
    for (const r of list) {
      if (r.expiration !== undefined || (versions.size !== 0 && versions.has(r))) return false;
    }
    return true;
  }

  private reverseLists(
    subjectType: string,
    subjectRelation: string,
    resourceType: string,
    create: boolean,
  ): ReverseLists | undefined {
    let byRelation = this.reverseIndex.get(subjectType);
    if (byRelation === undefined) {
      if (!create) return undefined;
      byRelation = new Map();
      this.reverseIndex.set(this.name(subjectType), byRelation);
    }
    let byType = byRelation.get(subjectRelation);
    if (byType === undefined) {
      if (!create) return undefined;
      byType = new Map();
      byRelation.set(this.name(subjectRelation), byType);
    }
    let lists = byType.get(resourceType);
    if (lists === undefined && create) {
      lists = new Map();
      byType.set(this.name(resourceType), lists);
    }
    return lists;
  }

  /**
   * Drops entries deleted at or before `floor`: no reader at `floor` or later can see them; and
   * forgets the versions of live entries created by then, which every such reader sees.
   * Each affected list is rebuilt once a call, whatever the number of its dead entries.
   *
   * At most `budget` entries a call: after a revision of 200,000 changes one call held the event
   * loop for 100-200 ms. Returns whether entries up to the floor are left for another call; until
   * then they keep their versions, so every reader the floor admits sees them exactly as before.
   */
  compact(floor: number, budget = Number.POSITIVE_INFINITY): boolean {
    if (floor > this.settled) this.settled = floor;
    const { young, versions } = this;
    let y = 0;
    const settling = new Set<Bucket>();
    while (y < budget && this.youngDue(y)) {
      const r = young.at(y++)!;
      const v = versions.get(r)!;
      if (v.deleted !== INF) continue; // dead: its version stays until it is dropped below
      versions.delete(r);
      const bucket = this.bucketAt(r);
      if (bucket !== undefined && r.expiration === undefined) {
        bucket.special--;
        settling.add(bucket);
      }
    }
    young.drop(y);
    // Only once no young entry up to the floor is left: every dead one up to it is then behind them
    // (created before it was deleted), so the loop above never meets an entry without its version.
    if (!this.youngDue(0)) {
      let n = 0;
      while (y + n < budget && this.deadDue(n)) n++;
      if (n > 0) this.dropDead(n, settling);
    }
    for (const bucket of settling) this.settle(bucket);
    return this.youngDue(0) || this.deadDue(0);
  }

  /** Whether the `i`th young entry was created by the floor: its version can be forgotten. */
  private youngDue(i: number): boolean {
    const r = this.young.at(i);
    return r !== undefined && this.versions.get(r)!.created <= this.settled;
  }

  /** Whether the `i`th dead entry was deleted by the floor: it can be dropped. */
  private deadDue(i: number): boolean {
    const r = this.dead.at(i);
    return r !== undefined && this.versions.get(r)!.deleted <= this.settled;
  }

  /** Drops the first `n` dead entries; the buckets they leave go into `settling`. */
  private dropDead(n: number, settling: Set<Bucket>): void {
    const gone = new Set<Relationship>();
    for (let i = 0; i < n; i++) gone.add(this.dead.at(i)!);
    this.dead.drop(n);
    // Every touched list is filtered once, however many of its entries are gone.
    const lists = new Map<ReverseLists, Set<string>>();
    // Only buckets that held a dead entry are filtered, not every bucket already settling.
    const holding = new Set<Bucket>();
    for (const r of gone) {
      this.versions.delete(r);
      const bucket = this.bucketAt(r);
      if (bucket !== undefined) {
        bucket.special--;
        holding.add(bucket);
      }
      const s = r.subject;
      const map = this.reverseLists(s.type, s.relation ?? "", r.resource.type, false);
      if (map === undefined) continue;
      let ids = lists.get(map);
      if (ids === undefined) {
        ids = new Set();
        lists.set(map, ids);
      }
      ids.add(s.id);
    }
    for (const bucket of holding) {
      bucket.entries = bucket.entries.filter((x) => !gone.has(x));
      settling.add(bucket);
    }
    for (const [map, ids] of lists) {
      for (const id of ids) {
        const list = map.get(id);
        if (list === undefined) continue;
        const kept = rawList(list).filter((x) => !gone.has(x));
        if (kept.length === 0) map.delete(id);
        else map.set(id, kept);
      }
    }
  }

  /**
   * After a change to `bucket`'s entries: drops the resource when it has none left, and keeps the
   * plain list alone once every entry is visible to every reader and the list is short.
   */
  private settle(bucket: Bucket): void {
    const byId = this.forwardIndex.get(bucket.resource.type);
    if (byId === undefined || byId.get(bucket.resource.id) !== bucket) return;
    if (bucket.entries.length === 0) byId.delete(bucket.resource.id);
    else if (bucket.special === 0 && bucket.entries.length <= LIVE_MAP_AT) {
      byId.set(bucket.resource.id, packRows(bucket.entries, false));
    }
  }

  /** The bucket of `r`'s resource; undefined when it has none (a plain list, or gone). */
  private bucketAt(r: Relationship): Bucket | undefined {
    const slot = this.forwardIndex.get(r.resource.type)?.get(r.resource.id);
    return slot === undefined || isPlain(slot) ? undefined : slot;
  }

  /** `slot` as a bucket, made and put in its place when it is a plain list (or none). */
  private bucketFor(byId: Map<string, Slot>, slot: Slot | undefined, resource: ObjectRef): Bucket {
    if (slot !== undefined && !isPlain(slot)) return slot;
    const bucket: Bucket = {
      resource,
      entries: slot === undefined ? [] : unpack(slot),
      live: undefined,
      special: 0,
      packed: undefined,
      packedFrom: undefined,
      shown: undefined,
      shownFrom: undefined,
      shownAt: -1,
    };
    byId.set(resource.id, bucket);
    return bucket;
  }

  private isLive(r: Relationship): boolean {
    const v = this.versions.get(r);
    return v === undefined || v.deleted === INF;
  }

  /** In a plain list every entry is live. */
  private findLive(slot: Slot, rel: Relationship): Relationship | undefined {
    if (isPlain(slot)) {
      for (let i = 0, n = plainCount(slot); i < n; i++) {
        const e = plainAt(slot, i);
        if (sameIdentity(e, rel)) return e;
      }
      return undefined;
    }
    if (slot.live !== undefined) return slot.live.get(identity(rel));
    for (const e of slot.entries) if (sameIdentity(e, rel) && this.isLive(e)) return e;
    return undefined;
  }

  /** Marks `entry` deleted at `revision`; returns its resource's slot, now a bucket. */
  private kill(byId: Map<string, Slot>, slot: Slot, entry: Relationship, revision: number): Bucket {
    const bucket = this.bucketFor(byId, slot, resourceOf(slot));
    const v = this.versions.get(entry);
    if (v !== undefined) v.deleted = revision;
    else {
      // Created at or before `settled`: visible to every reader older than this deletion.
      this.versions.set(entry, { created: 0, deleted: revision });
      if (entry.expiration === undefined) bucket.special++;
    }
    bucket.live?.delete(identity(entry));
    this.unpackReverseOf(entry);
    this.dead.push(entry);
    this.liveCount--;
    this.countSet(entry, -1);
    return bucket;
  }

  /** `entry` now has a version: its reverse list, if packed (every reader sees all), is a list again. */
  private unpackReverseOf(entry: Relationship): void {
    const s = entry.subject;
    const lists = this.reverseLists(s.type, s.relation ?? "", entry.resource.type, false);
    const list = lists?.get(s.id);
    if (list !== undefined && !isRawList(list)) lists!.set(s.id, rawList(list));
  }

  private countSet(r: Relationship, by: number): void {
    let byRelation = this.setSizes.get(r.resource.type);
    if (byRelation === undefined) {
      byRelation = new Map();
      this.setSizes.set(r.resource.type, byRelation);
    }
    byRelation.set(r.relation, (byRelation.get(r.relation) ?? 0) + by);
  }

  /** Live relationships of each (resource type, relation) held. */
  sets(): { type: string; relation: string; relationships: number }[] {
    const out: { type: string; relation: string; relationships: number }[] = [];
    for (const [type, byRelation] of this.setSizes) {
      for (const [relation, relationships] of byRelation) {
        if (relationships > 0) out.push({ type, relation, relationships });
      }
    }
    return out;
  }

  /**
   * Forgets every entry of one (resource type, relation), live, deleted or young: a partial copy
   * then answers reads of that set from the store. One pass over the type's buckets and over the
   * reverse lists that lead to the type.
   */
  dropSet(type: string, relation: string): void {
    const byRelation = this.setSizes.get(type);
    const held = byRelation?.get(relation) ?? 0;
    const inSet = (r: Relationship) => r.relation === relation && r.resource.type === type;
    const byId = this.forwardIndex.get(type);
    if (byId !== undefined) {
      for (const [id, slot] of byId) {
        const entries = entriesOf(slot);
        if (!entries.some(inSet)) continue;
        const kept = entries.filter((r) => !inSet(r));
        if (isPlain(slot)) {
          // A plain list has no versions to forget.
          if (kept.length === 0) byId.delete(id);
          else byId.set(id, packRows(kept, false));
          continue;
        }
        for (const r of entries) if (inSet(r)) this.versions.delete(r);
        slot.entries = kept;
        slot.special = 0;
        for (const r of kept) if (r.expiration !== undefined || this.versions.has(r)) slot.special++;
        if (slot.live !== undefined) {
          slot.live = undefined;
          if (kept.length > LIVE_MAP_AT) {
            slot.live = new Map();
            for (const e of kept) if (this.isLive(e)) slot.live.set(identity(e), e);
          }
        }
        this.settle(slot);
      }
    }
    for (const byRelation of this.reverseIndex.values()) {
      for (const byType of byRelation.values()) {
        const bySubject = byType.get(type);
        if (bySubject === undefined) continue;
        for (const [id, packedOrNot] of bySubject) {
          const list = rawList(packedOrNot);
          if (!list.some(inSet)) continue;
          const kept = list.filter((r) => !inSet(r));
          if (kept.length === 0) bySubject.delete(id);
          else bySubject.set(id, kept);
        }
      }
    }
    this.young.retain((r) => !inSet(r));
    this.dead.retain((r) => !inSet(r));
    byRelation?.delete(relation);
    this.liveCount -= held;
  }

  /**
   * The one string kept for a name, internalized (V8's table of unique strings, as property keys
   * are): code comparing two internalized strings for identity, which V8 does by reference when
   * only such strings reached the comparison, then needs no call comparing their characters (the
   * audit capture's witness rows, capture-buffer.ts `internedName`).
   */
  private name(value: string): string {
    const known = this.names.get(value);
    if (known !== undefined) return known;
    const interned = internalized(value);
    this.names.set(value, interned);
    return interned;
  }

  /** A frozen copy sharing its resource and subject objects: readers share it, nobody may change it. */
  private freeze(rel: Relationship, resource: ObjectRef): Relationship {
    const s = rel.subject;
    const key = `${s.type}${NUL}${s.id}${NUL}${s.relation ?? ""}`;
    let subject = this.subjects.get(key);
    if (subject === undefined) {
      // The id string the forward index keys the object by, when it has relationships itself: a
      // walk that goes from this subject to its relationships then finds the key by identity.
      const slot = this.forwardIndex.get(s.type)?.get(s.id);
      const id = slot === undefined ? s.id : resourceOf(slot).id;
      subject = Object.freeze(
        s.relation === undefined
          ? { type: this.name(s.type), id }
          : { type: this.name(s.type), id, relation: this.name(s.relation) },
      );
      this.subjects.set(key, subject);
    }
    const out: { -readonly [K in keyof Relationship]: Relationship[K] } = {
      resource,
      relation: this.name(rel.relation),
      subject,
    };
    if (rel.caveat !== undefined) out.caveat = rel.caveat;
    if (rel.expiration !== undefined) out.expiration = rel.expiration;
    return Object.freeze(out);
  }
}

/**
 * `value` as V8's internalized string of it: an object's property keys are internalized, so the key
 * read back is (an integer-like name is not, but is still equal to `value`, which is all a caller
 * may rely on).
 */
function internalized(value: string): string {
  return Object.keys({ [value]: true })[0] ?? value;
}

/**
 * Entries in the order they came, taken from the front a slice at a time (see `compact`): a head
 * index rather than a new array a slice, which for a revision of 200,000 entries allocated a
 * megabyte-sized array at every slice for the collector to find.
 */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  /** The `i`th entry from the front. */
  at(i: number): T | undefined {
    return this.items[this.head + i];
  }

  push(item: T): void {
    this.items.push(item);
  }

  /** Takes the first `n` entries off. */
  drop(n: number): void {
    this.head += n;
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 >= this.items.length) {
      // In place: what is left moves to the front once it is no more than what was taken.
      this.items.copyWithin(0, this.head);
      this.items.length -= this.head;
      this.head = 0;
    }
  }

  /** Keeps only the entries `keep` accepts. */
  retain(keep: (item: T) => boolean): void {
    this.items = this.items.slice(this.head).filter(keep);
    this.head = 0;
  }
}
