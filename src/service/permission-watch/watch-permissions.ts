/**
 * WatchPermissions: live sets of "the resources of a type this subject has this permission on",
 * kept current from the changes feed rather than recomputed on every write.
 *
 * One feed reader for every subscription of a store. For each step of the feed (one revision, or
 * several coalesced when the reader is behind) it walks the reverse graph once, from the changed
 * relationships up to the watched types (affected.ts), and re-checks only the resources reached,
 * once per kept set (group.ts) however many subscribers share it. A schema change, a walk that
 * reaches too many objects, a change to a delegation link, or an outside change to a subject's
 * own state (`subjectChanged`) recomputes the concerned sets whole (LookupResources) and sends
 * the difference. Every set is always at one revision, the one the last step reached.
 */
import { type Revision, WILDCARD_ID } from "../../core/index.js";
import { compileSchema } from "../../schema/index.js";
import type { Change, Store, StoreReader } from "../../store/index.js";
import { DEFAULT_DELEGATION_PERMISSION } from "../delegation/index.js";
import { type WatchBatch, watchChanges } from "../watch.js";
import { type Dirty, dirtyIn, dirtyObjects } from "./affected.js";
import { Group, groupKey, type SetDecider, type Subscriber } from "./group.js";
import { Listener } from "./listener.js";
import { buildReverseGraph, type NodeKey, nodeKey, type ReverseGraph } from "./reverse-graph.js";
import type {
  PermissionEvent,
  PermissionWatchStats,
  SubjectStateChange,
  WatchPermissionsOptions,
  WatchPermissionsRequest,
} from "./types.js";

export interface PermissionWatchOptions {
  readonly store: Store;
  /**
   * Where sets are decided: the engine under the delegation decorator (and any decorator that
   * changes answers, such as suspensions), but not the audit recorder: keeping sets current is
   * not anyone's decision to record.
   */
  readonly decider: SetDecider;
  /** As DelegationOptions.delegationPermission: which permission of a principal says who it delegates to. */
  readonly delegationPermission?: Readonly<Record<string, string>>;
  /** Most events queued for one subscriber before it is resynced instead (default 10,000). */
  readonly maxQueued?: number;
  /** Most objects one step may reach before the sets are recomputed whole instead (default 20,000). */
  readonly maxReached?: number;
  /** Items per CheckBulk (the engine's maxBulkItems, default 1,000). */
  readonly maxBulkItems?: number;
  /** Sets updated at the same time (default 8). */
  readonly concurrency?: number;
  readonly pollMs?: number;
}

export interface PermissionWatch {
  /** The whole set, then its changes; ends when the signal aborts, fails on a bad request. */
  watch(request: WatchPermissionsRequest, options?: WatchPermissionsOptions): AsyncIterable<PermissionEvent>;
  /** The hook for signals: a subject's own state changed at a revision (see SubjectStateChange). */
  subjectChanged(change: SubjectStateChange): void;
  stats(): PermissionWatchStats;
  /** Ends every subscription and the feed reader. */
  close(): void;
}

interface Walks {
  readonly general: Dirty | undefined;
  /** By subject (`user:bob`): present when the step changed something of that subject's alone. */
  readonly personal: Map<string, Dirty | undefined>;
}

interface Step {
  readonly revision: Revision;
  readonly changes: readonly Change[];
  readonly schemaUpdated: boolean;
}

interface Counters {
  rechecked: number;
  recomputed: number;
  resyncs: number;
}

interface GroupStep {
  readonly whole: boolean;
  readonly dirty: Dirty | undefined;
  readonly graph: ReverseGraph | undefined;
  readonly target: Revision;
  readonly token: string;
}

/** Several steps of the feed taken as one: the newest revision, every change, any schema update. */
function mergeSteps(
  steps: readonly Step[],
  from: Revision,
): { target: Revision; changes: Change[]; schemaUpdated: boolean } {
  let target = from;
  let schemaUpdated = false;
  const changes: Change[] = [];
  for (const step of steps) {
    if (step.revision > target) target = step.revision;
    schemaUpdated ||= step.schemaUpdated;
    for (const c of step.changes) changes.push(c);
  }
  return { target, changes, schemaUpdated };
}

const stepOf = (b: WatchBatch): Step => ({
  revision: b.revision,
  changes: b.changes,
  schemaUpdated: b.schemaUpdated,
});

/**
 * Walks the changes up the reverse graph: once for those that may concern anyone, and once per
 * subject for those that concern only it. A relationship to a plain object (not a wildcard, not
 * a subject set) on a relation no arrow follows can change only that object's own permissions:
 * Check matches such a subject by equality, never through it. So `group:eng#member@user:bob`
 * re-checks bob's sets alone, however many documents the group reaches.
 */
async function walk(
  reader: StoreReader,
  groups: Iterable<Group>,
  g: ReverseGraph,
  changes: readonly Change[],
  maxReached: number,
): Promise<Walks> {
  const wanted = new Set<string>();
  const relevant = new Set<NodeKey>();
  for (const group of groups) {
    for (const key of group.subjectKeys) wanted.add(key);
    for (const node of g.closure(group.target)) relevant.add(node);
    for (const link of group.links) for (const node of g.closure(link.node)) relevant.add(node);
  }
  const general: Change[] = [];
  const personal = new Map<string, Change[]>();
  for (const change of changes) {
    const r = change.relationship;
    const s = r.subject;
    if (
      s.relation !== undefined ||
      s.id === WILDCARD_ID ||
      g.tuplesets.has(nodeKey(r.resource.type, r.relation))
    ) {
      general.push(change);
      continue;
    }
    const key = `${s.type}:${s.id}`;
    if (!wanted.has(key)) continue;
    const list = personal.get(key);
    if (list === undefined) personal.set(key, [change]);
    else list.push(change);
  }
  const walks: Walks = {
    general: general.length === 0 ? new Map() : await dirtyObjects(reader, g, relevant, general, maxReached),
    personal: new Map(),
  };
  for (const [key, list] of personal) {
    walks.personal.set(key, await dirtyObjects(reader, g, relevant, list, maxReached));
  }
  return walks;
}

/** What may have changed for one group; undefined when a walk went past its bound. */
function dirtyFor(group: Group, walks: Walks): Dirty | undefined {
  const parts: Dirty[] = [];
  if (walks.general === undefined) return undefined;
  if (walks.general.size > 0) parts.push(walks.general);
  for (const key of group.subjectKeys) {
    if (!walks.personal.has(key)) continue;
    const part = walks.personal.get(key);
    if (part === undefined) return undefined;
    parts.push(part);
  }
  if (parts.length <= 1) return parts[0] ?? new Map();
  const merged = new Map<NodeKey, Set<string>>();
  for (const part of parts) {
    for (const [node, ids] of part) {
      const into = merged.get(node) ?? new Set<string>();
      merged.set(node, into);
      for (const id of ids) into.add(id);
    }
  }
  return merged;
}

function linkChanged(group: Group, dirty: Dirty, g: ReverseGraph): boolean {
  return group.links.some((link) =>
    dirtyIn(dirty, g.closure(link.node), link.object.type).has(link.object.id),
  );
}

/** Moves one set to the step's revision: recomputed whole, or only its reached resources re-checked. */
async function updateGroup(group: Group, step: GroupStep, counters: Counters): Promise<void> {
  if (step.whole) {
    counters.recomputed++;
    group.apply(await group.compute(step.token), true, step.target, step.token);
    return;
  }
  const ids =
    step.dirty === undefined || step.graph === undefined
      ? []
      : [...dirtyIn(step.dirty, step.graph.closure(group.target), group.request.resourceType)].sort();
  counters.rechecked += ids.length;
  const next = ids.length === 0 ? new Map() : await group.recheck(ids, step.token);
  group.apply(next, false, step.target, step.token);
}

/** Updates every set, `concurrency` at a time; one set that cannot be computed ends its own subscriptions, not the others'. */
async function updateGroups(
  groups: Map<string, Group>,
  concurrency: number,
  stepFor: (group: Group) => GroupStep,
  counters: Counters,
): Promise<void> {
  const work = [...groups.values()].map((group) => async () => {
    try {
      await updateGroup(group, stepFor(group), counters);
    } catch (error) {
      for (const s of group.subscribers) s.listener.fail(error);
      groups.delete(group.key);
    }
  });
  for (let i = 0; i < work.length; i += concurrency) {
    await Promise.all(work.slice(i, i + concurrency).map((run) => run()));
  }
}

function statsOf(
  groups: Map<string, Group>,
  counters: Counters,
  revision: Revision | undefined,
): PermissionWatchStats {
  let subscriptions = 0;
  let resyncs = counters.resyncs;
  for (const group of groups.values()) {
    subscriptions += group.subscribers.size;
    for (const s of group.subscribers) resyncs += s.listener.resyncs;
  }
  return {
    subscriptions,
    groups: groups.size,
    revision,
    rechecked: counters.rechecked,
    recomputed: counters.recomputed,
    resyncs,
  };
}

/** The reverse graph of the schema at a revision, rebuilt only when the schema changed. */
function schemaGraphs(store: Store): (at: Revision) => Promise<ReverseGraph> {
  let graph: { schemaRevision: Revision; graph: ReverseGraph } | undefined;
  return async (at) => {
    const stored = await store.at(at).readSchema();
    if (stored === undefined) return buildReverseGraph(compileSchema(""));
    if (graph?.schemaRevision !== stored.revision) {
      graph = { schemaRevision: stored.revision, graph: buildReverseGraph(compileSchema(stored.text)) };
    }
    return graph.graph;
  };
}

/** Reads the changes feed into steps until the signal aborts; rejects when the feed fails before that. */
async function readFeed(
  batches: AsyncIterable<WatchBatch>,
  signal: AbortSignal,
  onStep: (step: Step) => void,
): Promise<void> {
  try {
    for await (const batch of batches) {
      if (signal.aborted) return;
      onStep(stepOf(batch));
    }
  } catch (error) {
    if (!signal.aborted) throw error;
  }
}

function delegationPermissions(configured: Readonly<Record<string, string>>): (type: string) => string {
  return (type) => (Object.hasOwn(configured, type) ? configured[type]! : DEFAULT_DELEGATION_PERMISSION);
}

/** Runs the work it is given one after another, whether the previous one succeeded or failed. */
function oneAtATime(): <T>(work: () => Promise<T>) => Promise<T> {
  let lock: Promise<unknown> = Promise.resolve();
  return (work) => {
    const run = lock.then(work, work);
    lock = run.catch(() => undefined);
    return run;
  };
}

export function createPermissionWatch(options: PermissionWatchOptions): PermissionWatch {
  const { store, decider } = options;
  const maxQueued = options.maxQueued ?? 10_000;
  const maxReached = options.maxReached ?? 20_000;
  const concurrency = options.concurrency ?? 8;
  const delegationPermission = delegationPermissions(options.delegationPermission ?? {});
  const groups = new Map<string, Group>();
  /** Groups being computed for the first time, so that a second subscriber waits for the first. */
  const starting = new Map<string, Promise<Group>>();
  let revision: Revision | undefined;
  let feed: AbortController | undefined;
  let pending: Step[] = [];
  let subjects: SubjectStateChange[] = [];
  let draining = false;
  const graphAt = schemaGraphs(store);
  let closed = false;
  const counters: Counters = { rechecked: 0, recomputed: 0, resyncs: 0 };

  /** Group starts and feed steps run one at a time, so every set moves from revision to revision together. */
  const locked = oneAtATime();

  function failAll(error: unknown): void {
    for (const group of groups.values()) for (const s of group.subscribers) s.listener.fail(error);
    groups.clear();
    stopFeed();
  }

  function stopFeed(): void {
    feed?.abort();
    feed = undefined;
    revision = undefined;
    pending = [];
  }

  async function startFeed(): Promise<void> {
    if (feed !== undefined) return;
    const controller = new AbortController();
    feed = controller;
    revision = await store.currentRevision();
    const batches = watchChanges(store, {
      after: revision,
      checkpoints: true,
      signal: controller.signal,
      ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
    });
    void readFeed(batches, controller.signal, (step) => {
      pending.push(step);
      void drain();
    }).catch(failAll);
  }

  async function drain(): Promise<void> {
    if (draining) return;
    draining = true;
    try {
      while (pending.length > 0 && feed !== undefined) {
        const steps = pending;
        pending = [];
        await locked(() => advance(steps)).catch(failAll);
      }
    } finally {
      draining = false;
    }
  }

  /** Moves every group to the newest revision of `steps`. */
  async function advance(steps: readonly Step[]): Promise<void> {
    if (revision === undefined || groups.size === 0) return;
    const { target, changes, schemaUpdated } = mergeSteps(steps, revision);
    const due = subjects.filter((s) => s.revision <= target);
    subjects = subjects.filter((s) => s.revision > target);
    if (target === revision && changes.length === 0 && due.length === 0 && !schemaUpdated) return;
    const token = store.encodeRevision(target);
    let walks: Walks | undefined;
    let schemaGraph: ReverseGraph | undefined;
    if (!schemaUpdated && changes.length > 0) {
      schemaGraph = await graphAt(target);
      walks = await walk(store.at(target), groups.values(), schemaGraph, changes, maxReached);
    }
    await updateGroups(
      groups,
      concurrency,
      (group) => {
        const dirty = walks === undefined ? undefined : dirtyFor(group, walks);
        return {
          whole:
            schemaUpdated ||
            (walks !== undefined && dirty === undefined) ||
            due.some((s) => group.involves(s.subject)) ||
            (dirty !== undefined && linkChanged(group, dirty, schemaGraph!)),
          dirty,
          graph: schemaGraph,
          target,
          token,
        };
      },
      counters,
    );
    revision = target;
  }

  async function groupFor(request: WatchPermissionsRequest): Promise<Group> {
    const key = groupKey(request);
    const existing = groups.get(key);
    if (existing !== undefined) return existing;
    const started = starting.get(key);
    if (started !== undefined) return started;
    const start = locked(async () => {
      await startFeed();
      const group = new Group(key, request, decider, delegationPermission, options.maxBulkItems ?? 1000);
      const token = store.encodeRevision(revision!);
      group.apply(await group.compute(token), true, revision!, token);
      groups.set(key, group);
      return group;
    });
    starting.set(key, start);
    try {
      return await start;
    } finally {
      starting.delete(key);
      if (groups.size === 0 && starting.size === 0) stopFeed();
    }
  }

  function leave(group: Group, subscriber: Subscriber): void {
    group.subscribers.delete(subscriber);
    counters.resyncs += subscriber.listener.resyncs;
    if (group.subscribers.size > 0 || groups.get(group.key) !== group) return;
    groups.delete(group.key);
    if (groups.size === 0 && starting.size === 0) stopFeed();
  }

  async function* watch(
    request: WatchPermissionsRequest,
    watchOptions: WatchPermissionsOptions = {},
  ): AsyncGenerator<PermissionEvent, void, undefined> {
    if (closed) return;
    const signal = watchOptions.signal;
    const group = await groupFor(request);
    if (groups.get(group.key) !== group) {
      // The group failed or ended between its start and this subscriber's arrival.
      yield* watch(request, watchOptions);
      return;
    }
    const listener = new Listener(maxQueued, () => group.snapshot());
    const subscriber: Subscriber = { listener, checkpoints: request.checkpoints === true };
    group.subscribers.add(subscriber);
    const onAbort = () => listener.close();
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) listener.close();
    try {
      yield* listener.events();
    } finally {
      signal?.removeEventListener("abort", onAbort);
      leave(group, subscriber);
    }
  }

  return {
    watch,
    subjectChanged(change) {
      if (groups.size === 0) return;
      subjects.push(change);
      // A step at the current revision is enough when the feed has already passed it.
      pending.push({ revision: revision ?? change.revision, changes: [], schemaUpdated: false });
      void drain();
    },
    stats: () => statsOf(groups, counters, revision),
    close() {
      closed = true;
      for (const group of groups.values()) for (const s of group.subscribers) s.listener.close();
      groups.clear();
      stopFeed();
    },
  };
}
