/**
 * Would a packed layout (ids interned to integers once, rows in typed arrays) make Check's memory
 * reads cost the same at scale `l` as at `m`? A probe, not the engine: it walks the shape of a
 * denied `document#view` check (each object's rows scanned for the subject, `parent` followed up to
 * the root folder, as `viewer + owner + parent->view` does) over layouts of the same corpus:
 *
 * - objects: the in-memory copy's own index (RelationshipIndex, string-keyed maps, Relationship
 *   objects), read through `relationshipsOf` as the synchronous walk reads it;
 * - packed: per type, a map from id to an integer (asked once, for the document the check names),
 *   then per object a range of an Int32Array (CSR) of (relation, subject type, subject) integers,
 *   followed by integer, with no hash lookup and no object per row;
 * - packed with the ids interned beforehand: the same walk without the check's two string-keyed
 *   lookups (document and user), to tell what those cost.
 *
 * The layouts alternate round by round in one process, the corpus collected before the first;
 * time is CPU time of this process (`process.cpuUsage`), per object read. Run each scale in its own
 * process and compare: `npx tsx bench/packed-layout-probe.ts m` and `... l`.
 */
import "../src/cli/v8-flags.js";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { Relationship } from "../src/core/index.js";
import { RelationshipIndex } from "../src/store/mirror/relationship-index.js";
import { createRandom, generateCorpus, type Scale } from "./corpus.js";

const scale = (process.argv[2] ?? "m") as Scale;
const WALKS = 100_000;
const ROUNDS = 5;

interface Packed {
  readonly typeIds: Map<string, number>;
  readonly relIds: Map<string, number>;
  /** Per type: id -> object number. */
  readonly nodes: Map<string, number>[];
  /** Per type: row range of object n is [start[n], start[n + 1]) (in rows of 3 ints). */
  readonly start: Int32Array[];
  readonly rows: Int32Array[];
}

function intern(map: Map<string, number>, key: string): number {
  let n = map.get(key);
  if (n === undefined) {
    n = map.size;
    map.set(key, n);
  }
  return n;
}

function pack(rels: readonly Relationship[]): Packed {
  const typeIds = new Map<string, number>();
  const relIds = new Map<string, number>();
  const nodes: Map<string, number>[] = [];
  const nodeOf = (type: string, id: string) => {
    const t = intern(typeIds, type);
    nodes[t] ??= new Map();
    return intern(nodes[t]!, id);
  };
  for (const r of rels) {
    nodeOf(r.resource.type, r.resource.id);
    nodeOf(r.subject.type, r.subject.id);
    intern(relIds, r.relation);
  }
  const counts = nodes.map((m) => new Int32Array(m.size + 1));
  for (const r of rels) {
    const t = typeIds.get(r.resource.type)!;
    counts[t]![nodes[t]!.get(r.resource.id)! + 1]!++;
  }
  const start = counts.map((c) => {
    for (let i = 1; i < c.length; i++) c[i]! += c[i - 1]!;
    return c;
  });
  const rows = start.map((s) => new Int32Array(3 * s[s.length - 1]!));
  const fill = start.map((s) => s.slice());
  for (const r of rels) {
    const t = typeIds.get(r.resource.type)!;
    const at = fill[t]![nodes[t]!.get(r.resource.id)!]!++;
    const out = rows[t]!;
    out[3 * at] = relIds.get(r.relation)!;
    out[3 * at + 1] = typeIds.get(r.subject.type)!;
    out[3 * at + 2] = nodes[typeIds.get(r.subject.type)!]!.get(r.subject.id)!;
  }
  return { typeIds, relIds, nodes, start, rows };
}

/** Objects read walking up from `doc` looking for `user` (a denied check reads them all). */
function walkObjects(index: RelationshipIndex, doc: string, user: string, now: number): number {
  let type = "document";
  let id: string | undefined = doc;
  let reads = 0;
  while (id !== undefined) {
    const rows = index.relationshipsOf(type, id, 0, now);
    reads++;
    id = undefined;
    for (const r of rows) {
      const s = r.subject;
      if (r.relation === "parent") id = s.id;
      else if (s.relation === undefined && s.type === "user" && s.id === user) return -reads;
    }
    type = "folder";
  }
  return reads;
}

function walkPacked(p: Packed, docNode: number, userNode: number, k: PackedKeys): number {
  let t = k.document;
  let n = docNode;
  let reads = 0;
  while (n >= 0) {
    const start = p.start[t]!;
    const rows = p.rows[t]!;
    reads++;
    let next = -1;
    for (let i = start[n]!, end = start[n + 1]!; i < end; i++) {
      const rel = rows[3 * i]!;
      if (rel === k.parent) next = rows[3 * i + 2]!;
      else if (rows[3 * i + 1] === k.user && rows[3 * i + 2] === userNode) return -reads;
    }
    n = next;
    t = k.folder;
  }
  return reads;
}

interface PackedKeys {
  readonly document: number;
  readonly folder: number;
  readonly user: number;
  readonly parent: number;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** A full collection (the corpus is garbage by then), so that none runs inside the timed rounds. */
function fullGc(): void {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
}

function main() {
  const corpus = generateCorpus(scale);
  const index = new RelationshipIndex();
  for (const rel of corpus.relationships) index.touch(rel, 0);
  const packed = pack(corpus.relationships);
  const shape = corpus.shape;
  const count = corpus.relationships.length;
  (corpus as { relationships?: unknown }).relationships = undefined;
  fullGc();
  const k: PackedKeys = {
    document: packed.typeIds.get("document")!,
    folder: packed.typeIds.get("folder")!,
    user: packed.typeIds.get("user")!,
    parent: packed.relIds.get("parent")!,
  };
  const random = createRandom(7);
  const docs: string[] = [];
  const users: string[] = [];
  for (let i = 0; i < WALKS; i++) {
    // Fresh strings, as a request's ids are: the lookup compares them by content.
    docs.push(`d${Math.floor(random() * shape.documents)}`);
    users.push(`u${Math.floor(random() * shape.users)}`);
  }
  const now = Date.now();
  const docMap = packed.nodes[k.document]!;
  const userMap = packed.nodes[k.user]!;
  // The third layout's ids, interned before timing: what the packed walk costs without the two
  // string-keyed lookups a check starts with.
  const docNodes = docs.map((d) => docMap.get(d) ?? -1);
  const userNodes = users.map((u) => userMap.get(u) ?? -2);
  const obj: number[] = [];
  const pck: number[] = [];
  const ints: number[] = [];
  let reads = 0;
  for (let round = 0; round <= ROUNDS; round++) {
    let t0 = cpuMs();
    let objReads = 0;
    for (let i = 0; i < WALKS; i++) objReads += Math.abs(walkObjects(index, docs[i]!, users[i]!, now));
    const a = cpuMs() - t0;
    t0 = cpuMs();
    let packedReads = 0;
    for (let i = 0; i < WALKS; i++) {
      // The check's two ids are interned once, at its start.
      const d = docMap.get(docs[i]!) ?? -1;
      const u = userMap.get(users[i]!) ?? -2;
      if (d >= 0) packedReads += Math.abs(walkPacked(packed, d, u, k));
    }
    const b = cpuMs() - t0;
    t0 = cpuMs();
    let intReads = 0;
    for (let i = 0; i < WALKS; i++) {
      const d = docNodes[i]!;
      if (d >= 0) intReads += Math.abs(walkPacked(packed, d, userNodes[i]!, k));
    }
    const c = cpuMs() - t0;
    if (objReads !== packedReads || intReads !== packedReads) {
      throw new Error(`layouts disagree: ${objReads}, ${packedReads}, ${intReads}`);
    }
    reads = objReads;
    if (round === 0) continue; // warm-up
    obj.push((a * 1e6) / objReads);
    pck.push((b * 1e6) / packedReads);
    ints.push((c * 1e6) / intReads);
  }
  const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  console.log(
    `scale ${scale}: ${count} relationships, ${(reads / WALKS).toFixed(1)} objects read per walk; ` +
      `CPU ns per object read, median of ${ROUNDS} rounds: objects ${med(obj).toFixed(0)} [${obj.map((x) => x.toFixed(0)).join(" ")}], ` +
      `packed ${med(pck).toFixed(0)} [${pck.map((x) => x.toFixed(0)).join(" ")}], ` +
      `packed with ids interned beforehand ${med(ints).toFixed(0)} [${ints.map((x) => x.toFixed(0)).join(" ")}]`,
  );
}

main();
