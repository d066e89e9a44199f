/**
 * Security signals in the datastore (src/signals): the state signals put on subjects (suspended,
 * attributes) and the log of received signals, whose (issuer, jti) key refuses a replay on every
 * replica and across restarts. Every backend stores the same rows.
 *
 * Subject state is a history, not a current value: each change is a row holding the subject's
 * whole state after it, at the revision of the write that made it. The state at revision R is
 * the newest row at or below R, so a check pinned to a revision sees the state of that revision,
 * exactly as it sees that revision's relationships.
 */
import type { Revision } from "../core/index.js";
import { StoreError } from "./errors.js";

/** A subject's whole state after a change. */
export interface SubjectState {
  /** `type:id` */
  readonly subject: string;
  readonly suspended: boolean;
  /** Why it is suspended (the event that did it); empty when not suspended. */
  readonly reason: string;
  /** Caveat context merged into every check involving the subject; JSON values. */
  readonly attributes: Readonly<Record<string, unknown>>;
}

export interface SubjectStateRow extends SubjectState {
  readonly revision: Revision;
}

/** A change a signal makes to a subject; applied over its state at the write's revision. */
export type SubjectStateChange =
  | { readonly kind: "suspend"; readonly subject: string; readonly reason: string }
  | { readonly kind: "resume"; readonly subject: string }
  | {
      readonly kind: "set-attributes";
      readonly subject: string;
      readonly attributes: Readonly<Record<string, unknown>>;
    };

/** What a received, verified signal did: one entry per event. */
export interface SignalEffect {
  readonly event: string;
  /** `suspend`, `resume`, `set-attributes`, `delete-relationships`, `revoke-delegations`, `ignored`. */
  readonly action: string;
  readonly subject?: string;
  /** Relationships deleted, for the deleting actions. */
  readonly deleted?: number;
  /** Why an event was ignored (unknown type, no rule, subject not mapped). */
  readonly note?: string;
}

export interface NewSignal {
  readonly issuer: string;
  readonly jti: string;
  /** ms since the epoch. */
  readonly receivedAt: number;
  /** `push` (RFC 8935 receiver), `api` or `cli`. */
  readonly via: string;
  readonly events: readonly string[];
  readonly effects: readonly SignalEffect[];
}

export interface StoredSignal extends NewSignal {
  /** The revision of the signal's write: every effect of it is visible at or above it. */
  readonly revision: Revision;
}

export interface SignalQuery {
  /** Most rows, newest first (default 100). */
  readonly limit?: number;
}

export interface SignalStore {
  /** True when (issuer, jti) was recorded already. */
  seen(issuer: string, jti: string): Promise<boolean>;
  /**
   * One transaction at one new revision: records the signal, refusing an (issuer, jti) already
   * recorded with `signal/replayed` (nothing written), and applies `changes` in order.
   */
  record(signal: NewSignal, changes: readonly SubjectStateChange[]): Promise<Revision>;
  /** Subject state rows written after `after` (up to the store's current revision, returned too). */
  statesSince(
    after: Revision,
  ): Promise<{ readonly rows: readonly SubjectStateRow[]; readonly revision: Revision }>;
  list(query: SignalQuery): Promise<readonly StoredSignal[]>;
}

export const DEFAULT_SIGNAL_PAGE = 100;

export const NO_STATE: Omit<SubjectState, "subject"> = { suspended: false, reason: "", attributes: {} };

/** The state after `change`, from the state before it. */
export function applyStateChange(
  before: Omit<SubjectState, "subject"> | undefined,
  change: SubjectStateChange,
): SubjectState {
  const prior = before ?? NO_STATE;
  switch (change.kind) {
    case "suspend":
      return {
        subject: change.subject,
        suspended: true,
        reason: change.reason,
        attributes: prior.attributes,
      };
    case "resume":
      return { subject: change.subject, suspended: false, reason: "", attributes: prior.attributes };
    case "set-attributes":
      return {
        subject: change.subject,
        suspended: prior.suspended,
        reason: prior.reason,
        attributes: { ...prior.attributes, ...change.attributes },
      };
  }
}

/** Applies `changes` in order, reading each subject's state before the first with `read`. */
export function foldStateChanges(
  changes: readonly SubjectStateChange[],
  read: (subject: string) => Omit<SubjectState, "subject"> | undefined,
): SubjectState[] {
  const after = new Map<string, SubjectState>();
  for (const change of changes) {
    const before = after.get(change.subject) ?? read(change.subject);
    after.set(change.subject, applyStateChange(before, change));
  }
  return [...after.values()];
}

export const SIGNAL_COLUMNS = "issuer, jti, received_at, via, events, effects, revision";

/** The values of a new signal's row, in SIGNAL_COLUMNS order. */
export function signalRow(signal: NewSignal, revision: Revision | number): unknown[] {
  return [
    signal.issuer,
    signal.jti,
    signal.receivedAt,
    signal.via,
    JSON.stringify(signal.events),
    JSON.stringify(signal.effects),
    revision,
  ];
}

/** A stored signal row (SIGNAL_COLUMNS order). */
export function rowToSignal(r: readonly unknown[]): StoredSignal {
  return {
    issuer: String(r[0]),
    jti: String(r[1]),
    receivedAt: Number(r[2]),
    via: String(r[3]),
    events: JSON.parse(String(r[4])) as string[],
    effects: JSON.parse(String(r[5])) as SignalEffect[],
    revision: BigInt(r[6] as string | number | bigint),
  };
}

/** A stored state row: subject, revision, suspended, reason, attributes. */
export function rowToState(r: readonly unknown[]): SubjectStateRow {
  return {
    subject: String(r[0]),
    revision: BigInt(r[1] as string | number | bigint),
    suspended: r[2] === true || r[2] === 1 || r[2] === 1n,
    reason: String(r[3]),
    attributes: JSON.parse(String(r[4])) as Record<string, unknown>,
  };
}

/** The error of a second `record` of one (issuer, jti). */
export function replayed(signal: Pick<NewSignal, "issuer" | "jti">): StoreError {
  return new StoreError(
    "signal/replayed",
    "already-exists",
    `a SET from ${signal.issuer} with jti ${JSON.stringify(signal.jti)} was received before; it is not applied again (a transmitter must give each SET a new jti)`,
    { issuer: signal.issuer, jti: signal.jti },
  );
}
