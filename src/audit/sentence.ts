/**
 * A record read as one sentence, for people:
 * `2026-05-15T14:00:02Z agent:calendar-bot-v2 acting for user:alice: reserve on room:401 ALLOWED`,
 * with ` via <witness>` when the record carries one, the missing parameters of a CONDITIONAL
 * answer, and the caller and request id when known, and `sampled` when the record was kept as one
 * of a sample of plain decisions.
 */
import type { DecisionRecord } from "../store/index.js";

/**
 * Control characters shown as escapes: a record's free text (an approval's message, a reason)
 * comes from callers, and a line break or a terminal escape in it must not print as a line of its
 * own in `latch audit tail`, where it would read as another decision.
 */
function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) =>
    c === "\n"
      ? "\\n"
      : c === "\r"
        ? "\\r"
        : c === "\t"
          ? "\\t"
          : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

export function decisionSentence(record: DecisionRecord): string {
  return printable(sentenceOf(record));
}

function sentenceOf(record: DecisionRecord): string {
  const time = record.time.replace(/\.\d+Z$/, "Z");
  const who = [record.subject, ...(record.onBehalfOf ?? [])].join(" acting for ");
  let text = `${time} ${who}: ${record.permission} on ${record.resource} ${record.answer}`;
  if (record.missing !== undefined && record.missing.length > 0)
    text += ` (missing ${record.missing.join(", ")})`;
  if (record.witness !== undefined && record.witness.length > 0) text += ` via ${record.witness.join(", ")}`;
  if (record.reason !== undefined) text += ` (${record.reason})`;
  const about: string[] = [];
  if (record.sampled === true) about.push("sampled");
  if (record.caller !== undefined) about.push(`caller ${record.caller}`);
  if (record.requestId !== undefined) about.push(`request ${record.requestId}`);
  if (about.length > 0) text += ` [${about.join(", ")}]`;
  return text;
}
