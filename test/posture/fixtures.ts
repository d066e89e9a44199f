/**
 * The seeded posture scenario (schemas/posture.zed, schemas/posture.yaml): loaded into a store at
 * a first revision, with a scripted decision history; `growGrower` writes the second revision.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { parseRelationship } from "../../src/core/index.js";
import type { Engine } from "../../src/engine/index.js";
import { createEngine } from "../../src/engine/index.js";
import type { DecisionRecord, Store } from "../../src/store/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { parseRelationshipsBlock } from "../../src/validation/index.js";

export const SCHEMAS = join(import.meta.dirname, "../../schemas");
export const SCHEMA = readFileSync(join(SCHEMAS, "posture.zed"), "utf8");
export const CONFIG = readFileSync(join(SCHEMAS, "posture-config.yaml"), "utf8");
/** The report's clock: every planted expiration is a month after it, the decisions a few days before. */
export const NOW = new Date("2030-01-01T00:00:00Z");

export function scenarioRelationships() {
  const doc = parseYaml(readFileSync(join(SCHEMAS, "posture.yaml"), "utf8")) as { relationships: string };
  return parseRelationshipsBlock(doc.relationships);
}

/** What grower gains at the second revision (its owner reads d2 and d3 already). */
export const GROWTH = [
  "document:d2#agent_access@agent:grower[expiration:2030-02-01T00:00:00Z]",
  "document:d3#agent_access@agent:grower[expiration:2030-02-01T00:00:00Z]",
];

const decision = (
  over: Partial<DecisionRecord> & Pick<DecisionRecord, "subject" | "resource">,
): DecisionRecord => ({
  time: "2029-12-20T10:00:00.000Z",
  operation: "check",
  permission: "agent_read",
  answer: "ALLOWED",
  ...over,
});

/**
 * The decision history: every grant used as an ALLOWED decision's witness within the 30 days
 * before NOW, except agent:idle's, which only an older decision and a DENIED one name.
 */
export const HISTORY: readonly DecisionRecord[] = [
  decision({
    subject: "agent:clean",
    resource: "document:d1",
    witness: [
      "document:d1#agent_access@agent:clean[expiration:2030-02-01T00:00:00Z]",
      "document:d1#sensitivity@agent:*",
    ],
  }),
  decision({
    subject: "agent:orphan",
    resource: "document:d2",
    witness: ["document:d2#agent_access@agent:orphan[expiration:2030-02-01T00:00:00Z]"],
  }),
  decision({
    subject: "agent:ghostly",
    resource: "document:d2",
    witness: ["document:d2#agent_access@agent:ghostly[expiration:2030-02-01T00:00:00Z]"],
  }),
  decision({
    subject: "agent:stale",
    resource: "document:d3",
    witness: ["document:d3#agent_access@agent:stale[expiration:2030-02-01T00:00:00Z]"],
  }),
  decision({
    subject: "agent:forever",
    resource: "document:d4",
    witness: ["document:d4#agent_access@agent:forever"],
  }),
  decision({
    subject: "agent:wide",
    resource: "document:d6",
    witness: [
      "organization:acme#agent_access@agent:wide[expiration:2030-02-01T00:00:00Z]",
      "folder:f1#organization@organization:acme",
    ],
  }),
  decision({
    subject: "agent:grower",
    resource: "document:d1",
    witness: ["document:d1#agent_access@agent:grower[expiration:2030-02-01T00:00:00Z]"],
  }),
  decision({
    subject: "agent:grower",
    resource: "document:d2",
    time: "2029-12-28T10:00:00.000Z",
    witness: ["document:d2#agent_access@agent:grower[expiration:2030-02-01T00:00:00Z]"],
  }),
  decision({
    subject: "agent:grower",
    resource: "document:d3",
    time: "2029-12-28T10:00:00.000Z",
    witness: ["document:d3#agent_access@agent:grower[expiration:2030-02-01T00:00:00Z]"],
  }),
  // helper acts for clean, which acts for alice: a chain of two, over the limit of one.
  decision({
    subject: "agent:helper",
    onBehalfOf: ["agent:clean", "user:alice"],
    resource: "document:d1",
    witness: ["document:d1#agent_access@agent:helper[expiration:2030-02-01T00:00:00Z]"],
  }),
  // idle's grant: used, but before the window; named by a DENIED decision inside it (no witness counts).
  decision({
    subject: "agent:idle",
    resource: "document:d10",
    time: "2029-10-01T10:00:00.000Z",
    witness: ["document:d10#agent_access@agent:idle[expiration:2030-02-01T00:00:00Z]"],
  }),
  decision({
    subject: "agent:idle",
    resource: "document:d10",
    answer: "DENIED",
    witness: ["document:d10#agent_access@agent:idle[expiration:2030-02-01T00:00:00Z]"],
  }),
];

export interface Scenario {
  readonly store: Store;
  readonly engine: Engine;
  readonly first: bigint;
  close(): Promise<void>;
}

export async function openScenario(
  path: string,
  history: readonly DecisionRecord[] = HISTORY,
): Promise<Scenario> {
  return seedScenario(await createSqliteStore({ path }), history);
}

/** Loads the scenario into a fresh store of any backend. */
export async function seedScenario(
  store: Store,
  history: readonly DecisionRecord[] = HISTORY,
): Promise<Scenario> {
  await store.writeSchema(SCHEMA);
  const first = await store.write(
    scenarioRelationships().map((relationship) => ({ operation: "touch", relationship })),
  );
  if (history.length > 0) await store.decisions.append(history);
  const engine = createEngine({ store });
  return { store, engine, first, close: () => store.close() };
}

export async function growGrower(store: Store): Promise<bigint> {
  return store.write(GROWTH.map((r) => ({ operation: "touch", relationship: parseRelationship(r) })));
}
