/**
 * Reads by subject against a naive filter over every record appended: random logs in which the
 * subjects also appear where they must not match (a witness, a resource, a context value, as a
 * prefix of a longer id), paged with cursors and random limits, with and without `since`.
 */
import fc from "fast-check";
import { expect } from "vitest";
import type { DecisionLog, DecisionRecord } from "../../../src/store/index.js";
import { propertyRuns } from "../../engine/random-scenarios.js";

const T0 = Date.parse("2026-05-15T14:00:00Z");
const SUBJECTS = ["user:a", "user:a2", "agent:x", "group:g#member", "user:*", "tenant/user:a"];

const subjectArb = fc.constantFrom(...SUBJECTS);

/** A record that may name any subject anywhere; only `subject` and `onBehalfOf` count. */
const recordArb = (time: number): fc.Arbitrary<DecisionRecord> =>
  fc
    .record({
      subject: subjectArb,
      onBehalfOf: fc.option(fc.uniqueArray(subjectArb, { minLength: 1, maxLength: 3 }), { nil: undefined }),
      resource: fc.oneof(fc.constant("document:d1"), subjectArb),
      witness: fc.option(
        subjectArb.map((s) => [`document:d1#viewer@${s}`]),
        { nil: undefined },
      ),
      context: fc.option(
        subjectArb.map((who) => ({ who })),
        { nil: undefined },
      ),
    })
    .map((r) => ({
      time: new Date(time).toISOString(),
      operation: "check",
      subject: r.subject,
      ...(r.onBehalfOf === undefined ? {} : { onBehalfOf: r.onBehalfOf }),
      resource: r.resource,
      permission: "view",
      answer: "ALLOWED" as const,
      ...(r.witness === undefined ? {} : { witness: r.witness }),
      ...(r.context === undefined ? {} : { context: r.context }),
    }));

const batchArb = (from: number) =>
  fc.array(fc.nat(5), { minLength: 0, maxLength: 40 }).chain((gaps) => {
    const times: number[] = [];
    for (const g of gaps) times.push((times[times.length - 1] ?? from) + g * 1_000);
    return fc.tuple(...times.map(recordArb));
  });

const queryArb = fc.record({
  subject: subjectArb,
  startAt: fc.nat(),
  limit: fc.integer({ min: 1, max: 12 }),
  sinceSeconds: fc.option(fc.nat(200), { nil: undefined }),
});

const matches = (r: DecisionRecord, subject: string, since: number | undefined) =>
  (r.subject === subject || (r.onBehalfOf ?? []).includes(subject)) &&
  (since === undefined || Date.parse(r.time) >= since);

/**
 * Each run appends a random batch to `log` (appended ones accumulate: the log is the model's),
 * then pages through a random query from a random cursor to the end.
 */
export async function checkSubjectReads(log: DecisionLog, runs: number): Promise<void> {
  const all: DecisionRecord[] = [];
  await fc.assert(
    fc.asyncProperty(batchArb(T0), queryArb, async (batch, q) => {
      if (batch.length > 0) await log.append(batch);
      all.push(...batch);
      const since = q.sinceSeconds === undefined ? undefined : T0 + q.sinceSeconds * 1_000;
      const from = all.length === 0 ? 0 : q.startAt % (all.length + 1);
      const want = all.flatMap((r, i) => (i + 1 > from && matches(r, q.subject, since) ? [i + 1] : []));
      const got: number[] = [];
      for (let after = from; ; ) {
        const page = await log.read({
          afterSeq: after,
          limit: q.limit,
          subject: q.subject,
          ...(since === undefined ? {} : { since: new Date(since) }),
        });
        got.push(...page.map((d) => d.seq));
        for (const d of page) expect(d.record).toEqual(all[d.seq - 1]);
        if (page.length < q.limit) break;
        after = page[page.length - 1]!.seq;
      }
      expect(got).toEqual(want);
    }),
    propertyRuns(runs),
  );
}
