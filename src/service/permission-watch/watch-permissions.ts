/**
 * WatchPermissions: live sets of "the resources of a type this subject has this permission on",
 * kept current from the changes feed rather than recomputed on every write.
 *
 * One feed reader for every subscription of a store. Each step of the feed (one revision, or
 * several coalesced when the reader is behind) is planned once for all sets (plan.ts): it walks
 * the reverse graph from the changes that may concern anyone up to the watched types
 * (affected.ts) and names the sets it may concern, each with the resources to re-check, and
 * hands the changes that concern only one subject (a user joining a group) to that subject's
 * sets, unwalked; sets it does not concern are not visited. Each named set then updates on its
 * own queue (schedule.ts), once however many subscribers share it (group.ts): it walks its own
 * changes, re-checks, and sends the difference, so a slow or wide set delays only its own
 * subscribers, never the planning of later steps. A schema change, a walk that reaches too many
 * objects, a change to a delegation link, or an outside change to a subject's own state
 * (`subjectChanged`) recomputes the concerned sets whole (LookupResources) and sends the
 * difference; so does a step that reaches more resources than the set holds, when the lookup is
 * the cheaper of the two.
 */
import type { Revision } from "../../core/index.js";
import { createPacer } from "../../engine/index.js";
import { compileSchema } from "../../schema/index.js";
import type { Change, Store } from "../../store/index.js";
import { DEFAULT_DELEGATION_PERMISSION } from "../delegation/index.js";
import { type WatchBatch, type WatchOptions, watchChanges } from "../watch.js";
import { Group, type GroupWork, groupKey, type SetDecider, type Subscriber } from "./group.js";
import type { Listener } from "./listener.js";
import { type GroupIndex, indexGroups, type Planned, planStep, walkForSet } from "./plan.js";
import { resumable } from "./resume.js";
import { buildReverseGraph, type ReverseGraph } from "./reverse-graph.js";
import { enqueuer, isCheap, Slots } from "./schedule.js";
import { type SetHost, subscribe } from "./subscribe.js";
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
  /**
   * Resources re-checked for one set at one step below which the set is never looked up whole
   * instead (default 256; see RECHECK_FLOOR).
   */
  readonly recheckFloor?: number;
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

interface Step {
  readonly revision: Revision;
  readonly changes: readonly Change[];
  readonly schemaUpdated: boolean;
}

interface Counters {
  rechecked: number;
  recomputed: number;
  lookedUp: number;
  resyncs: number;
  walkedInPlanning: number;
  walkedBySets: number;
}

const newCounters = (): Counters => ({
  rechecked: 0,
  recomputed: 0,
  lookedUp: 0,
  resyncs: 0,
  walkedInPlanning: 0,
  walkedBySets: 0,
});

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
 * Below this many ids a set is always re-checked. Above it, and when there are at least as many
 * ids as the set holds, the set is looked up whole instead: one LookupResources walks out from
 * the subject and costs about what the answer holds, while CheckBulk costs per id asked, most of
 * them for resources the subject cannot see (on the benchmark corpus, 20,000 checks of one user
 * cost 250-560 ms of CPU, that user's whole lookup 1-40 ms).
 */
const RECHECK_FLOOR = 256;

interface Updater {
  readonly store: Store;
  readonly counters: Counters;
  readonly recheckFloor: number;
  readonly maxReached: number;
}

/** The set's own changes walked (walkForSet) and joined to the ids planning gave it. */
async function ownWork(
  group: Group,
  work: GroupWork,
  u: Updater,
): Promise<{ ids: ReadonlySet<string> } | "lookup" | "recompute"> {
  if (work.walk.length === 0) return { ids: work.ids };
  // Never without a graph (plan.ts hands one with every walk); recomputing is the safe answer.
  if (work.graph === undefined) return "recompute";
  const found = await walkForSet(u.store.at(work.target), work.graph, group, work.walk, {
    wideAt: Math.max(u.recheckFloor, group.size),
    maxReached: u.maxReached,
    pacer: createPacer(undefined),
    reached: (n) => {
      u.counters.walkedBySets += n;
    },
  });
  if (typeof found === "string") return found;
  if (work.ids.size === 0) return { ids: found };
  for (const id of work.ids) found.add(id);
  return { ids: found };
}

/** Moves one set to the work's revision: recomputed whole, or only the ids reached re-checked. */
async function updateGroup(group: Group, work: GroupWork, u: Updater): Promise<void> {
  const { counters, recheckFloor } = u;
  const own = work.whole ? "recompute" : await ownWork(group, work, u);
  const wide =
    own === "lookup" ||
    (typeof own !== "string" && own.ids.size > recheckFloor && own.ids.size >= group.size);
  if (typeof own === "string" || wide) {
    if (own === "recompute") counters.recomputed++;
    else counters.lookedUp++;
    await group.replace(work.target, work.token);
    return;
  }
  const ids = [...own.ids].sort();
  counters.rechecked += ids.length;
  const next = ids.length === 0 ? new Map() : await group.recheck(ids, work.token);
  group.apply(next, work.target, work.token);
}

function statsOf(
  groups: Map<string, Group>,
  counters: Counters,
  revision: Revision | undefined,
): PermissionWatchStats {
  let subscriptions = 0;
  let resyncs = counters.resyncs;
  let reached = revision;
  for (const group of groups.values()) {
    subscriptions += group.subscribers.size;
    for (const s of group.subscribers) resyncs += s.listener.resyncs;
    if (group.busy && reached !== undefined && group.revision < reached) reached = group.revision;
  }
  return {
    subscriptions,
    groups: groups.size,
    revision: reached,
    rechecked: counters.rechecked,
    recomputed: counters.recomputed,
    lookedUp: counters.lookedUp,
    resyncs,
    walkedInPlanning: counters.walkedInPlanning,
    walkedBySets: counters.walkedBySets,
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

const feedOptions = (after: Revision, signal: AbortSignal, pollMs: number | undefined): WatchOptions => ({
  after,
  checkpoints: true,
  signal,
  ...(pollMs === undefined ? {} : { pollMs }),
});

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

/** What planning a step needs; `index` is rebuilt when undefined (a set added or dropped) or the schema changed. */
interface Planner extends Updater {
  readonly groups: ReadonlyMap<string, Group>;
  readonly graphAt: (at: Revision) => Promise<ReverseGraph>;
  index: GroupIndex | undefined;
}

/** The sets some merged steps concern, each with what it must do: all of them whole after a schema change. */
async function planSteps(
  p: Planner,
  step: {
    target: Revision;
    changes: readonly Change[];
    schemaUpdated: boolean;
    due: readonly SubjectStateChange[];
  },
): Promise<{ planned: Map<Group, Planned>; graph: ReverseGraph | undefined }> {
  if (step.schemaUpdated) {
    const whole = (): Planned => ({ whole: true, ids: new Set<string>(), walk: [] });
    return { planned: new Map([...p.groups.values()].map((g) => [g, whole()])), graph: undefined };
  }
  const graph = await p.graphAt(step.target);
  if (p.index?.graph !== graph) p.index = indexGroups(graph, p.groups.values());
  const input = {
    changes: step.changes,
    subjects: step.due.map((s) => s.subject),
    groups: p.groups.values(),
  };
  const planned = await planStep(p.store.at(step.target), p.index, input, {
    maxReached: p.maxReached,
    pacer: createPacer(undefined),
    reached: (n) => {
      p.counters.walkedInPlanning += n;
    },
  });
  return { planned, graph };
}

/**
 * Gives every planned set its work, and every other set with a checkpoint subscriber an empty
 * item (its SYNCED at `target`); the rest hold at `target` without being visited.
 */
function handOut(
  groups: ReadonlyMap<string, Group>,
  step: { planned: ReadonlyMap<Group, Planned>; graph: ReverseGraph | undefined },
  enqueue: (group: Group, work: GroupWork) => void,
  target: Revision,
  token: string,
): void {
  const { planned, graph } = step;
  for (const [group, p] of planned) {
    if (groups.get(group.key) !== group) continue;
    enqueue(group, { whole: p.whole, ids: p.ids, walk: p.walk, graph, target, token });
  }
  for (const group of groups.values()) {
    if (group.checkpointers > 0 && !planned.has(group)) {
      enqueue(group, { whole: false, ids: new Set(), walk: [], graph: undefined, target, token });
    }
  }
}

/** Each set's queue (schedule.ts): a failing set ends its own subscriptions and is dropped. */
function queues(p: Planner, concurrency: number, drop: (group: Group) => void) {
  return enqueuer({
    slots: new Slots(concurrency),
    live: (group) => p.groups.get(group.key) === group,
    cheap: (work) => isCheap(work, p.recheckFloor),
    update: (group, work) => updateGroup(group, work, p),
    failed(group, error) {
      for (const s of group.subscribers) s.listener.fail(error);
      drop(group);
    },
  });
}

export function createPermissionWatch(options: PermissionWatchOptions): PermissionWatch {
  const { store, decider } = options;
  const maxQueued = options.maxQueued ?? 10_000;
  const delegationPermission = delegationPermissions(options.delegationPermission ?? {});
  const groups = new Map<string, Group>();
  /** Groups being computed for the first time, so that a second subscriber waits for the first. */
  const starting = new Map<string, Promise<Group>>();
  /** The newest revision every step up to which was planned and handed to the sets' queues. */
  let revision: Revision | undefined;
  let feed: AbortController | undefined;
  let pending: Step[] = [];
  let subjects: SubjectStateChange[] = [];
  let draining = false;
  let closed = false;
  const counters = newCounters();
  const planner: Planner = {
    store,
    groups,
    graphAt: schemaGraphs(store),
    maxReached: options.maxReached ?? 20_000,
    recheckFloor: options.recheckFloor ?? RECHECK_FLOOR,
    counters,
    index: undefined,
  };

  /** Group starts and step planning run one at a time, so a new set starts where the others were planned to. */
  const locked = oneAtATime();

  function drop(group: Group): void {
    if (groups.get(group.key) !== group) return;
    groups.delete(group.key);
    planner.index = undefined;
  }

  /** Ends every subscription (each listener told how) and the feed reader. */
  function endAll(end: (listener: Listener) => void): void {
    for (const group of groups.values()) for (const s of group.subscribers) end(s.listener);
    groups.clear();
    planner.index = undefined;
    stopFeed();
  }

  const failAll = (error: unknown) => endAll((listener) => listener.fail(error));

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
    const batches = watchChanges(store, feedOptions(revision, controller.signal, options.pollMs));
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

  const enqueue = queues(planner, options.concurrency ?? 8, drop);

  /**
   * Plans the steps once for every set and hands each concerned set its work; the sets update on
   * their own queues, so this returns (and the next steps are planned) without waiting for them.
   */
  async function advance(steps: readonly Step[]): Promise<void> {
    if (revision === undefined || groups.size === 0) return;
    const { target, changes, schemaUpdated } = mergeSteps(steps, revision);
    const due = subjects.filter((s) => s.revision <= target);
    subjects = subjects.filter((s) => s.revision > target);
    if (target === revision && changes.length === 0 && due.length === 0 && !schemaUpdated) return;
    const token = store.encodeRevision(target);
    const planned = await planSteps(planner, { target, changes, schemaUpdated, due });
    // From here to the end, nothing awaits: the sets not named hold at `target` as of now.
    handOut(groups, planned, enqueue, target, token);
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
      group.start(await group.compute(token), revision!, token);
      groups.set(key, group);
      planner.index = undefined;
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
    if (subscriber.checkpoints) group.checkpointers--;
    counters.resyncs += subscriber.listener.resyncs;
    if (group.subscribers.size > 0 || groups.get(group.key) !== group) return;
    drop(group);
    if (groups.size === 0 && starting.size === 0) stopFeed();
  }

  const host: SetHost = {
    closed: () => closed,
    groupFor,
    current: (group) => groups.get(group.key) === group,
    planned: () => (revision === undefined ? undefined : { revision, token: store.encodeRevision(revision) }),
    maxQueued,
    leave,
  };
  const watch = (request: WatchPermissionsRequest, watchOptions?: WatchPermissionsOptions) =>
    subscribe(host, request, watchOptions);

  return {
    watch: (request, watchOptions) => resumable(request, watchOptions, watch, options, delegationPermission),
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
      endAll((listener) => listener.close());
    },
  };
}
