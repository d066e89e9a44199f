/**
 * Heap bytes per relationship of the in-memory copy's index, after loading a corpus scale.
 * Run: `node --expose-gc --import tsx bench/mirror-memory.ts [scale]` (s, m or l; default m).
 * The corpus is dropped before measuring, so the strings the index keeps are counted, the rest not.
 */
import { RelationshipIndex } from "../src/store/mirror/relationship-index.js";
import { generateCorpus, type Scale } from "./corpus.js";

const scale = (process.argv[2] ?? "m") as Scale;
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
