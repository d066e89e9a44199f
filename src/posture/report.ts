/**
 * `createPostureReport`: one report at one revision. It reads the relationships once (inventory),
 * computes reach with the engine (reach.ts), asks the engine in bulk whether owners still have
 * the access their identities were granted, reads the decision log over the unused window, and
 * compares with the previous kept report (drift); then the findings (findings.ts) and, when asked,
 * keeps the report with its revision for the next run.
 *
 * Every pass here grows with the stored data (relationships, identities, decisions) and the store's
 * reads answer without a macrotask, so one pacer (engine/pacer.ts) paces them all: a report yields
 * to the event loop every few milliseconds, as CheckBulk does, and stops once its call is aborted.
 */
import { LatchError, type Relationship, type Revision } from "../core/index.js";
import {
  type Cancellation,
  type CheckBulkItem,
  createPacer,
  type Engine,
  type Pacer,
} from "../engine/index.js";
import { compileSchema } from "../schema/index.js";
import type { Store } from "../store/index.js";
import { configToJson, type PostureConfig, parsePostureConfig } from "./config.js";
import {
  driftFindings,
  nonExpiringFinding,
  orphanFinding,
  overBroadFinding,
  ownerLostAccessFinding,
  riskyDelegationFinding,
  unusedFinding,
} from "./findings.js";
import { type IdentityFacts, type Inventory, readInventory } from "./inventory.js";
import { computeReach, type ReachStats, type ReachTable } from "./reach.js";
import {
  type DriftEntry,
  FINDING_KINDS,
  type Finding,
  type FindingKind,
  type IdentityEntry,
  type PostureReport,
  REPORT_FORMAT,
  SEVERITIES,
  type Severity,
} from "./types.js";

export interface PostureOptions {
  readonly store: Store;
  readonly engine: Engine;
  /** The configuration's YAML text; the defaults (fit for schemas/rag.zed) when absent. */
  readonly config?: string | undefined;
  /** The revision to report at; the current one when absent. */
  readonly revision?: Revision | undefined;
  /** The clock: windows and expirations are measured from it. */
  readonly now?: Date | undefined;
  /**
   * Whether a subject (`user:alice`) is suspended: the hook for signals (suspensions). Without
   * it, owners count as active unless deleted.
   */
  readonly isSuspended?: ((subject: string) => boolean | Promise<boolean>) | undefined;
  /** Keep the report with its revision, for a later report's drift. */
  readonly save?: boolean | undefined;
  /** Reverse walks in flight at once (default 4). */
  readonly concurrency?: number | undefined;
  /** The call's: once aborted, the report stops at its next yield with `request/deadline-exceeded`. */
  readonly signal?: Cancellation | undefined;
}

export interface PostureResult {
  readonly report: PostureReport;
  readonly stats: ReachStats & {
    readonly savedId?: number;
    /** Milliseconds per phase, for benchmarks: inventory, reach, owners, decisions, drift. */
    readonly phases: Readonly<Record<string, number>>;
  };
}

const DAY_MS = 86_400_000;
const BULK = 500;

interface Denied {
  readonly grant: Relationship;
  readonly owner: string;
  readonly permission: string;
}

/** Grants whose owner lacks `ownerAccess` on the granted object, asked in bulk. */
async function ownerDenials(
  engine: Engine,
  token: string,
  config: PostureConfig,
  identities: Iterable<IdentityFacts>,
  pacer: Pacer,
  signal: Cancellation | undefined,
): Promise<Map<string, Denied[]>> {
  const asks: { key: string; denied: Denied; item: CheckBulkItem }[] = [];
  for (const f of identities) {
    for (const grant of f.grants) {
      if (pacer.due()) await pacer.pause();
      const permission = config.ownerAccess.get(grant.resource.type);
      if (permission === undefined) continue;
      for (const o of f.owners) {
        const owner = `${o.subject.type}:${o.subject.id}`;
        asks.push({
          key: f.key,
          denied: { grant, owner, permission },
          item: { resource: grant.resource, permission, subject: o.subject },
        });
      }
    }
  }
  const out = new Map<string, Denied[]>();
  for (let i = 0; i < asks.length; i += BULK) {
    const chunk = asks.slice(i, i + BULK);
    const result = await engine.checkBulk(
      { items: chunk.map((a) => a.item), consistency: { kind: "at-exact-snapshot", token } },
      signal === undefined ? undefined : { signal },
    );
    result.results.forEach((r, j) => {
      // CONDITIONAL: the owner may still have it, depending on context: not a finding.
      if (!r.ok || r.state !== "DENIED") return;
      const a = chunk[j]!;
      const list = out.get(a.key);
      if (list === undefined) out.set(a.key, [a.denied]);
      else list.push(a.denied);
    });
  }
  return out;
}

/** The witnesses of ALLOWED decisions in the window, and the decisions with too long a chain. */
async function readDecisions(
  store: Store,
  since: Date,
  maxChain: number,
  identities: ReadonlyMap<string, IdentityFacts>,
  pacer: Pacer,
): Promise<{ witnesses: Set<string>; longChains: Map<string, string[]> }> {
  const witnesses = new Set<string>();
  const longChains = new Map<string, string[]>();
  let afterSeq: number | undefined;
  for (;;) {
    const page = await store.decisions.read({
      since,
      limit: 1_000,
      ...(afterSeq === undefined ? {} : { afterSeq }),
    });
    for (const { seq, record } of page) {
      if (pacer.due()) await pacer.pause();
      if (record.answer === "ALLOWED") for (const w of record.witness ?? []) witnesses.add(w);
      const chain = record.onBehalfOf ?? [];
      if (chain.length > maxChain && identities.has(record.subject)) {
        const list = longChains.get(record.subject) ?? [];
        list.push(
          `decision ${seq} at ${record.time}: ${record.subject} for ${chain.join(" for ")} on ${record.resource}#${record.permission} (${record.answer})`,
        );
        longChains.set(record.subject, list);
      }
    }
    if (page.length < 1_000) break;
    afterSeq = page[page.length - 1]!.seq;
  }
  return { witnesses, longChains };
}

/** Relationships naming each identity written after `after` up to `upTo`. */
async function addedSince(
  store: Store,
  after: Revision,
  upTo: Revision,
  identities: ReadonlyMap<string, IdentityFacts>,
  pacer: Pacer,
): Promise<Map<string, Relationship[]>> {
  const out = new Map<string, Relationship[]>();
  let from = after;
  let within = 0;
  while (from < upTo) {
    const page = await store.changesSince(from, 10_000, within);
    for (const c of page.changes) {
      if (pacer.due()) await pacer.pause();
      if (c.revision > upTo || c.operation !== "touch") continue;
      const key = `${c.relationship.subject.type}:${c.relationship.subject.id}`;
      if (!identities.has(key)) continue;
      const list = out.get(key);
      if (list === undefined) out.set(key, [c.relationship]);
      else list.push(c.relationship);
    }
    if (page.within !== undefined) {
      within = page.within;
      continue;
    }
    within = 0;
    if (page.revision <= from) break;
    from = page.revision;
  }
  return out;
}

function identityEntries(inventory: Inventory, reach: ReachTable, config: PostureConfig): IdentityEntry[] {
  return [...inventory.identities.values()].map((f) => ({
    identity: f.key,
    owners: f.owners.map((o) => `${o.subject.type}:${o.subject.id}`),
    grants: f.grants.length,
    delegations: f.delegations.length,
    reach: config.reach.map((m) => {
      const permission = `${m.type}#${m.name}`;
      const r = reach.get(f.key)?.get(permission) ?? { reached: 0, conditional: 0, sensitive: 0 };
      const total = inventory.objectCounts.get(m.type) ?? 0;
      const share = total === 0 ? 0 : Math.round((r.reached / total) * 10_000) / 10_000;
      return {
        permission,
        reached: r.reached,
        conditional: r.conditional,
        sensitive: r.sensitive,
        total,
        share,
      };
    }),
  }));
}

function previousReach(body: string): Map<string, number> {
  const prev = JSON.parse(body) as PostureReport;
  const out = new Map<string, number>();
  for (const i of prev.identities ?? [])
    for (const r of i.reach) out.set(`${i.identity} ${r.permission}`, r.reached);
  return out;
}

function sortFindings(findings: Finding[]): Finding[] {
  return findings.sort(
    (a, b) =>
      SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity) ||
      FINDING_KINDS.indexOf(a.kind) - FINDING_KINDS.indexOf(b.kind) ||
      (a.identity < b.identity ? -1 : a.identity > b.identity ? 1 : 0),
  );
}

/** Owners the signals hook says are suspended. */
async function suspendedOwners(
  options: PostureOptions,
  inventory: Inventory,
  pacer: Pacer,
): Promise<Set<string>> {
  const suspended = new Set<string>();
  if (options.isSuspended === undefined) return suspended;
  for (const f of inventory.identities.values())
    for (const o of f.owners) {
      if (pacer.due()) await pacer.pause();
      const owner = `${o.subject.type}:${o.subject.id}`;
      if (await options.isSuspended(owner)) suspended.add(owner);
    }
  return suspended;
}

/** Reach changed since the previous kept report, and the drift findings it makes. */
async function driftPart(
  store: Store,
  revision: Revision,
  previous: { readonly revision: Revision; readonly body: string },
  parts: { inventory: Inventory; identities: readonly IdentityEntry[]; config: PostureConfig; pacer: Pacer },
): Promise<{ drift: NonNullable<PostureReport["drift"]>; findings: Finding[] }> {
  const { inventory, identities, config, pacer } = parts;
  const before = previousReach(previous.body);
  const changes: DriftEntry[] = [];
  // Grouped by identity once: filtering all changes per identity grows with their product.
  const byIdentity = new Map<string, DriftEntry[]>();
  for (const i of identities)
    for (const r of i.reach) {
      const b = before.get(`${i.identity} ${r.permission}`);
      if (b === undefined || b === r.reached) continue;
      const change = { identity: i.identity, permission: r.permission, before: b, after: r.reached };
      changes.push(change);
      const list = byIdentity.get(i.identity);
      if (list === undefined) byIdentity.set(i.identity, [change]);
      else list.push(change);
    }
  const added = await addedSince(store, previous.revision, revision, inventory.identities, pacer);
  const findings: Finding[] = [];
  for (const f of inventory.identities.values()) {
    if (pacer.due()) await pacer.pause();
    const mine = byIdentity.get(f.key) ?? [];
    findings.push(...driftFindings(f, mine, config, previous.revision.toString(), added.get(f.key) ?? []));
  }
  const drift = {
    previousRevision: previous.revision.toString(),
    previousGeneratedAt: (JSON.parse(previous.body) as PostureReport).generatedAt,
    changes,
  };
  return { drift, findings };
}

interface Evidence {
  readonly config: PostureConfig;
  readonly inventory: Inventory;
  readonly reach: ReachTable;
  readonly denied: ReadonlyMap<string, Denied[]>;
  readonly suspended: ReadonlySet<string>;
  readonly witnesses: ReadonlySet<string>;
  readonly longChains: ReadonlyMap<string, string[]>;
  readonly now: Date;
}

/** Each identity's findings but drift, appended to `findings`. */
async function identityFindings(e: Evidence, findings: Finding[], pacer: Pacer): Promise<void> {
  const { config, inventory } = e;
  for (const f of inventory.identities.values()) {
    if (pacer.due()) await pacer.pause();
    const orphan = orphanFinding(f, config, inventory, e.suspended);
    const found = [
      orphan,
      // An orphan's owner has no access to keep: the orphan finding says it all.
      orphan === undefined ? ownerLostAccessFinding(f, e.denied.get(f.key) ?? []) : undefined,
      nonExpiringFinding(f, config, e.now),
      overBroadFinding(f, config, inventory, e.reach),
      unusedFinding(f, config, e.witnesses),
      riskyDelegationFinding(f, config, e.longChains.get(f.key) ?? []),
    ];
    for (const x of found) if (x !== undefined) findings.push(x);
  }
}

export async function createPostureReport(options: PostureOptions): Promise<PostureResult> {
  const { store, engine } = options;
  const now = options.now ?? new Date();
  const revision = options.revision ?? (await store.currentRevision());
  const reader = store.at(revision);
  const stored = await reader.readSchema();
  if (stored === undefined)
    throw new LatchError(
      "posture/no-schema",
      "failed-precondition",
      "the datastore has no schema yet: write one, then report",
    );
  const schema = compileSchema(stored.text);
  const config = parsePostureConfig(options.config, schema);
  const token = store.encodeRevision(revision);
  const pacer = createPacer(options.signal);
  const phases: Record<string, number> = {};
  let mark = performance.now();
  const lap = (name: string) => {
    const t = performance.now();
    phases[name] = Math.round(t - mark);
    mark = t;
  };
  const inventory = await readInventory(reader, config, pacer);
  lap("inventory");
  const { table: reach, stats } = await computeReach({
    engine,
    reader,
    schema,
    token,
    identities: inventory.identities,
    permissions: config.reach,
    sensitive: inventory.sensitive,
    sensitiveType: config.sensitive?.relation.type,
    pacer,
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
  });
  lap("reach");
  const denied = await ownerDenials(
    engine,
    token,
    config,
    inventory.identities.values(),
    pacer,
    options.signal,
  );
  lap("owners");
  const since = new Date(now.getTime() - config.thresholds.unusedDays * DAY_MS);
  const { witnesses, longChains } = await readDecisions(
    store,
    since,
    config.maxChain,
    inventory.identities,
    pacer,
  );
  const suspended = await suspendedOwners(options, inventory, pacer);
  lap("decisions");
  const identities = identityEntries(inventory, reach, config);
  const previous = await store.postureReports.previous(revision);
  let drift: PostureReport["drift"] = null;
  const findings: Finding[] = [];
  if (previous !== undefined) {
    const part = await driftPart(store, revision, previous, { inventory, identities, config, pacer });
    drift = part.drift;
    findings.push(...part.findings);
  }
  const evidence = { config, inventory, reach, denied, suspended, witnesses, longChains, now };
  await identityFindings(evidence, findings, pacer);
  lap("findings");
  sortFindings(findings);
  const bySeverity = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>;
  const byKind = Object.fromEntries(FINDING_KINDS.map((k) => [k, 0])) as Record<FindingKind, number>;
  for (const f of findings) {
    bySeverity[f.severity]++;
    byKind[f.kind]++;
  }
  const report: PostureReport = {
    format: REPORT_FORMAT,
    revision: revision.toString(),
    generatedAt: now.toISOString(),
    config: configToJson(config),
    summary: {
      identities: identities.length,
      relationships: inventory.relationships,
      findings: findings.length,
      bySeverity,
      byKind,
    },
    identities,
    findings,
    drift,
  };
  const savedId =
    options.save === true
      ? await store.postureReports.save(revision, JSON.stringify(report), now.getTime())
      : undefined;
  return { report, stats: { ...stats, phases, ...(savedId === undefined ? {} : { savedId }) } };
}
