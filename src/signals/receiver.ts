/**
 * Receiving a signal: verify the SET, refuse a replay, work out every effect from the rules, and
 * only then write. Every check that can refuse the SET runs before the first write, so a refused
 * SET changes nothing. Relationship deletions (each one write at its own revision) come first and
 * the signal's record with its subject state changes (one write, one revision) last: a failure in
 * between leaves the jti unrecorded, so the transmitter's retry applies the signal again, and
 * every action is idempotent (deleting what is gone, suspending the suspended).
 */
import type { Revision } from "../core/index.js";
import type { RelationshipFilter, SignalEffect, Store, SubjectStateChange } from "../store/index.js";
import { KNOWN_EVENT_TYPES } from "./events.js";
import type { SignalAction, SignalRules } from "./rules.js";
import type { SubjectStates } from "./subject-states.js";
import { resolveSubjects } from "./subjects.js";
import { type SetVerifier, signalError, type VerifiedSet } from "./verify.js";

export interface SignalReceiverOptions {
  readonly store: Store;
  readonly verify: SetVerifier;
  /** The rules in force (read per signal). */
  readonly rules: () => SignalRules;
  /** Brought up to each signal's revision, so this replica's next check needs no store read. */
  readonly states?: SubjectStates;
  readonly now?: () => number;
  /** Told of each signal received and of each refused (for logs and metrics). */
  readonly onReceived?: (receipt: SignalReceipt) => void;
  readonly onRefused?: (error: unknown) => void;
}

export interface SignalReceipt {
  readonly issuer: string;
  readonly jti: string;
  /** The signal's revision: every effect is visible at it (`at_least_as_fresh` of `token`). */
  readonly revision: Revision;
  readonly token: string;
  readonly effects: readonly SignalEffect[];
}

export interface SignalReceiver {
  /** Verifies and applies one SET (compact JWS); throws a `signal/*` LatchError when refused. */
  receive(set: string, via: "push" | "api" | "cli"): Promise<SignalReceipt>;
  readonly stats: { received: number; refused: number; replays: number };
}

interface Planned {
  readonly effects: SignalEffect[];
  readonly changes: SubjectStateChange[];
  readonly deletes: {
    readonly effect: number;
    readonly filter: RelationshipFilter;
    readonly event: string;
  }[];
}

/** A dot path into an event's payload (`current_level`, `claims.risk`). */
function claimAt(event: Readonly<Record<string, unknown>>, path: string): unknown {
  let value: unknown = event;
  for (const part of path.split(".")) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function ref(subject: string): { type: string; id: string } {
  const colon = subject.indexOf(":");
  return { type: subject.slice(0, colon), id: subject.slice(colon + 1) };
}

function filtersOf(action: SignalAction, subject: string): RelationshipFilter[] {
  const { type, id } = ref(subject);
  if (action.kind === "delete-relationships") {
    const narrow = {
      ...(action.resourceType === undefined ? {} : { resourceType: action.resourceType }),
      ...(action.relation === undefined ? {} : { relation: action.relation }),
    };
    return action.on === "resource"
      ? [{ ...narrow, resourceType: type, resourceId: id }]
      : [{ ...narrow, subject: { type, id } }];
  }
  if (action.kind === "revoke-delegations") {
    return action.relations.flatMap((relation) => [
      { resourceType: type, resourceId: id, relation },
      { relation, subject: { type, id } },
    ]);
  }
  return [];
}

/** Every effect of a verified SET, or a `signal/invalid-request` error: nothing written yet. */
function plan(set: VerifiedSet, rules: SignalRules): Planned {
  const planned: Planned = { effects: [], changes: [], deletes: [] };
  for (const [type, event] of Object.entries(set.events)) {
    const actions = rules.events.get(type);
    if (actions === undefined) {
      const note = KNOWN_EVENT_TYPES.has(type) ? "no rule for this event type" : "unknown event type";
      planned.effects.push({ event: type, action: "ignored", note });
      continue;
    }
    // SSF 1.0 puts the subject at the top (`sub_id`); earlier drafts in each event (`subject`).
    const identifier = event.subject ?? set.subId;
    const subjects = resolveSubjects(rules, identifier);
    if (subjects.length === 0) {
      const note =
        identifier === undefined
          ? "the SET names no subject"
          : "no subject mapping matches the subject identifier";
      planned.effects.push({ event: type, action: "ignored", note });
      continue;
    }
    for (const subject of subjects) {
      for (const action of actions) {
        if (action.kind === "suspend") {
          planned.changes.push({ kind: "suspend", subject, reason: type });
        } else if (action.kind === "resume") {
          planned.changes.push({ kind: "resume", subject });
        } else if (action.kind === "set-attributes") {
          const attributes: Record<string, unknown> = {};
          for (const [name, source] of action.attributes) {
            const value = "value" in source ? source.value : claimAt(event, source.claim);
            if (value === undefined)
              throw signalError(
                "signal/invalid-request",
                `the event ${type} lacks \`${"claim" in source ? source.claim : name}\`, which the rules read for attribute ${name}`,
                { event: type },
              );
            attributes[name] = value;
          }
          planned.changes.push({ kind: "set-attributes", subject, attributes });
        } else {
          planned.effects.push({ event: type, action: action.kind, subject, deleted: 0 });
          for (const filter of filtersOf(action, subject))
            planned.deletes.push({ effect: planned.effects.length - 1, filter, event: type });
          continue;
        }
        planned.effects.push({ event: type, action: action.kind, subject });
      }
    }
  }
  return planned;
}

export function createSignalReceiver(options: SignalReceiverOptions): SignalReceiver {
  const { store } = options;
  const now = options.now ?? Date.now;
  const stats = { received: 0, refused: 0, replays: 0 };

  async function receive(token: string, via: "push" | "api" | "cli"): Promise<SignalReceipt> {
    const set = await options.verify(token);
    if (await store.signals.seen(set.issuer, set.jti))
      throw signalError(
        "signal/replayed",
        `a SET from ${set.issuer} with jti ${JSON.stringify(set.jti)} was received before; it is not applied again`,
        { issuer: set.issuer, jti: set.jti },
      );
    const planned = plan(set, options.rules());
    const effects = planned.effects.map((e) => ({ ...e }));
    for (const { effect, filter, event } of planned.deletes) {
      const { deleted } = await store.deleteRelationships(filter, {
        metadata: { signal: { issuer: set.issuer, jti: set.jti, event } },
      });
      const target = effects[effect]!;
      effects[effect] = { ...target, deleted: (target.deleted ?? 0) + deleted };
    }
    const revision = await store.signals.record(
      { issuer: set.issuer, jti: set.jti, receivedAt: now(), via, events: Object.keys(set.events), effects },
      planned.changes,
    );
    await options.states?.ensure(revision);
    return { issuer: set.issuer, jti: set.jti, revision, token: store.encodeRevision(revision), effects };
  }

  return {
    async receive(token, via) {
      try {
        const receipt = await receive(token, via);
        stats.received++;
        options.onReceived?.(receipt);
        return receipt;
      } catch (error) {
        stats.refused++;
        if ((error as { code?: unknown }).code === "signal/replayed") stats.replays++;
        options.onRefused?.(error);
        throw error;
      }
    },
    stats,
  };
}
