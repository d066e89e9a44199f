/**
 * Picks benchmark inputs from a generated corpus by walking plain in-memory indexes, so every case
 * checks something whose answer is known to be of the intended kind (direct, via groups, via
 * folders, denied) without asking the engine under test.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Relationship } from "../src/core/index.js";
import type { RelationshipUpdate, Store } from "../src/store/index.js";
import { createMirroredStore, type MirroredStore } from "../src/store/mirror/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { type Corpus, createRandom, generateCorpus, type Scale } from "./corpus.js";

export interface CheckInput {
  readonly resource: { readonly type: string; readonly id: string };
  readonly permission: string;
  readonly subject: { readonly type: string; readonly id: string };
}

export interface Fixtures {
  readonly direct: readonly CheckInput[];
  readonly owner: readonly CheckInput[];
  readonly groupNested: readonly CheckInput[];
  readonly folderInherited: readonly CheckInput[];
  readonly folderAndGroup: readonly CheckInput[];
  readonly deniedRandom: readonly CheckInput[];
  /** A user with a typical number of viewable documents, and the one with the most groups. */
  readonly typicalUser: string;
  readonly heaviestUser: string;
  readonly documentIds: readonly string[];
}

const push = (map: Map<string, string[]>, key: string, value: string) => {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
};

const check = (doc: string, user: string, permission = "view"): CheckInput => ({
  resource: { type: "document", id: doc },
  permission,
  subject: { type: "user", id: user },
});

export function pickFixtures(corpus: Corpus, count = 2_000, seed = 7): Fixtures {
  const random = createRandom(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;

  const docViewerUsers = new Map<string, string[]>();
  const docViewerGroups = new Map<string, string[]>();
  const docOwner = new Map<string, string>();
  const docParent = new Map<string, string>();
  const folderOwner = new Map<string, string>();
  const folderParent = new Map<string, string>();
  const folderViewerGroups = new Map<string, string[]>();
  const groupUsers = new Map<string, string[]>();
  const groupChildren = new Map<string, string[]>();
  const userGroups = new Map<string, number>();

  for (const r of corpus.relationships as readonly Relationship[]) {
    const { resource, relation, subject } = r;
    if (resource.type === "document") {
      if (relation === "viewer" && subject.type === "user" && subject.id !== "*")
        push(docViewerUsers, resource.id, subject.id);
      else if (relation === "viewer" && subject.type === "group")
        push(docViewerGroups, resource.id, subject.id);
      else if (relation === "owner") docOwner.set(resource.id, subject.id);
      else if (relation === "parent") docParent.set(resource.id, subject.id);
    } else if (resource.type === "folder") {
      if (relation === "owner") folderOwner.set(resource.id, subject.id);
      else if (relation === "parent") folderParent.set(resource.id, subject.id);
      else if (relation === "viewer") push(folderViewerGroups, resource.id, subject.id);
    } else if (resource.type === "group" && relation === "member") {
      if (subject.type === "user") {
        push(groupUsers, resource.id, subject.id);
        userGroups.set(subject.id, (userGroups.get(subject.id) ?? 0) + 1);
      } else push(groupChildren, resource.id, subject.id);
    }
  }

  // A user of a child group reaches its ancestors: pick members two levels down when there are any.
  const deepMember = (group: string): string | undefined => {
    const children = groupChildren.get(group);
    if (children && children.length > 0) {
      const grandChildren = groupChildren.get(pick(children));
      const leaf = grandChildren && grandChildren.length > 0 ? pick(grandChildren) : pick(children);
      const users = groupUsers.get(leaf);
      if (users) return pick(users);
    }
    const users = groupUsers.get(group);
    return users ? pick(users) : undefined;
  };

  const docs = [...docParent.keys()];
  const users = [...new Set([...docOwner.values(), ...folderOwner.values()])];
  const direct: CheckInput[] = [];
  const owner: CheckInput[] = [];
  const groupNested: CheckInput[] = [];
  const folderInherited: CheckInput[] = [];
  const folderAndGroup: CheckInput[] = [];
  const deniedRandom: CheckInput[] = [];

  for (let attempts = 0; attempts < count * 50 && groupNested.length < count; attempts++) {
    const doc = pick(docs);
    const viewers = docViewerUsers.get(doc);
    if (viewers && direct.length < count) direct.push(check(doc, pick(viewers)));
    if (owner.length < count) owner.push(check(doc, docOwner.get(doc)!, "edit"));
    const groups = docViewerGroups.get(doc);
    if (groups) {
      const member = deepMember(pick(groups));
      if (member) groupNested.push(check(doc, member));
    }
  }
  for (let attempts = 0; attempts < count * 50 && folderAndGroup.length < count; attempts++) {
    const doc = pick(docs);
    // Walk up the folder tree: an ancestor's owner inherits view; an ancestor's viewer group too.
    let folder = docParent.get(doc);
    let hops = 0;
    while (folder !== undefined && hops < 3 && folderParent.has(folder)) {
      folder = folderParent.get(folder);
      hops++;
    }
    if (folder === undefined) continue;
    if (folderInherited.length < count) folderInherited.push(check(doc, folderOwner.get(folder)!));
    const viewerGroups = folderViewerGroups.get(folder);
    if (viewerGroups) {
      const member = deepMember(pick(viewerGroups));
      if (member) folderAndGroup.push(check(doc, member));
    }
  }
  while (deniedRandom.length < count)
    deniedRandom.push(check(pick(docs), `u${Math.floor(random() * corpus.shape.users)}`));

  const byGroups = [...userGroups.entries()].sort((a, b) => a[1] - b[1]);
  return {
    direct,
    owner,
    groupNested,
    folderInherited,
    folderAndGroup,
    deniedRandom,
    typicalUser: byGroups[Math.floor(byGroups.length / 2)]?.[0] ?? users[0]!,
    heaviestUser: byGroups[byGroups.length - 1]?.[0] ?? users[0]!,
    documentIds: docs,
  };
}

/** `count` checks cycling through the six kinds, each a random pick of its kind: the "mix". */
export function checkMix(fixtures: Fixtures, count: number, random: () => number): CheckInput[] {
  const kinds = [
    fixtures.direct,
    fixtures.owner,
    fixtures.groupNested,
    fixtures.folderInherited,
    fixtures.folderAndGroup,
    fixtures.deniedRandom,
  ].filter((list) => list.length > 0);
  return Array.from({ length: count }, (_, i) => {
    const list = kinds[i % kinds.length]!;
    return list[Math.floor(random() * list.length)]!;
  });
}

/** The mix's four kinds of question, in order: direct, group-nested, folder-inherited, denied-random. */
export function mixKinds(fixtures: Fixtures): CheckInput[] {
  return [...fixtures.direct, ...fixtures.groupNested, ...fixtures.folderInherited, ...fixtures.deniedRandom];
}

/**
 * The questions `check/mix` asks (bench/run.ts): `mixKinds` shuffled by a fixed seed, so every
 * bench that compares itself with `check/mix` asks the same.
 */
export function shuffledMix(fixtures: Fixtures): CheckInput[] {
  const mix = mixKinds(fixtures);
  const random = createRandom(11);
  for (let i = mix.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [mix[i], mix[j]] = [mix[j]!, mix[i]!];
  }
  return mix;
}

/** The in-memory copy over `store`, loaded, as `latch serve` reads. */
export async function loadedMirror(store: Store): Promise<MirroredStore> {
  const mirror = createMirroredStore(store);
  if (!(await mirror.ready())) throw new Error("the in-memory copy did not load");
  return mirror;
}

/**
 * The audit benches' setting: the corpus at `scale` imported into a SQLite file in a fresh folder
 * `dir` (the decision log the records go to; the caller removes it), the in-memory copy over it,
 * and the uncached mix of `perKind` questions of each kind (direct, group-nested, folder-inherited,
 * denied-random), in that order; `fixtures` are all the questions picked.
 */
export async function auditBenchSetting(scale: Scale, name: string, perKind = 250) {
  const corpus = generateCorpus(scale);
  const dir = mkdtempSync(join(tmpdir(), `latch-${name}-`));
  const sqlite = await createSqliteStore({ path: join(dir, "audit.db") });
  await sqlite.writeSchema(corpus.schema);
  await sqlite.importRelationships(corpus.relationships, { batchSize: 20_000 });
  const mirror = await loadedMirror(sqlite);
  const fx = pickFixtures(corpus, perKind);
  return { dir, sqlite, mirror, mix: mixKinds(fx), fixtures: fx };
}

/**
 * The store with its export replaced by the corpus: the copy loads without an import. The corpus
 * is let go once exported: held, it would triple the heap at scale `l` (1.4 GB against the copy's
 * 0.46), and the full collections of that heap would run inside the timed loop, which a server
 * (holding the copy alone) does not pay.
 */
export function corpusStore(
  inner: Store,
  corpus: { relationships: readonly Relationship[] | undefined },
): Store {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop !== "at") return Reflect.get(target, prop, receiver);
      return (revision: bigint) =>
        new Proxy(target.at(revision), {
          get(reader, p, r) {
            if (p !== "exportRelationships") return Reflect.get(reader, p, r);
            return async function* () {
              const relationships = corpus.relationships;
              if (relationships === undefined) throw new Error("the corpus was exported once already");
              corpus.relationships = undefined;
              yield* relationships;
            };
          },
        });
    },
  });
}

/**
 * The writes that make each question's subject delegate it to an agent of its own (`agent:a<i>`,
 * a viewer of the question's document), for check/delegated: the agent's grant and the link.
 */
export function agentDelegations(questions: readonly CheckInput[]): RelationshipUpdate[] {
  return questions.flatMap((q, i) => [
    {
      operation: "touch" as const,
      relationship: { resource: q.resource, relation: "viewer", subject: { type: "agent", id: `a${i}` } },
    },
    {
      operation: "touch" as const,
      relationship: {
        resource: { type: "user", id: q.subject.id },
        relation: "delegate_to",
        subject: { type: "agent", id: `a${i}` },
      },
    },
  ]);
}

/** Each question asked by its agent acting for the question's subject (see `agentDelegations`). */
export function delegatedQuestions(questions: readonly CheckInput[]) {
  return questions.map((q, i) => ({
    ...q,
    subject: { type: "agent", id: `a${i}` },
    onBehalfOf: [q.subject],
  }));
}

/** The posture configuration of the benches that report on the corpus's agents (`generateCorpus(scale, { agents })`). */
export const POSTURE_BENCH_CONFIG = `identities:
  agent: { owner: owner }
reach: [document#view, folder#view]
owner_access: { document: view, folder: view }
delegation: { relations: [user#delegate_to], scope_caveats: [], max_chain: 1 }
thresholds: { overbroad_share: 0.01, max_grant_days: 90, unused_days: 30, drift_share: 0.25 }
`;
