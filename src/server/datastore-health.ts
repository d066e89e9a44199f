/**
 * Health that follows the datastore: a replica whose database cannot be reached says NOT_SERVING,
 * so that load balancers and orchestrators route around it, and says SERVING again by itself once
 * the database answers. Probing (rather than counting failed requests) keeps an idle replica's
 * status true, and a short probe timeout reports a silent network as quickly as a refused one.
 */
import type { HealthImplementation } from "grpc-health-check";
import type { Logger } from "pino";
import type { Revision } from "../core/index.js";
import { type ReadReplicaStatus, type Store, StoreError, type StoreReader } from "../store/index.js";
import { SERVICE_NAMES } from "./discovery.js";

export const DEFAULT_HEALTH_PROBE_MS = 2_000;
const DEFAULT_PROBE_TIMEOUT_MS = 1_000;

export interface DatastoreHealthOptions {
  readonly store: Pick<Store, "currentRevision">;
  /** Called on every change of status (and not otherwise). */
  readonly onChange: (serving: boolean, reason?: unknown) => void;
  /** Time between the end of one probe and the start of the next (default 2 s). */
  readonly intervalMs?: number;
  /**
   * A probe slower than this counts as a failure (default 1 s). Not tied to the interval: probes
   * never overlap, and a short interval with a short timeout turned a loaded machine's slow query
   * into NOT_SERVING.
   */
  readonly timeoutMs?: number;
}

export interface DatastoreHealth {
  /** The last probe's verdict (true until a probe fails). */
  readonly serving: boolean;
  /** Probes now, outside the schedule; resolves with the verdict. */
  probe(): Promise<boolean>;
  /** Stops probing; the status is left as it is for the caller to set. */
  stop(): void;
}

class ProbeTimeout extends Error {
  override readonly name = "ProbeTimeout";
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  // The abandoned query may still fail later; that must not become an unhandled rejection.
  work.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new ProbeTimeout(`datastore did not answer in ${ms} ms`)), ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

export function watchDatastoreHealth(options: DatastoreHealthOptions): DatastoreHealth {
  const intervalMs = options.intervalMs ?? DEFAULT_HEALTH_PROBE_MS;
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
    throw new RangeError(`health probe interval must be a positive number of ms, got ${intervalMs}`);
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  let serving = true;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<boolean> | undefined;

  const settle = (verdict: boolean, reason?: unknown) => {
    if (stopped || verdict === serving) return;
    serving = verdict;
    options.onChange(verdict, reason);
  };

  const probe = (): Promise<boolean> => {
    // Overlapping probes would only pile more load on a struggling database.
    running ??= withTimeout(options.store.currentRevision(), timeoutMs)
      .then(
        () => {
          settle(true);
          return true;
        },
        (error: unknown) => {
          settle(false, error);
          return false;
        },
      )
      .finally(() => {
        running = undefined;
      });
    return running;
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      probe().finally(schedule);
    }, intervalMs);
    // Health alone must not keep a process alive.
    timer.unref();
  };
  schedule();

  return {
    get serving() {
      return serving;
    },
    probe,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/**
 * A store that fails fast while its database is known to be unreachable. A refused connection
 * fails quickly by itself, but a silent network (packets dropped) would hold every call until the
 * driver's connect timeout, so callers would see DEADLINE_EXCEEDED instead of UNAVAILABLE. While
 * the health probe says the database is down, each call gets `failFastMs` to prove otherwise (an
 * answer marks it reachable again), then fails with `unavailable`. While it is up, calls pass
 * straight through.
 */
export interface DatastoreGate {
  readonly store: Store;
  readonly reachable: boolean;
  setReachable(reachable: boolean): void;
}

/** Gated stores by the store object the server sees, so that health can drive its gate. */
const gates = new WeakMap<object, DatastoreGate>();

export function createDatastoreGate(
  store: Store,
  options: { readonly failFastMs?: number } = {},
): DatastoreGate {
  const failFastMs = options.failFastMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  let reachable = true;
  const guard = (work: Promise<unknown>, operation: string): Promise<unknown> => {
    work.catch(() => undefined);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new StoreError(
              "store/unavailable",
              "unavailable",
              `the datastore is unreachable (${operation} got no answer in ${failFastMs} ms while health checks fail)`,
            ),
          ),
        failFastMs,
      );
      work.then(
        (value) => {
          clearTimeout(timer);
          reachable = true;
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  };
  /** Every call of `target` that returns a promise, guarded. */
  const gateCalls = <T extends object>(target: T, special?: (prop: string | symbol) => unknown): T => {
    const wrapped = new Map<string | symbol, unknown>();
    return new Proxy(target, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== "function" || prop === "close") return value;
        let fn = wrapped.get(prop) ?? special?.(prop);
        if (fn === undefined) {
          fn = (...args: unknown[]) => {
            const result = (value as (...a: unknown[]) => unknown).apply(target, args);
            return reachable || !(result instanceof Promise) ? result : guard(result, String(prop));
          };
        }
        wrapped.set(prop, fn);
        return fn;
      },
    });
  };
  // Readers are gated too; one gated reader per reader, which the store reuses per revision.
  const readers = new WeakMap<StoreReader, StoreReader>();
  const at = (revision: Revision): StoreReader => {
    const reader = store.at(revision);
    let gatedReader = readers.get(reader);
    if (gatedReader === undefined) {
      gatedReader = gateCalls(reader);
      readers.set(reader, gatedReader);
    }
    return gatedReader;
  };
  const gated = gateCalls(store, (prop) => (prop === "at" ? at : undefined));
  const gate: DatastoreGate = {
    store: gated,
    get reachable() {
      return reachable;
    },
    setReachable(value) {
      reachable = value;
    },
  };
  gates.set(gated, gate);
  return gate;
}

/** Drives the server's health statuses (overall and per service) from the datastore probe. */
export function startDatastoreHealth(options: {
  readonly store: Pick<Store, "currentRevision">;
  readonly health: HealthImplementation;
  readonly log: Logger;
  readonly intervalMs?: number | undefined;
  readonly timeoutMs?: number | undefined;
}): DatastoreHealth {
  return watchDatastoreHealth({
    store: options.store,
    ...(options.intervalMs === undefined ? {} : { intervalMs: options.intervalMs }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    onChange(serving, reason) {
      gates.get(options.store)?.setReachable(serving);
      const status = serving ? "SERVING" : "NOT_SERVING";
      for (const name of ["", ...SERVICE_NAMES]) options.health.setStatus(name, status);
      if (serving) options.log.info("datastore reachable again: SERVING");
      else
        options.log.warn(
          { err: reason instanceof Error ? reason.message : String(reason) },
          "datastore unreachable: NOT_SERVING",
        );
    },
  });
}

/** The gRPC health name of a read replica: this prefix, then its `host:port/database`. */
export const READ_REPLICA_HEALTH_PREFIX = "latch.datastore.ReadReplica/";

/**
 * Shows the datastore's read replicas in health: each one is a health service name of its own,
 * SERVING while it answers reads and NOT_SERVING while it is down or not a copy of the datastore,
 * and each change is logged. The server's own status does not follow them: while the primary
 * answers, a lost replica costs only the load it took off the primary, not a single answer.
 */
export function watchReadReplicas(options: {
  readonly statuses: () => readonly ReadReplicaStatus[];
  readonly health: HealthImplementation;
  readonly log: Logger;
  readonly intervalMs?: number | undefined;
}): { check(): void; stop(): void } {
  const last = new Map<string, ReadReplicaStatus["state"]>();
  const check = () => {
    for (const replica of options.statuses()) {
      const before = last.get(replica.name);
      if (before === replica.state) continue;
      last.set(replica.name, replica.state);
      const up = replica.state === "up";
      options.health.setStatus(
        `${READ_REPLICA_HEALTH_PREFIX}${replica.name}`,
        up ? "SERVING" : "NOT_SERVING",
      );
      const fields = { replica: replica.name, state: replica.state, err: replica.error };
      if (up) options.log.info(fields, "read replica serving reads");
      else if (replica.state === "mismatched")
        options.log.error(fields, "read replica is not a copy of this datastore: never read from");
      // Not yet reached at start is no news; a replica lost later, or never reached, is.
      else if (before !== undefined || replica.error !== "not probed yet")
        options.log.warn(fields, "read replica unreachable: its reads go to the primary");
    }
  };
  check();
  const timer = setInterval(check, options.intervalMs ?? DEFAULT_HEALTH_PROBE_MS);
  timer.unref();
  return { check, stop: () => clearInterval(timer) };
}
