/**
 * Random write histories for WatchPermissions: a small schema with unions, intersections,
 * exclusions, arrows, subject sets, a wildcard, a caveat and delegation; random relationship
 * writes (and one schema change) through one store while subscriptions stream from another (or
 * the same) store; then every set a stream reported as SYNCED is compared with LookupResources at
 * that revision.
 */
import fc from "fast-check";
import { expect } from "vitest";
import { parseRelationship, type Relationship, type SubjectRef } from "../../../src/core/index.js";
import type { OpenedLatch } from "../../../src/open/index.js";
import type { PermissionEvent, WatchPermissionsRequest } from "../../../src/service/index.js";
import type { RelationshipUpdate, Store } from "../../../src/store/index.js";

const BODY = (read: string) => `caveat flag(on bool) { on }
definition agent {}
definition user {
  relation delegates: agent
  permission delegate = delegates
}
definition group { relation member: user | agent | group#member }
definition folder {
  relation parent: folder
  relation viewer: user | agent | group#member
  permission view = viewer + parent->view
}
definition document {
  relation folder: folder
  relation viewer: user | agent | group#member | user:* | user with flag
  relation editor: user | agent
  relation banned: user | group#member
  relation approved: user | agent | group#member
  permission read = ${read}
  permission edit = editor & approved
}`;

export const SCHEMA = BODY("(viewer + editor + folder->view) - banned");
/** The same relations, another meaning: a schema change the streams must follow. */
export const SCHEMA_2 = BODY("(viewer + folder->view) - banned");

const USERS = ["user:u1", "user:u2", "user:u3"];
const SUBJECTS = [...USERS, "agent:a1", "group:g1#member", "group:g2#member"];
const DOCS = ["d1", "d2", "d3", "d4", "d5"];
const FOLDERS = ["f1", "f2", "f3"];

/** Every relationship a history may touch or delete (acyclic: parents and nested groups go "up"). */
function universe(): string[] {
  const out: string[] = [];
  for (const d of DOCS) {
    for (const s of SUBJECTS) {
      out.push(`document:${d}#viewer@${s}`);
      if (!s.startsWith("group")) out.push(`document:${d}#approved@${s}`);
      if (s.startsWith("user") || s.startsWith("agent")) out.push(`document:${d}#editor@${s}`);
      if (!s.startsWith("agent")) out.push(`document:${d}#banned@${s}`);
    }
    out.push(`document:${d}#viewer@user:*`);
    for (const f of FOLDERS) out.push(`document:${d}#folder@folder:${f}`);
  }
  for (const [i, f] of FOLDERS.entries()) {
    for (const s of SUBJECTS) out.push(`folder:${f}#viewer@${s}`);
    for (const p of FOLDERS.slice(i + 1)) out.push(`folder:${f}#parent@folder:${p}`);
  }
  out.push("group:g1#member@group:g2#member", "group:g2#member@user:u2", "group:g1#member@user:u1");
  out.push("group:g2#member@agent:a1", "group:g1#member@user:u3");
  out.push("user:u1#delegates@agent:a1", "user:u2#delegates@agent:a1");
  return out;
}

const UNIVERSE = universe();
const CAVEATS = ["", '[flag:{"on":true}]', '[flag:{"on":false}]', "[flag]"];

/** Written often, so that the delegated subscription's set is seldom empty and its link changes. */
const HOT = [
  "user:u1#delegates@agent:a1",
  "document:d1#viewer@agent:a1",
  "document:d2#viewer@group:g2#member",
  "document:d1#viewer@user:u1",
  "folder:f1#viewer@group:g1#member",
  "document:d2#folder@folder:f1",
];

const updateArb: fc.Arbitrary<RelationshipUpdate> = fc
  .record({
    text: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...UNIVERSE) },
      { weight: 1, arbitrary: fc.constantFrom(...HOT) },
    ),
    op: fc.constantFrom("touch", "touch", "delete"),
    caveat: fc.constantFrom(...CAVEATS),
  })
  .map(({ text, op, caveat }) => {
    const caveated = caveat !== "" && /^document:d\d#viewer@user:u\d$/.test(text) ? text + caveat : text;
    return { operation: op as "touch" | "delete", relationship: parseRelationship(caveated) };
  });

/** One write (or a schema change); `settle`: wait for the streams to reach it before the next. */
export type HistoryStep = (
  | { readonly kind: "write"; readonly updates: RelationshipUpdate[] }
  | { readonly kind: "schema" }
) & { readonly settle: boolean };

export interface History {
  /** Written before the streams start: their first sets are not empty. */
  readonly initial: RelationshipUpdate[];
  readonly steps: HistoryStep[];
}

const stepArb: fc.Arbitrary<HistoryStep> = fc.oneof(
  {
    weight: 20,
    arbitrary: fc
      .record({ updates: fc.array(updateArb, { minLength: 1, maxLength: 3 }), settle: fc.boolean() })
      .map(({ updates, settle }) => ({ kind: "write" as const, updates, settle })),
  },
  { weight: 1, arbitrary: fc.boolean().map((settle) => ({ kind: "schema" as const, settle })) },
);

export const historyArb: fc.Arbitrary<History> = fc.record({
  initial: fc.array(updateArb, { maxLength: 40 }),
  steps: fc.array(stepArb, { minLength: 1, maxLength: 25 }),
});

const subject = (text: string): SubjectRef => {
  const [obj, relation] = text.split("#") as [string, string | undefined];
  const [type, id] = obj.split(":") as [string, string];
  return relation === undefined ? { type, id } : { type, id, relation };
};

export const REQUESTS: readonly WatchPermissionsRequest[] = [
  { resourceType: "document", permission: "read", subject: subject("user:u1"), checkpoints: true },
  { resourceType: "document", permission: "read", subject: subject("user:u2"), checkpoints: true },
  { resourceType: "document", permission: "edit", subject: subject("user:u3"), checkpoints: true },
  { resourceType: "document", permission: "read", subject: subject("group:g2#member"), checkpoints: true },
  { resourceType: "folder", permission: "view", subject: subject("user:u2"), checkpoints: true },
  {
    resourceType: "document",
    permission: "read",
    subject: subject("agent:a1"),
    onBehalfOf: [subject("user:u1")],
    checkpoints: true,
  },
];

type Entry = string; // `id=STATE[missing]`

/** What one stream showed: the set at each SYNCED. */
export interface Recorded {
  readonly synced: { revision: bigint; token: string; set: Entry[] }[];
  events: number;
}

/** Applies one stream's events to a set and records it at every SYNCED. */
export function record(events: AsyncIterable<PermissionEvent>, into: Recorded): Promise<void> {
  const set = new Map<string, string>();
  return (async () => {
    for await (const e of events) {
      into.events++;
      if (e.kind === "RESYNC") set.clear();
      else if (e.kind === "REMOVED") set.delete(e.resourceId);
      else if (e.kind === "ADDED") set.set(e.resourceId, "ALLOWED");
      else if (e.kind === "CONDITIONAL") set.set(e.resourceId, `CONDITIONAL[${e.missing.join(",")}]`);
      else
        into.synced.push({
          revision: e.revision,
          token: e.token,
          set: [...set].map(([k, v]) => `${k}=${v}`).sort(),
        });
    }
  })();
}

export async function lookupSet(
  latch: OpenedLatch,
  request: WatchPermissionsRequest,
  token: string,
): Promise<Entry[]> {
  const out: Entry[] = [];
  const { checkpoints: _, ...rest } = request;
  for await (const r of latch.decider.lookupResources({
    ...rest,
    consistency: { kind: "at-exact-snapshot", token },
  })) {
    out.push(`${r.resourceId}=${r.state === "ALLOWED" ? "ALLOWED" : `CONDITIONAL[${r.missing.join(",")}]`}`);
  }
  return out.sort();
}

/**
 * Runs a history: writes through `writer`, streams from `watcher` (the same or another replica),
 * then checks every reported set. Returns how many sets were compared.
 */
export async function runHistory(
  writer: Store,
  watcher: OpenedLatch,
  history: History,
  /** Given what every stream showed (in REQUESTS order), once the history is written. */
  keep?: (recorded: readonly Recorded[]) => void,
): Promise<number> {
  const initial = dedupe(history.initial.filter((u) => u.operation === "touch"));
  if (initial.length > 0) await writer.write(initial);
  const controller = new AbortController();
  const recorded = REQUESTS.map(() => ({ synced: [], events: 0 }) as Recorded);
  const streams = REQUESTS.map((request, i) =>
    record(watcher.permissions.watch(request, { signal: controller.signal }), recorded[i]!),
  );
  let last = await writer.currentRevision();
  let schema2 = false;
  // Checkpoints arrive for every revision the feed reaches: wait until every stream saw `revision`.
  const reach = async (revision: bigint) => {
    const deadline = Date.now() + 60_000;
    while (recorded.some((r) => (r.synced.at(-1)?.revision ?? -1n) < revision)) {
      if (Date.now() > deadline) throw new Error(`the streams never reached revision ${revision}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  try {
    for (const step of history.steps) {
      if (step.kind === "schema") {
        schema2 = !schema2;
        last = await writer.writeSchema(schema2 ? SCHEMA_2 : SCHEMA);
      } else {
        last = await writer.write(dedupe(step.updates));
      }
      if (step.settle) await reach(last);
    }
    await reach(last);
  } finally {
    controller.abort();
    await Promise.all(streams);
  }
  keep?.(recorded);
  let compared = 0;
  for (const [i, request] of REQUESTS.entries()) {
    const seen = new Set<string>();
    for (const s of recorded[i]!.synced) {
      const key = `${s.revision} ${s.set.join(" ")}`;
      if (seen.has(key)) continue;
      seen.add(key);
      expect(s.set, `${JSON.stringify(request)} at revision ${s.revision}`).toEqual(
        await lookupSet(watcher, request, s.token),
      );
      compared++;
    }
  }
  return compared;
}

/** A write may not name one relationship twice. */
function dedupe(updates: readonly RelationshipUpdate[]): RelationshipUpdate[] {
  const byKey = new Map<string, RelationshipUpdate>();
  for (const u of updates) {
    const r: Relationship = u.relationship;
    byKey.set(
      `${r.resource.type}:${r.resource.id}#${r.relation}@${r.subject.type}:${r.subject.id}#${r.subject.relation ?? ""}`,
      u,
    );
  }
  return [...byKey.values()];
}
