/**
 * Relationships held in memory, versioned like the rows of the SQL backends: each entry knows the
 * revision that created it and the one that deleted it, so a read at revision R sees exactly the
 * relationships visible at R, while newer changes are already applied. Two hash indexes answer the
 * engine's two hot queries without a scan: forward (resource type, then id) and reverse (subject
 * type, subject relation and resource type, then subject id). Entries are shared by both indexes and
 * hand out the same frozen Relationship objects on every read: nothing is allocated per row read.
 *
 * Deleted entries stay until `compact` drops those no reader may still see (older than the floor).
 */
import type { ObjectRef, Relationship, SubjectRef } from "../../core/index.js";
import type { ForwardQuery, ReverseQuery } from "../types.js";

interface Entry {
  readonly rel: Relationship;
  /** The relationship's relation, kept here too: filtering by it then reads no other object. */
  readonly relation: string;
  readonly created: number;
  /** The revision that deleted (or replaced) it; Infinity while it lives. */
  deleted: number;
  /** Expiration in ms since the epoch; Infinity when none. */
  readonly expires: number;
}

/** One resource's entries; `live` (identity -> entry) is built once the list is long. */
interface Bucket {
  readonly id: string;
  /** Shared by every relationship of this resource. */
  readonly resource: ObjectRef;
  entries: Entry[];
  live: Map<string, Entry> | undefined;
  /** The newest revision that added an entry. */
  newest: number;
  /**
   * Every entry's relationship, kept while none is deleted or expiring: then it is the answer of
   * `relationshipsOf` at any revision from `newest` on, handed out without copying.
   */
  rows: readonly Relationship[] | undefined;
}

/** Above this many entries a bucket keeps a map of its live entries, so a change finds its row fast. */
const LIVE_MAP_AT = 16;

const NUL = "\u0000";

const NONE: readonly Relationship[] = Object.freeze([]);

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

/** An entry as a reader at `revision` sees it: created by then, not yet deleted, not expired. */
function visibleAt(e: Entry, revision: number, now: number): boolean {
  return e.created <= revision && e.deleted > revision && e.expires > now;
}

function reverseKey(subjectType: string, subjectRelation: string, resourceType: string): string {
  return `${subjectType}${NUL}${subjectRelation}${NUL}${resourceType}`;
}

export class RelationshipIndex {
  private readonly forwardIndex = new Map<string, Map<string, Bucket>>();
  private readonly reverseIndex = new Map<string, Map<string, Entry[]>>();
  /** Deleted entries in deletion order, waiting for `compact`. */
  private dead: Entry[] = [];
  private liveCount = 0;
  /** Interned type, relation and subject-relation names: few distinct values, many rows. */
  private readonly names = new Map<string, string>();
  /**
   * One object per distinct subject, shared by all its relationships: fewer objects make every
   * garbage collection of a large copy cheaper. Never pruned; there are far fewer subjects than rows.
   */
  private readonly subjects = new Map<string, SubjectRef>();

  /** Live relationships. */
  get size(): number {
    return this.liveCount;
  }

  /** Applies a TOUCH at `revision`: replaces the live entry of the same identity, if any. */
  touch(rel: Relationship, revision: number): void {
    const bucket = this.bucketOf(rel, true)!;
    const previous = this.findLive(bucket, rel);
    if (previous !== undefined) this.kill(bucket, previous, revision);
    const frozen = this.freeze(rel, bucket.resource);
    const entry: Entry = {
      rel: frozen,
      relation: frozen.relation,
      created: revision,
      deleted: Number.POSITIVE_INFINITY,
      expires: rel.expiration === undefined ? Number.POSITIVE_INFINITY : rel.expiration.getTime(),
    };
    bucket.entries.push(entry);
    bucket.rows = undefined;
    if (revision > bucket.newest) bucket.newest = revision;
    if (bucket.live !== undefined) bucket.live.set(identity(rel), entry);
    else if (bucket.entries.length > LIVE_MAP_AT) {
      bucket.live = new Map();
      for (const e of bucket.entries)
        if (e.deleted === Number.POSITIVE_INFINITY) bucket.live.set(identity(e.rel), e);
    }
    const s = entry.rel.subject;
    const key = reverseKey(s.type, s.relation ?? "", entry.rel.resource.type);
    let bySubject = this.reverseIndex.get(key);
    if (bySubject === undefined) {
      bySubject = new Map();
      this.reverseIndex.set(key, bySubject);
    }
    const list = bySubject.get(s.id);
    if (list === undefined) bySubject.set(s.id, [entry]);
    else list.push(entry);
    this.liveCount++;
  }

  /** Applies a DELETE at `revision`; deleting what does not exist is not an error (as in SQL). */
  delete(rel: Relationship, revision: number): void {
    const bucket = this.bucketOf(rel, false);
    if (bucket === undefined) return;
    const previous = this.findLive(bucket, rel);
    if (previous !== undefined) this.kill(bucket, previous, revision);
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
      const bucket = byId.get(id);
      if (bucket === undefined) continue;
      for (const e of bucket.entries) {
        if (single !== undefined ? e.relation !== single : !relations.includes(e.relation)) continue;
        if (!visibleAt(e, revision, now)) continue;
        const r = e.rel;
        if (subjectType !== undefined && r.subject.type !== subjectType) continue;
        if (subjectRelation !== undefined && (r.subject.relation ?? "") !== subjectRelation) continue;
        if (subjectIds !== undefined && !subjectIds.has(r.subject.id)) continue;
        out.push(r);
      }
    }
    return out;
  }

  /** Every relationship of one object visible at `revision` (the synchronous walk's one read). */
  relationshipsOf(resourceType: string, id: string, revision: number, now: number): readonly Relationship[] {
    const bucket = this.forwardIndex.get(resourceType)?.get(id);
    if (bucket === undefined) return NONE;
    if (bucket.rows !== undefined && bucket.newest <= revision) return bucket.rows;
    const out: Relationship[] = [];
    let plain = bucket.newest <= revision;
    for (const e of bucket.entries) {
      if (e.deleted !== Number.POSITIVE_INFINITY || e.expires !== Number.POSITIVE_INFINITY) plain = false;
      if (!visibleAt(e, revision, now)) continue;
      out.push(e.rel);
    }
    if (plain) bucket.rows = Object.freeze(out);
    return out;
  }

  reverse(query: ReverseQuery, revision: number, now: number): Relationship[] {
    const out: Relationship[] = [];
    const subjectRelation = query.subjectRelation === "..." ? "" : query.subjectRelation;
    const bySubject = this.reverseIndex.get(
      reverseKey(query.subjectType, subjectRelation, query.resourceType),
    );
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
      for (const e of list) {
        if (single !== undefined ? e.relation !== single : !relations.includes(e.relation)) continue;
        if (!visibleAt(e, revision, now)) continue;
        out.push(e.rel);
      }
    }
    return out;
  }

  /**
   * Drops entries deleted at or before `floor`: no reader at `floor` or later can see them.
   * Each affected list is rebuilt once, whatever the number of its dead entries.
   */
  compact(floor: number): void {
    let n = 0;
    while (n < this.dead.length && this.dead[n]!.deleted <= floor) n++;
    if (n === 0) return;
    const gone = new Set(this.dead.slice(0, n));
    this.dead = this.dead.slice(n);
    // Every touched list is filtered once, however many of its entries are gone.
    const buckets = new Map<Bucket, Map<string, Bucket>>();
    const lists = new Map<string, { map: Map<string, Entry[]>; id: string }>();
    for (const e of gone) {
      const r = e.rel;
      const byId = this.forwardIndex.get(r.resource.type);
      const bucket = byId?.get(r.resource.id);
      if (bucket !== undefined) buckets.set(bucket, byId!);
      const s = r.subject;
      const rk = reverseKey(s.type, s.relation ?? "", r.resource.type);
      const map = this.reverseIndex.get(rk);
      if (map !== undefined) lists.set(`${rk}${NUL}${s.id}`, { map, id: s.id });
    }
    for (const [bucket, byId] of buckets) {
      bucket.entries = bucket.entries.filter((x) => !gone.has(x));
      if (bucket.entries.length === 0) byId.delete(bucket.id);
    }
    for (const { map, id } of lists.values()) {
      const list = map.get(id);
      if (list === undefined) continue;
      const kept = list.filter((x) => !gone.has(x));
      if (kept.length === 0) map.delete(id);
      else map.set(id, kept);
    }
  }

  private bucketOf(rel: Relationship, create: boolean): Bucket | undefined {
    let byId = this.forwardIndex.get(rel.resource.type);
    if (byId === undefined) {
      if (!create) return undefined;
      byId = new Map();
      this.forwardIndex.set(this.name(rel.resource.type), byId);
    }
    let bucket = byId.get(rel.resource.id);
    if (bucket === undefined && create) {
      const resource = Object.freeze({ type: this.name(rel.resource.type), id: rel.resource.id });
      bucket = { id: rel.resource.id, resource, entries: [], live: undefined, newest: 0, rows: undefined };
      byId.set(rel.resource.id, bucket);
    }
    return bucket;
  }

  private findLive(bucket: Bucket, rel: Relationship): Entry | undefined {
    if (bucket.live !== undefined) return bucket.live.get(identity(rel));
    for (const e of bucket.entries) {
      if (e.deleted === Number.POSITIVE_INFINITY && sameIdentity(e.rel, rel)) return e;
    }
    return undefined;
  }

  private kill(bucket: Bucket, entry: Entry, revision: number): void {
    entry.deleted = revision;
    bucket.rows = undefined;
    bucket.live?.delete(identity(entry.rel));
    this.dead.push(entry);
    this.liveCount--;
  }

  private name(value: string): string {
    const known = this.names.get(value);
    if (known !== undefined) return known;
    this.names.set(value, value);
    return value;
  }

  /** A frozen copy sharing its resource and subject objects: readers share it, nobody may change it. */
  private freeze(rel: Relationship, resource: ObjectRef): Relationship {
    const s = rel.subject;
    const key = `${s.type}${NUL}${s.id}${NUL}${s.relation ?? ""}`;
    let subject = this.subjects.get(key);
    if (subject === undefined) {
      subject = Object.freeze(
        s.relation === undefined
          ? { type: this.name(s.type), id: s.id }
          : { type: this.name(s.type), id: s.id, relation: this.name(s.relation) },
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
