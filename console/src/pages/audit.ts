/**
 * Audit: the decision log as sentences, newest first, live (the WatchDecisions stream over HTTP,
 * started before the first query so that nothing falls between them), searchable as you type;
 * each row opens to its full record and witness.
 */
import type { Api } from "../api.js";
import { DecisionRows, matchesSearch } from "../decision-log.js";
import { errorBox, field, h, showError } from "../dom.js";
import { type DecisionRecord, decisionSentence, enumWord } from "../sentences.js";

/** Rows kept in the page; older ones are left to the CLI (`latch audit query`). */
const KEEP = 500;
/** Pages of QueryDecisions read at the start (1000 records each) to reach the newest. */
const MAX_PAGES = 20;

/** The sentence, opening (keyboard and mouse alike: a native <details>) to the witness and record. */
function recordDetails(d: DecisionRecord): HTMLElement {
  const witness = d.witness ?? [];
  return h(
    "details",
    { class: "record" },
    h("summary", {}, decisionSentence(d)),
    witness.length > 0 &&
      h(
        "div",
        { class: "witness" },
        h("b", {}, "Witness"),
        h("ul", {}, ...witness.map((w) => h("li", {}, h("code", {}, w)))),
      ),
    h("pre", {}, JSON.stringify(d, null, 2)),
  );
}

export function auditPage(api: Api, root: HTMLElement): void {
  const subject = h("input", { id: "audit-subject", placeholder: "user:alice (optional)" });
  const search = h("input", {
    id: "audit-search-text",
    type: "search",
    placeholder: "words of the sentence",
  });
  const error = errorBox();
  const live = h("p", { id: "audit-live", class: "status", role: "status" });
  const body = h("tbody", {});
  let rows = new DecisionRows(KEEP);
  let stop = new AbortController();
  const draw = () => {
    const shown = rows.newestFirst().filter((d) => matchesSearch(d, search.value));
    body.replaceChildren(
      ...shown.map((d) =>
        h(
          "tr",
          { class: enumWord(d.answer, "DECISION_ANSWER_").toLowerCase(), "data-seq": d.seq ?? "" },
          h("td", {}, d.seq ?? ""),
          h("td", {}, d.time ?? ""),
          h("td", {}, recordDetails(d)),
        ),
      ),
    );
    if (shown.length === 0)
      body.replaceChildren(h("tr", {}, h("td", { colspan: "3" }, "No decisions recorded.")));
  };
  const start = async () => {
    stop.abort();
    stop = new AbortController();
    const signal = stop.signal;
    rows = new DecisionRows(KEEP);
    error.hidden = true;
    const filter = subject.value.trim() === "" ? {} : { subject: subject.value.trim() };
    live.textContent = "Connecting…";
    const watching = api
      .watch<{ decision?: DecisionRecord }>(
        "AuditService",
        "WatchDecisions",
        { filter },
        (m) => {
          // A row open for reading stays open: only new rows are drawn when nothing is open.
          if (
            m.decision !== undefined &&
            rows.add([m.decision]) &&
            root.querySelector("details[open]") === null
          )
            draw();
        },
        signal,
      )
      .then(
        () => {
          if (!signal.aborted) live.textContent = "The server ended the live stream; search again to resume.";
        },
        (e: unknown) => {
          if (signal.aborted || !root.isConnected) return;
          live.textContent = "Not live.";
          showError(error, e);
        },
      );
    try {
      let cursor = "";
      for (let page = 0; page < MAX_PAGES; page++) {
        const r = await api.call<{ decisions?: DecisionRecord[]; nextCursor?: string }>(
          "AuditService",
          "QueryDecisions",
          {
            filter,
            pageSize: 1000,
            ...(cursor === "" ? {} : { cursor }),
          },
        );
        rows.add(r.decisions ?? []);
        if (!r.nextCursor) break;
        cursor = r.nextCursor;
      }
      if (!signal.aborted) {
        live.textContent = "Live: new decisions appear at the top.";
        draw();
      }
    } catch (e) {
      showError(error, e);
    }
    await watching;
  };
  const form = h(
    "form",
    { class: "row" },
    field("Subject or principal", subject),
    h("button", { id: "audit-search", type: "submit" }, "Search"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void start();
  });
  search.addEventListener("input", draw);
  // Rows that arrived while one was open are drawn once none is (toggle does not bubble: capture).
  body.addEventListener(
    "toggle",
    () => {
      if (body.querySelector("details[open]") === null) draw();
    },
    true,
  );
  // Leaving the page (another tab drawn into the same root) ends the stream.
  const observer = new MutationObserver(() => {
    if (!root.contains(body)) {
      stop.abort();
      observer.disconnect();
    }
  });
  observer.observe(root, { childList: true });
  root.replaceChildren(
    h("h2", {}, "Audit: the decision log"),
    form,
    field("Search", search),
    live,
    error,
    h(
      "table",
      { id: "audit-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "#"), h("th", {}, "time"), h("th", {}, "decision"))),
      body,
    ),
  );
  void start();
}
