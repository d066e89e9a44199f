/** Audit: the decision log as sentences, each opening its record. */
import type { Api } from "../api.js";
import { errorBox, field, h, showError } from "../dom.js";
import { type DecisionRecord, decisionSentence, enumWord } from "../sentences.js";

/** The sentence, opening (keyboard and mouse alike: a native <details>) to the full record. */
function recordDetails(d: DecisionRecord): HTMLElement {
  return h(
    "details",
    { class: "record" },
    h("summary", {}, decisionSentence(d)),
    h("pre", {}, JSON.stringify(d, null, 2)),
  );
}

export function auditPage(api: Api, root: HTMLElement): void {
  const subject = h("input", { id: "audit-subject", placeholder: "user:alice (optional)" });
  const search = h("button", { id: "audit-search", type: "submit" }, "Search");
  const error = errorBox();
  const body = h("tbody", {});
  const load = async () => {
    error.hidden = true;
    try {
      const filter = subject.value.trim() === "" ? {} : { subject: subject.value.trim() };
      const r = await api.call<{ decisions?: DecisionRecord[] }>("AuditService", "QueryDecisions", {
        filter,
        pageSize: 100,
      });
      const rows = (r.decisions ?? []).slice().reverse();
      body.replaceChildren(
        ...rows.map((d) =>
          h(
            "tr",
            { class: enumWord(d.answer, "DECISION_ANSWER_").toLowerCase() },
            h("td", {}, d.seq ?? ""),
            h("td", {}, d.time ?? ""),
            h("td", {}, recordDetails(d)),
          ),
        ),
      );
      if (rows.length === 0)
        body.replaceChildren(h("tr", {}, h("td", { colspan: "3" }, "No decisions recorded.")));
    } catch (e) {
      showError(error, e);
    }
  };
  const form = h("form", { class: "row" }, field("Subject or principal", subject), search);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void load();
  });
  root.replaceChildren(
    h("h2", {}, "Audit: the decision log"),
    form,
    error,
    h(
      "table",
      { id: "audit-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "#"), h("th", {}, "time"), h("th", {}, "decision"))),
      body,
    ),
  );
  void load();
}
