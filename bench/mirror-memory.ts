/**
 * Heap bytes per relationship of the in-memory copy's index, after loading a corpus scale.
 * Run: `node --expose-gc --import tsx bench/mirror-memory.ts [scale] [--pack-reverse]` (s, m or l;
 * default m). The corpus is dropped before measuring, so the strings the index keeps are counted,
 * the rest not.
 *
 * With `--pack-reverse`, then the heap once every reverse list the membership walk can read is
 * packed and kept (`RelationshipIndex.reverseRows`: each user's and each group's groups), as a
 * copy ends up holding them once every subject has been checked: the most that keeping them costs.
 */
import { RelationshipIndex } from "../src/store/mirror/relationship-index.js";
import { generateCorpus, SCALES, type Scale } from "./corpus.js";

const scale = (process.argv[2] ?? "m") as Scale;
const packReverse = process.argv.includes("--pack-reverse");
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with node --expose-gc");
gc();
const before = process.memoryUsage().heapUsed;
let relationships: readonly import("../src/core/index.js").Relationship[] | undefined =
  generateCorpus(scale).relationships;
const count = relationships.length;
const index = new RelationshipIndex();
const t0 = performance.now();
for (const rel of relationships) index.touch(rel, 0);
const ms = performance.now() - t0;
relationships = undefined;
gc();
gc();
const used = process.memoryUsage();
const bytes = used.heapUsed - before;
console.log(
  `scale ${scale}: ${count} relationships, loaded in ${(ms / 1000).toFixed(1)} s (loaded machine); ` +
    `index heap ${(bytes / 2 ** 20).toFixed(0)} MiB = ${(bytes / count).toFixed(0)} bytes/relationship; ` +
    `RSS ${(used.rss / 2 ** 20).toFixed(0)} MiB; live ${index.size}`,
);

if (packReverse) {
  const shape = SCALES[scale];
  const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  // The two kinds of subject the walk up a user's memberships asks about (membership-index.ts).
  const queries = [
    { subjectType: "user", subjectRelation: "", subjectIds: ids("u", shape.users) },
    { subjectType: "group", subjectRelation: "member", subjectIds: ids("g", shape.groups) },
  ];
  let lists = 0;
  for (const q of queries) {
    for (let at = 0; at < q.subjectIds.length; at += 1_000) {
      const subjectIds = q.subjectIds.slice(at, at + 1_000);
      lists += index.reverseRows(
        { ...q, subjectIds, resourceType: "group", relations: ["member"] },
        0,
        0,
      ).length;
    }
  }
  gc();
  gc();
  const packed = process.memoryUsage().heapUsed - before;
  console.log(
    `after packing ${lists} reverse lists (${index.reversePacks} kept): index heap ${(packed / 2 ** 20).toFixed(0)} MiB ` +
      `= ${(packed / count).toFixed(0)} bytes/relationship; +${((packed - bytes) / 2 ** 20).toFixed(1)} MiB ` +
      `(${((packed - bytes) / count).toFixed(1)} bytes/relationship, ${((packed - bytes) / Math.max(1, lists)).toFixed(0)} bytes a list)`,
  );
}
