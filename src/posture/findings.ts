/**
 * The findings, each computed from facts gathered beforehand (report.ts gathers them): pure
 * functions, one per kind, so each rule reads as what it says. At most one finding per identity
 * and kind (per permission for drift), carrying every relationship or decision behind it.
 */
import { type Relationship, formatRelationshipWithoutContext as rel } from "../core/index.js";
import type { PostureConfig } from "./config.js";
import type { IdentityFacts, Inventory } from "./inventory.js";
import type { ReachTable } from "./reach.js";
import type { DriftEntry, Finding, Severity } from "./types.js";

const DAY_MS = 86_400_000;

export function orphanFinding(
  f: IdentityFacts,
  config: PostureConfig,
  inventory: Inventory,
  suspended: ReadonlySet<string>,
): Finding | undefined {
  if (f.owners.length === 0)
    return {
      kind: "orphan-identity",
      identity: f.key,
      severity: "high",
      message: `${f.key} has no owner: nobody answers for what it does`,
      evidence: [...f.grants, ...f.delegations].map(rel),
      fix: `give it an owner (${f.key}#${config.identities.get(f.type)}@...) or delete it and its grants`,
    };
  const owners = f.owners.map((o) => `${o.subject.type}:${o.subject.id}`);
  const gone = owners.filter((o) => !inventory.presentOwners.has(o));
  const off = owners.filter((o) => suspended.has(o));
  // An identity is orphaned when no owner is left in good standing.
  if (gone.length + off.length < owners.length) return undefined;
  const why = [
    ...(gone.length > 0
      ? [`${gone.join(", ")} appear${gone.length === 1 ? "s" : ""} in no other relationship (deleted)`]
      : []),
    ...(off.length > 0 ? [`${off.join(", ")} ${off.length === 1 ? "is" : "are"} suspended`] : []),
  ];
  return {
    kind: "orphan-identity",
    identity: f.key,
    severity: "high",
    message: `${f.key}'s owner is gone: ${why.join("; ")}`,
    evidence: f.owners.map(rel),
    fix: "hand the identity to an active owner, or delete it and its grants",
  };
}

export function ownerLostAccessFinding(
  f: IdentityFacts,
  denied: readonly { grant: Relationship; owner: string; permission: string }[],
): Finding | undefined {
  if (denied.length === 0) return undefined;
  const owners = [...new Set(denied.map((d) => d.owner))];
  return {
    kind: "owner-lost-access",
    identity: f.key,
    severity: "high",
    message: `${f.key} holds ${denied.length} grant${denied.length === 1 ? "" : "s"} on objects its owner ${owners.join(", ")} can no longer access`,
    evidence: [...denied.map((d) => rel(d.grant)), ...f.owners.map(rel)],
    fix: "remove the grants (an identity should never reach more than its owner), or restore the owner's access if it was lost by mistake",
  };
}

export function nonExpiringFinding(f: IdentityFacts, config: PostureConfig, now: Date): Finding | undefined {
  const limit = now.getTime() + config.thresholds.maxGrantDays * DAY_MS;
  const all = [...f.grants, ...f.delegations];
  const never = all.filter((r) => r.expiration === undefined);
  const late = all.filter((r) => r.expiration !== undefined && r.expiration.getTime() > limit);
  if (never.length + late.length === 0) return undefined;
  const severity: Severity = never.length > 0 ? "medium" : "low";
  const parts = [
    ...(never.length > 0 ? [`${never.length} never expire`] : []),
    ...(late.length > 0
      ? [`${late.length} expire more than ${config.thresholds.maxGrantDays} days from now`]
      : []),
  ];
  return {
    kind: "non-expiring-grant",
    identity: f.key,
    severity,
    message: `${f.key}: of its grants and delegations, ${parts.join(" and ")}`,
    evidence: [...never, ...late].map(rel),
    fix: `rewrite them with an expiration at most ${config.thresholds.maxGrantDays} days ahead ([expiration:...]) and renew them when still needed`,
  };
}

export function overBroadFinding(
  f: IdentityFacts,
  config: PostureConfig,
  inventory: Inventory,
  reach: ReachTable,
): Finding | undefined {
  const mine = reach.get(f.key);
  if (mine === undefined) return undefined;
  const reasons: string[] = [];
  let sensitive = 0;
  for (const m of config.reach) {
    const name = `${m.type}#${m.name}`;
    const r = mine.get(name);
    const total = inventory.objectCounts.get(m.type) ?? 0;
    if (r === undefined || total === 0) continue;
    sensitive = Math.max(sensitive, r.sensitive);
    if (r.reached / total > config.thresholds.overbroadShare)
      reasons.push(`${name} reaches ${r.reached} of ${total} (${Math.round((100 * r.reached) / total)}%)`);
  }
  const broad = [
    ...f.grants.filter((g) => config.broadTypes.includes(g.resource.type)),
    ...(inventory.wildcardGrants.get(f.type) ?? []),
  ];
  const sensitiveBroad = sensitive > 0 && broad.length > 0;
  if (sensitiveBroad)
    reasons.unshift(
      `reaches ${sensitive} sensitive object${sensitive === 1 ? "" : "s"} while holding organization-wide or wildcard grants`,
    );
  if (reasons.length === 0) return undefined;
  return {
    kind: "over-broad-reach",
    identity: f.key,
    severity: sensitiveBroad ? "high" : "medium",
    message: `${f.key} ${reasons.join("; ")} (limit ${Math.round(config.thresholds.overbroadShare * 100)}%)`,
    evidence: (sensitiveBroad ? broad : f.grants).map(rel),
    fix: sensitiveBroad
      ? "replace organization-wide and wildcard grants with grants on the folders or documents the identity needs"
      : "narrow its grants to what its task needs",
  };
}

export function unusedFinding(
  f: IdentityFacts,
  config: PostureConfig,
  witnesses: ReadonlySet<string>,
): Finding | undefined {
  const unused = f.grants.filter((g) => !witnesses.has(rel(g)));
  if (unused.length === 0) return undefined;
  return {
    kind: "unused-grant",
    identity: f.key,
    severity: "low",
    message: `${f.key}: ${unused.length} grant${unused.length === 1 ? "" : "s"} proved no ALLOWED decision in the last ${config.thresholds.unusedDays} days`,
    evidence: unused.map(rel),
    fix: "remove grants the identity does not use; it can ask again when it needs them",
  };
}

export function driftFindings(
  f: IdentityFacts,
  changes: readonly DriftEntry[],
  config: PostureConfig,
  previousRevision: string,
  added: readonly Relationship[],
): Finding[] {
  const out: Finding[] = [];
  for (const c of changes) {
    if (c.after <= c.before || c.after <= c.before * (1 + config.thresholds.driftShare)) continue;
    out.push({
      kind: "drift",
      identity: f.key,
      severity: "medium",
      message: `${f.key}'s ${c.permission} reach grew from ${c.before} to ${c.after} since revision ${previousRevision} (limit +${Math.round(config.thresholds.driftShare * 100)}%)`,
      evidence: added.map(rel),
      fix: "review the grants written since the previous report; remove the ones nobody asked for",
    });
  }
  return out;
}

export function riskyDelegationFinding(
  f: IdentityFacts,
  config: PostureConfig,
  longChains: readonly string[],
): Finding | undefined {
  const unscoped = f.delegations.filter(
    (d) => d.caveat === undefined || !config.scopeCaveats.includes(d.caveat.name),
  );
  // An identity delegating to an identity makes a chain of two or more principals.
  const chained = f.delegations.filter((d) => config.identities.has(d.resource.type));
  const tooLong = config.maxChain < 2 ? chained : [];
  if (unscoped.length + tooLong.length + longChains.length === 0) return undefined;
  const parts = [
    ...(tooLong.length + longChains.length > 0
      ? [`acts in on-behalf-of chains longer than ${config.maxChain}`]
      : []),
    ...(unscoped.length > 0
      ? [
          `has ${unscoped.length} delegation${unscoped.length === 1 ? "" : "s"} without a scope caveat (${config.scopeCaveats.join(", ") || "none configured"})`,
        ]
      : []),
  ];
  return {
    kind: "risky-delegation",
    identity: f.key,
    severity: tooLong.length + longChains.length > 0 ? "high" : "medium",
    message: `${f.key} ${parts.join("; ")}`,
    evidence: [...new Set([...tooLong, ...unscoped].map(rel)), ...longChains],
    fix: "delegate through a scope caveat naming the permissions the identity may use, and never through another identity",
  };
}
