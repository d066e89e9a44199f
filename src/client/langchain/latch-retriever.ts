/**
 * A LangChain.js retriever that never hands the model a chunk its reader may not read. It wraps a
 * vector store (or any ranked search) and asks Latch, through the client interface, so it works
 * the same over gRPC and in embedded mode.
 *
 * Two ways to get k authorized chunks, both returning exactly the inner ranking filtered by Check:
 * - post-filter: fetch more than k, CheckBulk the candidates, fetch more while fewer than k pass
 *   and the store has more; for readers who may read much of the corpus;
 * - pre-filter: LookupResources once, handed to the store as its metadata filter; for readers who
 *   may read little of it, where post-filtering would fetch most of the store to find k.
 * `auto` measures the authorized set (LookupResources with a limit) and picks.
 */
import { randomUUID } from "node:crypto";
import type { CallbackManagerForRetrieverRun } from "@langchain/core/callbacks/manager";
import type { DocumentInterface } from "@langchain/core/documents";
import { BaseRetriever, type BaseRetrieverInput } from "@langchain/core/retrievers";
import type { VectorStoreInterface } from "@langchain/core/vectorstores";
import type { Consistency, SubjectGrants } from "../../engine/index.js";
import type { LatchClient, SubjectInput } from "../types.js";

/** A ranked search: the best `n` chunks for the query, best first, within `filter` when given. */
export type RankedSearch<F> = (query: string, n: number, filter?: F) => Promise<DocumentInterface[]>;

export type RetrievalStrategy = "post-filter" | "pre-filter";

export interface LatchRetrieverOptions<F = unknown> extends BaseRetrieverInput {
  readonly client: Pick<LatchClient, "checkBulk" | "lookupResources">;
  /** The chunks: a LangChain vector store, or any ranked search. */
  readonly source: VectorStoreInterface | RankedSearch<F>;
  /** Who reads: the agent, e.g. `agent:planner`. */
  readonly subject: SubjectInput;
  /** On whose behalf, e.g. [`user:alice`] (docs/delegation.md). */
  readonly onBehalfOf?: readonly SubjectInput[];
  readonly subjectGrants?: SubjectGrants;
  /** The permission a chunk's resource must grant, e.g. `read` or `summarize`. */
  readonly permission: string;
  /** The type of the resources guarding chunks, e.g. `document`. */
  readonly resourceType: string;
  /** The id of the resource guarding a chunk; a chunk without one is never returned. */
  readonly resourceId: (chunk: DocumentInterface) => string | undefined;
  /** Chunks to return (LangChain's default, 4, when absent). */
  readonly k?: number;
  /** `auto` (default when `preFilter` is given, else `post-filter`). */
  readonly strategy?: "auto" | RetrievalStrategy;
  /** The store's metadata filter for a set of authorized resource ids; needed to pre-filter. */
  readonly preFilter?: (ids: ReadonlySet<string>) => F;
  /** `auto` pre-filters when the reader may read at most this many resources (default 1,000). */
  readonly preFilterMax?: number;
  /** Post-filter's first fetch is k times this (default 3); later ones grow with the drop rate. */
  readonly overFetch?: number;
  /** Post-filter stops asking past this many candidates and says so (default 10,000). */
  readonly maxCandidates?: number;
  /** Caveat context; without what a caveat needs, a CONDITIONAL answer counts as denied. */
  readonly context?: Readonly<Record<string, unknown>>;
  readonly consistency?: Consistency;
  /** Told after every retrieval what was fetched, dropped and returned. */
  readonly onRetrieval?: (report: RetrievalReport) => void;
}

export interface RetrievalReport {
  /** Names the retrieval: every decision it asked for carries it as its request id. */
  readonly retrievalId: string;
  readonly strategy: RetrievalStrategy;
  /** Chunks the source returned (post-filter: in the last, largest fetch). */
  readonly fetched: number;
  /** Fetched chunks withheld: not authorized, CONDITIONAL, unmapped or failing their check. */
  readonly dropped: number;
  readonly returned: number;
  /** The resources the reader may read, when it was measured (pre-filter and `auto`). */
  readonly authorizedResources?: number;
  /**
   * True when fewer than k were returned although the source may hold more authorized chunks:
   * post-filter reached `maxCandidates`. Never silent: raise it, or pre-filter.
   */
  readonly incomplete: boolean;
}

/** Running totals over every retrieval of one retriever, for a metrics exporter to read. */
export interface RetrieverStats {
  readonly retrievals: number;
  readonly preFiltered: number;
  readonly postFiltered: number;
  readonly fetched: number;
  readonly dropped: number;
  readonly returned: number;
  /** Retrievals that returned fewer than k while the source may hold more (see `incomplete`). */
  readonly incomplete: number;
}

export interface Retrieval {
  readonly documents: DocumentInterface[];
  readonly report: RetrievalReport;
}

const DEFAULT_K = 4;
const CHECK_CHUNK = 1000;

export class LatchRetriever<F = unknown> extends BaseRetriever {
  override lc_namespace = ["latch", "retrievers"];
  private readonly options: LatchRetrieverOptions<F>;
  private readonly search: RankedSearch<F>;
  private readonly totals = {
    retrievals: 0,
    preFiltered: 0,
    postFiltered: 0,
    fetched: 0,
    dropped: 0,
    returned: 0,
    incomplete: 0,
  };

  constructor(options: LatchRetrieverOptions<F>) {
    super(options);
    this.options = options;
    const source = options.source;
    this.search =
      typeof source === "function"
        ? source
        : (query, n, filter) => source.similaritySearch(query, n, filter as never);
    const strategy = options.strategy;
    if ((strategy === "pre-filter" || strategy === "auto") && options.preFilter === undefined) {
      throw new TypeError(`LatchRetriever: strategy "${strategy}" needs a preFilter (ids -> store filter)`);
    }
  }

  override async _getRelevantDocuments(
    query: string,
    _runManager?: CallbackManagerForRetrieverRun,
  ): Promise<DocumentInterface[]> {
    return (await this.retrieve(query)).documents;
  }

  /** Totals since this retriever was made: what was fetched, dropped and returned, and how. */
  stats(): RetrieverStats {
    return { ...this.totals };
  }

  /** The authorized chunks and how they were found. */
  async retrieve(query: string, signal?: AbortSignal): Promise<Retrieval> {
    const o = this.options;
    const k = o.k ?? DEFAULT_K;
    const retrievalId = `retrieval:${randomUUID()}`;
    const call = { requestId: retrievalId, ...(signal === undefined ? {} : { signal }) };
    const strategy = o.strategy ?? (o.preFilter === undefined ? "post-filter" : "auto");
    let retrieval: Retrieval;
    if (strategy === "post-filter") retrieval = await this.postFilter(query, k, retrievalId, call);
    else {
      const max = strategy === "auto" ? (o.preFilterMax ?? 1000) : undefined;
      const ids = await this.authorizedIds(max, call);
      retrieval =
        ids === undefined
          ? await this.postFilter(query, k, retrievalId, call)
          : await this.preFiltered(query, k, ids, retrievalId, call);
    }
    const { report } = retrieval;
    const t = this.totals;
    t.retrievals++;
    if (report.strategy === "pre-filter") t.preFiltered++;
    else t.postFiltered++;
    t.fetched += report.fetched;
    t.dropped += report.dropped;
    t.returned += report.returned;
    if (report.incomplete) t.incomplete++;
    o.onRetrieval?.(report);
    return retrieval;
  }

  /** Every resource the reader may read; undefined when there are more than `max`. */
  private async authorizedIds(
    max: number | undefined,
    call: { requestId: string; signal?: AbortSignal },
  ): Promise<Set<string> | undefined> {
    const o = this.options;
    const ids = new Set<string>();
    const results = o.client.lookupResources(
      {
        resourceType: o.resourceType,
        permission: o.permission,
        subject: o.subject,
        ...(o.onBehalfOf === undefined ? {} : { onBehalfOf: o.onBehalfOf }),
        ...(o.subjectGrants === undefined ? {} : { subjectGrants: o.subjectGrants }),
        ...(o.context === undefined ? {} : { context: o.context }),
        ...(o.consistency === undefined ? {} : { consistency: o.consistency }),
        ...(max === undefined ? {} : { limit: max + 1 }),
      },
      call,
    );
    for await (const r of results) if (r.state === "ALLOWED") ids.add(r.resourceId);
    return max !== undefined && ids.size > max ? undefined : ids;
  }

  private async preFiltered(
    query: string,
    k: number,
    ids: ReadonlySet<string>,
    retrievalId: string,
    call: { requestId: string; signal?: AbortSignal },
  ): Promise<Retrieval> {
    const o = this.options;
    // Check has the last word on the chunks returned: a lookup lists what the subject may reach,
    // while a check may gate it (APPROVAL_REQUIRED by an approval rule), as post-filter honours.
    // A gated resource leaves the set and the store is asked again, so that both strategies hand
    // the model the same k chunks: rarely more than one more search (a gated resource is rare).
    const allowed = new Set(ids);
    const decided = new Map<string, boolean>();
    let fetchedInAll = 0;
    for (;;) {
      const fetched = allowed.size === 0 ? [] : await this.search(query, k, o.preFilter!(allowed));
      fetchedInAll += fetched.length;
      // The store's filter is the caller's code: every chunk is held against the set all the same.
      const listed = fetched.filter((d) => {
        const id = o.resourceId(d);
        return id !== undefined && allowed.has(id);
      });
      await this.decide(listed, decided, call);
      const documents = listed.filter((d) => decided.get(o.resourceId(d)!) === true);
      const gated = listed.filter((d) => decided.get(o.resourceId(d)!) !== true);
      if (documents.length >= k || fetched.length < k || gated.length === 0) {
        return {
          documents: documents.slice(0, k),
          report: {
            retrievalId,
            strategy: "pre-filter",
            fetched: fetchedInAll,
            dropped: fetchedInAll - Math.min(k, documents.length),
            returned: Math.min(k, documents.length),
            authorizedResources: ids.size,
            incomplete: false,
          },
        };
      }
      for (const d of gated) allowed.delete(o.resourceId(d)!);
    }
  }

  private async postFilter(
    query: string,
    k: number,
    retrievalId: string,
    call: { requestId: string; signal?: AbortSignal },
  ): Promise<Retrieval> {
    const o = this.options;
    const max = Math.max(k, o.maxCandidates ?? 10_000);
    const decided = new Map<string, boolean>();
    let n = Math.min(max, Math.max(k, Math.ceil(k * (o.overFetch ?? 3))));
    for (;;) {
      const fetched = k === 0 ? [] : await this.search(query, n);
      await this.decide(fetched, decided, call);
      const documents = fetched.filter((d) => decided.get(o.resourceId(d) ?? "") === true);
      const exhausted = fetched.length < n;
      if (documents.length >= k || exhausted || n >= max) {
        return {
          documents: documents.slice(0, k),
          report: {
            retrievalId,
            strategy: "post-filter",
            fetched: fetched.length,
            dropped: fetched.length - documents.length,
            returned: Math.min(k, documents.length),
            incomplete: documents.length < k && !exhausted,
          },
        };
      }
      // Grow by the pass rate seen so far (with room to spare), at least doubling.
      const rate = documents.length / Math.max(1, fetched.length);
      n = Math.min(max, Math.max(n * 2, Math.ceil((k / Math.max(rate, 1 / n)) * 1.5)));
    }
  }

  /** Checks the resources of chunks not yet decided; only ALLOWED passes. */
  private async decide(
    chunks: readonly DocumentInterface[],
    decided: Map<string, boolean>,
    call: { requestId: string; signal?: AbortSignal },
  ): Promise<void> {
    const o = this.options;
    const pending: string[] = [];
    for (const chunk of chunks) {
      const id = o.resourceId(chunk);
      if (id === undefined || id === "") continue;
      if (!decided.has(id)) {
        decided.set(id, false);
        pending.push(id);
      }
    }
    for (let start = 0; start < pending.length; start += CHECK_CHUNK) {
      const ids = pending.slice(start, start + CHECK_CHUNK);
      const answer = await o.client.checkBulk(
        {
          items: ids.map((id) => ({
            resource: { type: o.resourceType, id },
            permission: o.permission,
            subject: o.subject,
            ...(o.onBehalfOf === undefined ? {} : { onBehalfOf: o.onBehalfOf }),
            ...(o.subjectGrants === undefined ? {} : { subjectGrants: o.subjectGrants }),
            ...(o.context === undefined ? {} : { context: o.context }),
          })),
          ...(o.consistency === undefined ? {} : { consistency: o.consistency }),
        },
        call,
      );
      answer.results.forEach((r, i) => {
        if (r.ok && r.state === "ALLOWED") decided.set(ids[i]!, true);
      });
    }
  }
}
