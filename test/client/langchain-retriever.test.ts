/**
 * The LangChain retriever: for random corpora and random authorization data, what it returns
 * equals the inner store's ranking filtered by Check, in order, exactly k when the store holds k
 * authorized chunks, for every strategy; never a chunk the reader may not read.
 */
import { Document, type DocumentInterface } from "@langchain/core/documents";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HashEmbeddings, SyntheticVectorStore } from "../../bench/synthetic-vector-store.js";
import { createEmbedded } from "../../src/client/index.js";
import { LatchRetriever, type RetrievalReport } from "../../src/client/langchain/index.js";

const SCHEMA = `definition agent {}
definition user {
  relation delegate: agent
}
definition document {
  relation viewer: user | user:* | agent
  relation banned: user
  permission read = viewer - banned
}`;

const WORDS = ["plan", "budget", "phoenix", "launch", "risk", "memo", "q3", "hiring"];
const USERS = ["u0", "u1", "u2"];

const scenario = fc.record({
  docs: fc.integer({ min: 1, max: 12 }),
  chunks: fc.array(
    fc.record({
      doc: fc.nat(11),
      words: fc.array(fc.constantFrom(...WORDS), { minLength: 1, maxLength: 4 }),
    }),
    { minLength: 4, maxLength: 40 },
  ),
  grants: fc.array(
    fc.record({
      doc: fc.nat(11),
      kind: fc.constantFrom("viewer", "viewer", "viewer", "banned", "wildcard", "agent"),
      user: fc.constantFrom(...USERS),
    }),
    { minLength: 4, maxLength: 30 },
  ),
  query: fc.array(fc.constantFrom(...WORDS), { minLength: 1, maxLength: 3 }),
  k: fc.integer({ min: 1, max: 8 }),
  reader: fc.constantFrom(...USERS),
  viaAgent: fc.boolean(),
  preFilterMax: fc.integer({ min: 0, max: 6 }),
});

describe("LatchRetriever", () => {
  it("equals the store's ranking filtered by Check, in order, for every strategy", async () => {
    const seen = { nonEmpty: 0, dropped: 0, pre: 0, post: 0 };
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const client = await createEmbedded({ database: ":memory:", schema: SCHEMA, audit: false });
        try {
          const lines = s.grants.map((g) => {
            const doc = `document:d${g.doc % s.docs}`;
            if (g.kind === "wildcard") return `${doc}#viewer@user:*`;
            if (g.kind === "agent") return `${doc}#viewer@agent:bot`;
            return `${doc}#${g.kind}@user:${g.user}`;
          });
          if (lines.length > 0) {
            await client.writeRelationships({
              updates: [...new Set(lines)].map((relationship) => ({ operation: "touch", relationship })),
            });
          }
          await client.writeRelationships({
            updates: [{ operation: "touch", relationship: `user:${s.reader}#delegate@agent:bot` }],
          });
          const store = new SyntheticVectorStore();
          await store.addDocuments(
            s.chunks.map(
              (c, i) =>
                new Document({
                  pageContent: c.words.join(" "),
                  metadata: { chunk: i, doc: `d${c.doc % s.docs}` },
                }),
            ),
          );
          const who = s.viaAgent
            ? { subject: "agent:bot", onBehalfOf: [`user:${s.reader}`] }
            : { subject: `user:${s.reader}` };
          const query = s.query.join(" ");
          // The oracle: the whole ranking, each chunk's document checked one by one.
          const ranking = await store.similaritySearch(query, store.size);
          const expected: DocumentInterface[] = [];
          for (const chunk of ranking) {
            const answer = await client.check({
              resource: `document:${chunk.metadata.doc}`,
              permission: "read",
              ...who,
            });
            if (answer.state === "ALLOWED") expected.push(chunk);
          }
          const want = expected.slice(0, s.k).map((d) => d.metadata.chunk);
          if (want.length > 0) seen.nonEmpty++;
          for (const strategy of ["post-filter", "pre-filter", "auto"] as const) {
            const reports: RetrievalReport[] = [];
            const retriever = new LatchRetriever({
              client,
              source: store,
              ...who,
              permission: "read",
              resourceType: "document",
              resourceId: (d) => d.metadata.doc as string,
              k: s.k,
              strategy,
              overFetch: 1,
              preFilter: (ids) => (d: DocumentInterface) => ids.has(d.metadata.doc as string),
              preFilterMax: s.preFilterMax,
              onRetrieval: (r) => reports.push(r),
            });
            const got = await retriever.invoke(query);
            expect(
              got.map((d) => d.metadata.chunk),
              strategy,
            ).toEqual(want);
            const report = reports[0]!;
            expect(report.returned).toBe(want.length);
            expect(report.incomplete).toBe(false);
            expect(report.retrievalId).toMatch(/^retrieval:/);
            if (strategy !== "auto") expect(report.strategy).toBe(strategy);
            seen[report.strategy === "pre-filter" ? "pre" : "post"]++;
            seen.dropped += report.dropped;
          }
        } finally {
          await client.close();
        }
      }),
      { numRuns: 40 },
    );
    // The generator must exercise both paths and real filtering, or the comparison proves little.
    expect(seen.nonEmpty).toBeGreaterThan(5);
    expect(seen.dropped).toBeGreaterThan(0);
    expect(seen.pre).toBeGreaterThan(40);
    expect(seen.post).toBeGreaterThan(40);
  });

  it("says so when post-filtering stops at maxCandidates with fewer than k", async () => {
    const client = await createEmbedded({ database: ":memory:", schema: SCHEMA, audit: false });
    try {
      await client.writeRelationships({
        updates: [{ operation: "touch", relationship: "document:d9#viewer@user:u0" }],
      });
      const store = new SyntheticVectorStore();
      await store.addDocuments(
        Array.from(
          { length: 50 },
          (_, i) => new Document({ pageContent: `memo ${i}`, metadata: { doc: `d${i}` } }),
        ),
      );
      const reports: RetrievalReport[] = [];
      const retriever = new LatchRetriever({
        client,
        source: store,
        subject: "user:u0",
        permission: "read",
        resourceType: "document",
        resourceId: (d) => d.metadata.doc as string,
        k: 2,
        maxCandidates: 5,
        onRetrieval: (r) => reports.push(r),
      });
      const got = await retriever.invoke("memo");
      expect(got.every((d) => d.metadata.doc === "d9")).toBe(true);
      expect(reports[0]).toMatchObject({ strategy: "post-filter", incomplete: true });
      expect(retriever.stats()).toEqual({
        retrievals: 1,
        preFiltered: 0,
        postFiltered: 1,
        fetched: reports[0]!.fetched,
        dropped: reports[0]!.dropped,
        returned: reports[0]!.returned,
        incomplete: 1,
      });
      // A pre-filter needs no candidates beyond the authorized set: it finds d9's chunk.
      const pre = new LatchRetriever({
        client,
        source: store,
        subject: "user:u0",
        permission: "read",
        resourceType: "document",
        resourceId: (d) => d.metadata.doc as string,
        k: 2,
        preFilter: (ids) => (d: DocumentInterface) => ids.has(d.metadata.doc as string),
      });
      const retrieval = await pre.retrieve("memo");
      expect(retrieval.documents.map((d) => d.metadata.doc)).toEqual(["d9"]);
      expect(retrieval.report).toMatchObject({
        strategy: "pre-filter",
        authorizedResources: 1,
        incomplete: false,
      });
    } finally {
      await client.close();
    }
  });

  it("holds every pre-filtered chunk against the authorized set, whatever the store's filter does", async () => {
    const client = await createEmbedded({ database: ":memory:", schema: SCHEMA, audit: false });
    try {
      await client.writeRelationships({
        updates: [{ operation: "touch", relationship: "document:ok#viewer@user:u0" }],
      });
      const store = new SyntheticVectorStore();
      await store.addDocuments([
        new Document({ pageContent: "phoenix plan", metadata: { doc: "secret" } }),
        new Document({ pageContent: "phoenix plan", metadata: { doc: "ok" } }),
      ]);
      const retriever = new LatchRetriever({
        client,
        source: store,
        subject: "user:u0",
        permission: "read",
        resourceType: "document",
        resourceId: (d) => d.metadata.doc as string,
        k: 2,
        strategy: "pre-filter",
        // A broken filter that lets everything through.
        preFilter: () => () => true,
      });
      const retrieval = await retriever.retrieve("phoenix");
      expect(retrieval.documents.map((d) => d.metadata.doc)).toEqual(["ok"]);
      expect(retrieval.report.dropped).toBe(1);
    } finally {
      await client.close();
    }
  });

  it("names each retrieval in the decision audit trail", async () => {
    const client = await createEmbedded({ database: ":memory:", schema: SCHEMA, audit: { policy: "all" } });
    try {
      await client.writeRelationships({
        updates: [{ operation: "touch", relationship: "document:d1#viewer@user:u0" }],
      });
      const store = new SyntheticVectorStore();
      await store.addDocuments([new Document({ pageContent: "memo", metadata: { doc: "d1" } })]);
      const reports: RetrievalReport[] = [];
      await new LatchRetriever({
        client,
        source: store,
        subject: "user:u0",
        permission: "read",
        resourceType: "document",
        resourceId: (d) => d.metadata.doc as string,
        k: 1,
        onRetrieval: (r) => reports.push(r),
      }).invoke("memo");
      await client.recorder?.flush();
      const page = await client.queryDecisions({});
      expect(page.decisions.map((d) => d.record.requestId)).toContain(reports[0]!.retrievalId);
    } finally {
      await client.close();
    }
  });

  it("embeds deterministically, so rankings repeat", async () => {
    const e = new HashEmbeddings();
    expect(await e.embedQuery("phoenix plan")).toEqual(await e.embedQuery("phoenix plan"));
  });
});
