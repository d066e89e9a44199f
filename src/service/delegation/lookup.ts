/**
 * LookupResources with a chain: the resources every part allows. One lookup drives (the subject's,
 * or the first principal's when the subject's grants are not required), and each batch of its
 * results is checked for the other parts in one CheckBulk at the lookup's revision, so results
 * stream in the driver's order and the driver's cursor resumes them exactly (a resource the
 * parts refuse is skipped again on resume).
 *
 * A link ("P delegates to its actor") names no resource, except through the context Latch gives
 * its caveat. It is asked once with `requested_permission` and `resource_type` and without
 * `resource_id`: ALLOWED or DENIED there holds for every resource (partial evaluation decides only
 * what no missing value could change), as does CONDITIONAL on other parameters; only a link left
 * CONDITIONAL on `resource_id` is asked again per resource.
 *
 * Asked for witnesses (`witness: true`, as the audit trail asks), every part is asked for its own,
 * and each result carries them as a delegated Check's answer does (delegation.ts): the permission's
 * (the driver's, then each principal's), then each link's, the delegation relationships.
 */

import { isLatchError, LatchError } from "../../core/index.js";
import {
  type CheckBulkItem,
  type CheckBulkItemResult,
  type CheckBulkResult,
  type Consistency,
  cursorToken,
  type LookupResourceResult,
  type LookupResourcesRequest,
  type RequestOptions,
  type Witness,
} from "../../engine/index.js";
import type { Decider } from "../decider.js";
import { type Chain, checkChain } from "./chain.js";
import {
  type Answer,
  and,
  linkPart,
  ownPart,
  type Part,
  type PermissionOf,
  partContext,
  partError,
  RESOURCE_ID,
  WitnessUnion,
} from "./parts.js";

// Small at first: the driver streams, and its first results should not wait for 64 of them.
const FIRST_BATCH = 16;
const MAX_BATCH = 512;

/** The links asked once: a verdict for every resource, or `undefined` where it depends on one. */
async function linksOnce(
  next: Decider,
  request: LookupResourcesRequest,
  chain: Chain,
  permissionOf: PermissionOf,
  consistency: Consistency | undefined,
  options: RequestOptions | undefined,
): Promise<{ readonly links: readonly (Answer | undefined)[]; readonly answer: CheckBulkResult }> {
  const where = { resourceType: request.resourceType, permission: request.permission, resourceId: undefined };
  const parts = chain.principals.map((_, i) =>
    linkPart(chain, i, request.subject, permissionOf, where, request),
  );
  const answer = await next.checkBulk(
    {
      items: parts.map((p) => p.item),
      ...(consistency === undefined ? {} : { consistency }),
      ...(request.witness === true ? { witness: true } : {}),
    },
    options,
  );
  const links = await Promise.all(
    answer.results.map(async (r, i) => {
      if (!r.ok) throw await partError(next, parts[i]!, answer.token, r.error, chain.principals, "", options);
      return r.state === "CONDITIONAL" && r.missing.includes(RESOURCE_ID) ? undefined : r;
    }),
  );
  return { links, answer };
}

/** The parts a driver result still needs, for one resource. */
function partsFor(
  request: LookupResourcesRequest,
  chain: Chain,
  links: readonly (Answer | undefined)[],
  permissionOf: PermissionOf,
  resourceId: string,
): Part[] {
  const parts: Part[] = [];
  const resource = { type: request.resourceType, id: resourceId };
  const where = { resourceType: request.resourceType, permission: request.permission, resourceId };
  chain.principals.forEach((principal, i) => {
    if (links[i] === undefined) parts.push(linkPart(chain, i, request.subject, permissionOf, where, request));
    // Without the subject's grants, the first principal drives: its own part is the driver's.
    if (i > 0 || chain.subjectRequired) {
      parts.push({
        from: { kind: "principal", index: i },
        item: ownPart(resource, request.permission, principal, request),
      });
    }
  });
  return parts;
}

/**
 * A result's witness, in the order a delegated Check's has it (`witnessOf`): the driver's, each
 * principal's, then each link's by its place in the chain (asked once, or for this resource).
 */
function resultWitness(
  driven: LookupResourceResult,
  links: readonly (Answer | undefined)[],
  parts: readonly Part[],
  answers: readonly CheckBulkItemResult[],
): Witness {
  const witnesses = new WitnessUnion();
  const add = (witness: Witness | undefined) => witnesses.add(witness);
  const of = (answer: Answer | CheckBulkItemResult | undefined) =>
    (answer as { readonly witness?: Witness } | undefined)?.witness;
  add(driven.witness);
  parts.forEach((part, i) => {
    if (part.from.kind === "principal") add(of(answers[i]));
  });
  links.forEach((once, index) => {
    if (once !== undefined) add(of(once));
    else {
      const at = parts.findIndex((p) => p.from.kind === "link" && p.from.index === index);
      if (at >= 0) add(of(answers[at]));
    }
  });
  return witnesses.out;
}

/** Checks one batch of driver results; yields those every part allows, in order. */
async function* settle(
  next: Decider,
  request: LookupResourcesRequest,
  chain: Chain,
  links: readonly (Answer | undefined)[],
  permissionOf: PermissionOf,
  batch: readonly LookupResourceResult[],
  options: RequestOptions | undefined,
): AsyncGenerator<LookupResourceResult, void, undefined> {
  const token = batch[0]!.token;
  const perResource = batch.map((r) => partsFor(request, chain, links, permissionOf, r.resourceId));
  const items: CheckBulkItem[] = perResource.flatMap((parts) => parts.map((p) => p.item));
  const answer =
    items.length === 0
      ? undefined
      : await next.checkBulk(
          {
            items,
            consistency: { kind: "at-exact-snapshot", token },
            ...(request.witness === true ? { witness: true } : {}),
          },
          options,
        );
  let at = 0;
  for (let b = 0; b < batch.length; b++) {
    const driven = batch[b]!;
    const verdicts: Answer[] = [driven];
    for (const v of links) if (v !== undefined) verdicts.push(v);
    const answers: CheckBulkItemResult[] = [];
    for (const part of perResource[b]!) {
      const r = answer!.results[at++]!;
      if (!r.ok) throw await partError(next, part, token, r.error, chain.principals, "", options);
      verdicts.push(r);
      answers.push(r);
    }
    const verdict = and(verdicts);
    if (verdict.state === "DENIED") continue;
    const { state, missing } = verdict;
    yield request.witness === true
      ? Object.assign({}, driven, {
          state,
          missing,
          witness: resultWitness(driven, links, perResource[b]!, answers),
        })
      : Object.assign({}, driven, { state, missing });
  }
}

/** As the engine says it: the cursor to resume from, when a result was given. */
function aborted(cursor: string | undefined): LatchError {
  return new LatchError(
    "request/deadline-exceeded",
    "deadline-exceeded",
    cursor === undefined
      ? "the lookup was aborted before its first result"
      : "the lookup was aborted; resume it with the cursor in details.cursor",
    cursor === undefined ? {} : { cursor },
  );
}

function checkLimit(limit: number | undefined): void {
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
    throw new LatchError(
      "lookup/invalid-limit",
      "invalid-argument",
      "the limit must be a non-negative integer",
      {
        limit,
      },
    );
  }
}

export async function* lookupDelegated(
  next: Decider,
  request: LookupResourcesRequest,
  permissionOf: PermissionOf,
  maxBulkItems: number,
  options: RequestOptions | undefined,
): AsyncGenerator<LookupResourceResult, void, undefined> {
  const chain = checkChain(request.subject, request.onBehalfOf ?? [], request.subjectGrants);
  checkLimit(request.limit);
  if (request.limit === 0) return;
  let lastCursor = request.cursor;
  let emitted = 0;
  try {
    // The links are asked first, at the revision the lookup will read (the cursor's, when
    // resuming), so a bad chain is refused even when nothing would be found.
    const pinned = request.cursor === undefined ? undefined : cursorToken(request.cursor);
    const once = await linksOnce(
      next,
      request,
      chain,
      permissionOf,
      pinned === undefined ? request.consistency : { kind: "at-exact-snapshot", token: pinned },
      options,
    );
    const links = once.links;
    if (links.some((v) => v?.state === "DENIED")) return;
    // A cursor pins its own revision; without one, the lookup reads the links' revision.
    const consistency: Consistency | undefined =
      request.cursor === undefined ? { kind: "at-exact-snapshot", token: once.answer.token } : undefined;
    const drives = chain.subjectRequired ? request.subject : chain.principals[0]!;
    const drivesContext = partContext(request, drives);
    const driver = next.lookupResources(
      {
        resourceType: request.resourceType,
        permission: request.permission,
        subject: drives,
        ...(drivesContext === undefined ? {} : { context: drivesContext }),
        ...(consistency === undefined ? {} : { consistency }),
        ...(request.cursor === undefined ? {} : { cursor: request.cursor }),
        ...(request.witness === true ? { witness: true } : {}),
      },
      options,
    );
    // Each result costs at most 2 x 8 parts: keep a batch within one CheckBulk.
    const perResult = 2 * chain.principals.length;
    const cap = Math.max(1, Math.min(MAX_BATCH, Math.floor(maxBulkItems / Math.max(1, perResult))));
    let size = Math.min(FIRST_BATCH, cap);
    let batch: LookupResourceResult[] = [];
    const flush = async function* (): AsyncGenerator<LookupResourceResult, boolean, undefined> {
      const current = batch;
      batch = [];
      size = Math.min(size * 4, cap);
      for await (const result of settle(next, request, chain, links, permissionOf, current, options)) {
        if (options?.signal?.aborted) throw aborted(lastCursor);
        lastCursor = result.cursor;
        yield result;
        if (request.limit !== undefined && ++emitted >= request.limit) return true;
      }
      return false;
    };
    for await (const result of driver) {
      batch.push(result);
      if (batch.length >= size && (yield* flush())) return;
    }
    if (batch.length > 0) yield* flush();
  } catch (e) {
    // The driver's cursor may be past results still in the batch: resume after the last one given.
    if (isLatchError(e) && e.code === "request/deadline-exceeded") {
      const details = { ...e.details };
      if (lastCursor === undefined) delete details.cursor;
      else details.cursor = lastCursor;
      throw new LatchError(e.code, e.kind, e.message, details, { cause: e });
    }
    throw e;
  }
}
