/**
 * The audit page's rows: records from QueryDecisions and the WatchDecisions stream merged by
 * their sequence number (the two overlap while the page starts), newest first, at most `limit`;
 * and the search box's filter over each record's sentence and fields.
 */
import { type DecisionRecord, decisionSentence } from "./sentences.js";

const seqOf = (r: DecisionRecord): bigint => BigInt(r.seq ?? "0");

export class DecisionRows {
  private readonly bySeq = new Map<string, DecisionRecord>();

  constructor(private readonly limit: number) {}

  /** Adds records; true when any was new. The oldest beyond the limit are let go. */
  add(records: readonly DecisionRecord[]): boolean {
    let added = false;
    for (const r of records) {
      const key = r.seq ?? "";
      if (key === "" || this.bySeq.has(key)) continue;
      this.bySeq.set(key, r);
      added = true;
    }
    if (this.bySeq.size > this.limit) {
      const oldest = this.newestFirst().slice(this.limit);
      for (const r of oldest) this.bySeq.delete(r.seq!);
    }
    return added;
  }

  newestFirst(): DecisionRecord[] {
    return [...this.bySeq.values()].sort((a, b) => (seqOf(b) > seqOf(a) ? 1 : seqOf(b) < seqOf(a) ? -1 : 0));
  }

  get size(): number {
    return this.bySeq.size;
  }
}

/** Every word of the query (case ignored) in the record's sentence, caller, request id or reason. */
export function matchesSearch(r: DecisionRecord & { requestId?: string }, query: string): boolean {
  const words = query
    .toLowerCase()
    .split(/\s+/)
    .filter((w) => w !== "");
  if (words.length === 0) return true;
  const text = [decisionSentence(r), r.caller, r.requestId, r.approvalRule, r.seq]
    .filter((t) => t !== undefined)
    .join(" ")
    .toLowerCase();
  return words.every((w) => text.includes(w));
}
