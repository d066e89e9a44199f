/** Conformance: the decision log (audit trail) as a hash chain with signed checkpoints. */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  canonicalJson,
  chainHash,
  DEFAULT_CHECKPOINT_EVERY,
  type DecisionRecord,
  GENESIS_HASH,
  type Store,
} from "../../../src/store/index.js";
import { checkSubjectReads } from "./decision-subjects.js";
import { rejection, type StoreFactory } from "./helpers.js";

const T0 = Date.parse("2026-05-15T14:00:00Z");

/** A record `i` seconds after T0; every record differs (request id). */
export function decision(i: number, overrides: Partial<DecisionRecord> = {}): DecisionRecord {
  return {
    time: new Date(T0 + i * 1_000).toISOString(),
    requestId: `req-${i}`,
    operation: "check",
    subject: i % 3 === 0 ? "agent:calendar-bot-v2" : `user:u${i % 5}`,
    ...(i % 3 === 0 ? { onBehalfOf: ["user:alice"] } : {}),
    resource: `room:${400 + (i % 7)}`,
    permission: "reserve",
    answer: i % 4 === 0 ? "DENIED" : "ALLOWED",
    latencyUs: 10 + i,
    // An allowed agent's record carries its witness, which the hash covers like any field.
    ...(i % 3 === 0 && i % 4 !== 0
      ? {
          witness: [
            `room:${400 + (i % 7)}#booker@user:alice`,
            "user:alice#delegate@agent:calendar-bot-v2[scoped_to]",
          ],
        }
      : {}),
    ...overrides,
  };
}

export const decisions = (from: number, to: number): DecisionRecord[] =>
  Array.from({ length: to - from }, (_, k) => decision(from + k));

export function decisionCases(factory: StoreFactory): void {
  let store: Store;
  beforeEach(async () => {
    store = await factory();
  });
  afterEach(async () => {
    await store.close();
  });

  describe("decision log", () => {
    it("verifies an empty log", async () => {
      expect(await store.decisions.verify()).toMatchObject({ ok: true, records: 0 });
      expect(await store.decisions.read()).toEqual([]);
      expect(await store.decisions.checkpoints()).toEqual([]);
    });

    it("appends in a hash chain over the canonical JSON of each record, and reads it back", async () => {
      const first = await store.decisions.append([decision(1), decision(2)]);
      const second = await store.decisions.append([decision(3)]);
      expect([...first, ...second].map((d) => d.seq)).toEqual([1, 2, 3]);
      const read = await store.decisions.read();
      expect(read).toEqual([...first, ...second]);
      expect(read.map((d) => d.record)).toEqual([decision(1), decision(2), decision(3)]);
      let prev = GENESIS_HASH;
      for (const d of read) {
        expect(d.prevHash).toBe(prev);
        expect(d.hash).toBe(chainHash(d.seq, prev, canonicalJson(d.record)));
        prev = d.hash;
      }
      expect(await store.decisions.verify()).toMatchObject({
        ok: true,
        records: 3,
        firstSeq: 1,
        lastSeq: 3,
        head: { seq: 3, hash: prev },
      });
      expect(await store.decisions.append([])).toEqual([]);
    });

    it("stores records given in their stored form as they are, in runs of any length", async () => {
      const odd = ['q"uote', "back\\slash", "new\nline", "lone\ud800", "é and 😀", "</script>", "tab\t"];
      const encoded = (i: number) => {
        const text = odd[i % odd.length]!;
        const record = decision(i, {
          permission: `reserve ${text}`,
          // Not a lone surrogate in the subject column: SQLite stores it as U+FFFD, which verify
          // then finds differs from the body's subject (so does a record appended with `append`).
          ...(i % 2 === 0 && !text.startsWith("lone") ? { subject: `user:${text}` } : {}),
        });
        return { at: Date.parse(record.time), subject: record.subject, body: canonicalJson(record) };
      };
      // Runs shorter, as long as and longer than one multi-row INSERT, and one of many of them.
      const runs = [1, 49, 50, 51, 137, 2];
      const given: { at: number; subject: string; body: string }[] = [];
      for (const length of runs) {
        const run = Array.from({ length }, (_, k) => encoded(given.length + k));
        await store.decisions.appendEncoded!(run);
        given.push(...run);
      }
      const read = await store.decisions.read({ limit: 10_000 });
      expect(read.map((d) => d.seq)).toEqual(given.map((_, k) => k + 1));
      let prev = GENESIS_HASH;
      read.forEach((d, k) => {
        // The hash was taken of the body given; verify below takes it of the body stored.
        expect(d.prevHash).toBe(prev);
        expect(d.hash).toBe(chainHash(d.seq, prev, given[k]!.body));
        expect(canonicalJson(d.record)).toBe(given[k]!.body);
        prev = d.hash;
      });
      // Verify also holds the subject and time columns equal to the body's.
      expect(await store.decisions.verify()).toMatchObject({ ok: true, records: given.length });
    });

    it("reads by page, time and subject (the subject or anyone in its chain)", async () => {
      await store.decisions.append(decisions(1, 31));
      const page = await store.decisions.read({ limit: 10 });
      expect(page.map((d) => d.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      const next = await store.decisions.read({ afterSeq: 10, limit: 5 });
      expect(next.map((d) => d.seq)).toEqual([11, 12, 13, 14, 15]);
      const since = await store.decisions.read({ since: new Date(T0 + 25_000) });
      expect(since.map((d) => d.seq)).toEqual([25, 26, 27, 28, 29, 30]);
      const bot = await store.decisions.read({ subject: "agent:calendar-bot-v2" });
      expect(bot.map((d) => d.seq)).toEqual([3, 6, 9, 12, 15, 18, 21, 24, 27, 30]);
      const alice = await store.decisions.read({ subject: "user:alice" });
      expect(alice.map((d) => d.seq)).toEqual(bot.map((d) => d.seq));
      const u1 = await store.decisions.read({ subject: "user:u1", since: new Date(T0 + 10_000) });
      expect(u1.map((d) => d.seq)).toEqual([11, 16, 26]);
      expect((await rejection(store.decisions.read({ limit: 0 }))).code).toBe("store/invalid-limit");
    });

    it("reads by subject past records whose text a JSON parser may refuse (NUL, lone surrogates)", async () => {
      // PostgreSQL's jsonb refuses the escapes \u0000 and a lone surrogate: such a record (a
      // loggable caveat value, say) must neither fail the query nor hide anyone's records.
      const odd = ["nul\u0000", "lone\ud800", "low\udc00 first", "pair \ud83d\ude00"];
      await store.decisions.append(
        odd.map((text, k) => decision(3 * (k + 1), { permission: `reserve ${text}` })),
      );
      await store.decisions.append([decision(13), decision(15)]);
      const alice = await store.decisions.read({ subject: "user:alice" });
      expect(alice.map((d) => d.seq)).toEqual([1, 2, 3, 4, 6]);
      const bot = await store.decisions.read({ subject: "agent:calendar-bot-v2" });
      expect(bot.map((d) => d.seq)).toEqual([1, 2, 3, 4, 6]);
      expect((await store.decisions.read({ subject: "user:u3" })).map((d) => d.seq)).toEqual([5]);
      expect(await store.decisions.read({ subject: "user:nobody" })).toEqual([]);
    });

    it("reads by subject as a naive filter over every record does, page after page", async () => {
      await checkSubjectReads(store.decisions, 30);
    });

    it("verifies a good chain as good while records are appended and a prune runs", async () => {
      const n = DEFAULT_CHECKPOINT_EVERY;
      await store.decisions.append(decisions(1, 3 * n + 1));
      const verifying = store.decisions.verify();
      const appending = store.decisions.append(decisions(3 * n + 1, 4 * n + 1));
      const pruned = await store.decisions.prune({ keepLast: n });
      await appending;
      // Whichever state the walk saw, it was a whole one: a good chain from where a prune (at none,
      // 2n or 3n, as it ran before or after the append committed) left the log to one of the two
      // ends, every record between. (SQLite's walk begins its snapshot before the append: its
      // exact state is asserted in sqlite-decision-reads.test.ts.)
      const seen = await verifying;
      expect(seen.ok).toBe(true);
      expect([1, 2 * n + 1, 3 * n + 1]).toContain(seen.firstSeq);
      expect([3 * n, 4 * n]).toContain(seen.lastSeq);
      expect(seen.records).toBe(seen.lastSeq! - seen.firstSeq! + 1);
      expect(pruned).toBeGreaterThan(0);
      expect(await store.decisions.verify()).toMatchObject({ ok: true, lastSeq: 4 * n });
    });

    it("refuses a record whose time is not an instant, appending nothing", async () => {
      const error = await rejection(
        store.decisions.append([decision(1), decision(2, { time: "yesterday" })]),
      );
      expect(error.code).toBe("request/invalid-argument");
      expect(await store.decisions.read()).toEqual([]);
    });

    it("signs a checkpoint every so many records", async () => {
      const n = DEFAULT_CHECKPOINT_EVERY;
      await store.decisions.append(decisions(1, n + 5));
      await store.decisions.append(decisions(n + 5, 2 * n + 3));
      const read = await store.decisions.read({ limit: 10_000 });
      const cps = await store.decisions.checkpoints();
      expect(cps.map((c) => c.seq)).toEqual([n, 2 * n]);
      expect(cps.map((c) => c.hash)).toEqual([read[n - 1]!.hash, read[2 * n - 1]!.hash]);
      expect(await store.decisions.verify()).toMatchObject({ ok: true, records: 2 * n + 2 });
    });

    it("keeps one gap-free chain under concurrent appends", async () => {
      await Promise.all(
        Array.from({ length: 20 }, (_, i) => store.decisions.append(decisions(i * 3, i * 3 + 3))),
      );
      const read = await store.decisions.read({ limit: 10_000 });
      expect(read.map((d) => d.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      expect(new Set(read.map((d) => d.record.requestId)).size).toBe(60);
      expect(await store.decisions.verify()).toMatchObject({ ok: true, records: 60 });
    });

    it("prunes whole prefixes up to a checkpoint, by count and by age, and still verifies", async () => {
      const n = DEFAULT_CHECKPOINT_EVERY;
      await store.decisions.append(decisions(1, 3 * n + 11));
      // Keeping the last 3n allows dropping only the first 10: no checkpoint that early, nothing goes.
      expect(await store.decisions.prune({ keepLast: 3 * n })).toBe(0);
      expect(await store.decisions.prune({ keepLast: 2 * n })).toBe(n);
      expect((await store.decisions.read({ limit: 1 }))[0]!.seq).toBe(n + 1);
      expect((await store.decisions.checkpoints()).map((c) => c.seq)).toEqual([n, 2 * n, 3 * n]);
      expect(await store.decisions.verify()).toMatchObject({
        ok: true,
        firstSeq: n + 1,
        lastSeq: 3 * n + 10,
      });
      // By age: records before T0 + (2n + 50) s; the cut is the checkpoint at 2n.
      expect(await store.decisions.prune({ before: new Date(T0 + (2 * n + 50) * 1_000) })).toBe(n);
      expect((await store.decisions.checkpoints()).map((c) => c.seq)).toEqual([2 * n, 3 * n]);
      expect(await store.decisions.verify()).toMatchObject({ ok: true, firstSeq: 2 * n + 1 });
      // Both limits: the more careful one wins.
      expect(await store.decisions.prune({ before: new Date(T0 + 10 ** 9), keepLast: 50 })).toBe(0);
      expect(await store.decisions.prune({ keepLast: 0 })).toBe(n);
      expect(await store.decisions.verify()).toMatchObject({
        ok: true,
        firstSeq: 3 * n + 1,
        lastSeq: 3 * n + 10,
      });
      // Appending after pruning continues the chain.
      await store.decisions.append([decision(9_999)]);
      expect(await store.decisions.verify()).toMatchObject({ ok: true, lastSeq: 3 * n + 11 });
    });

    it("verifies a log pruned to its last record", async () => {
      const n = DEFAULT_CHECKPOINT_EVERY;
      await store.decisions.append(decisions(1, n + 1));
      expect(await store.decisions.prune({ keepLast: 0 })).toBe(n);
      expect(await store.decisions.read()).toEqual([]);
      expect(await store.decisions.verify()).toMatchObject({ ok: true, records: 0 });
    });
  });
}
