/** Drawing the check page's answers: the explain graph, Expand's tree and the lookup tables. */
import type { ExpandNode, LookupRow } from "./answers.js";
import { h } from "./dom.js";
import type { TraceCaveat } from "./explain.js";
import { enumWord } from "./sentences.js";
import type { PathTree } from "./witness-path.js";

/** Every caveat the trace evaluated, in the order met. */
export function caveatsOf(t: PathTree): TraceCaveat[] {
  return [...t.caveats, ...t.children.flatMap(caveatsOf)];
}

function caveatBox(c: TraceCaveat): HTMLElement {
  const result = enumWord(c.result, "RESULT_");
  const params = Object.entries(c.context ?? {});
  return h(
    "div",
    { class: `caveat result-${result.toLowerCase()}` },
    h("span", {}, `caveat ${c.caveatName ?? "?"}: ${result}`),
    params.length > 0 &&
      h(
        "dl",
        { class: "params" },
        ...params.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, h("code", {}, JSON.stringify(v)))]),
      ),
    (c.missingRequiredContext ?? []).length > 0 &&
      h("p", {}, `missing ${c.missingRequiredContext!.join(", ")}`),
    c.error && h("p", {}, `error: ${c.error}`),
  );
}

/** One step: a box coloured by its result, the witness path outlined, its branches below it. */
export function drawExplain(t: PathTree): HTMLElement {
  return h(
    "li",
    { class: `node ${t.verdict}${t.onPath ? " on-path" : ""}` },
    h(
      "div",
      { class: "box" },
      h("span", { class: "label" }, t.label),
      h("span", { class: "badge" }, t.verdict),
      t.cached && h("small", {}, " cached"),
      t.witness !== undefined &&
        h("span", { class: "witness-tag", title: "a relationship of the witness" }, "witness"),
      ...t.caveats.map(caveatBox),
    ),
    t.children.length > 0 && h("ul", {}, ...t.children.map(drawExplain)),
  );
}

/** The caveats with their parameters and the context they were given (request and stored, merged). */
export function drawCaveats(caveats: readonly TraceCaveat[], requestContext: unknown): HTMLElement {
  return h(
    "section",
    { id: "check-caveats", class: "panel" },
    h("h3", {}, "Caveats and context"),
    h("p", {}, "Request context: ", h("code", {}, JSON.stringify(requestContext ?? {}))),
    caveats.length === 0
      ? h("p", {}, "No caveat was evaluated.")
      : h("div", { class: "caveats" }, ...caveats.map(caveatBox)),
  );
}

export function drawWitness(witness: readonly string[], unmatched: readonly string[]): HTMLElement {
  return h(
    "section",
    { id: "check-witness", class: "panel" },
    h("h3", {}, "Relationships that matched (the witness)"),
    witness.length === 0
      ? h("p", {}, "None: the answer is not ALLOWED or CONDITIONAL, or needs no stored relationship.")
      : h(
          "ul",
          {},
          ...witness.map((w) =>
            h("li", {}, h("code", {}, w), unmatched.includes(w) && h("small", {}, " (below a cached step)")),
          ),
        ),
  );
}

export function drawExpand(n: ExpandNode): HTMLElement {
  return h(
    "li",
    { class: `expand ${n.kind}` },
    h("span", { class: "ebox" }, n.label),
    n.children.length > 0 && h("ul", {}, ...n.children.map(drawExpand)),
  );
}

export function drawLookup(
  id: string,
  heading: string,
  rows: readonly LookupRow[],
  withExcluded: boolean,
): HTMLElement {
  const body = rows.map((r) =>
    h(
      "tr",
      { class: "lookup-row" },
      h("td", {}, h("code", {}, r.id)),
      h("td", {}, h("span", { class: `badge ${r.state.toLowerCase()}` }, r.state)),
      h("td", {}, r.missing.join(", ")),
      withExcluded && h("td", {}, (r.excluded ?? []).join(", ")),
    ),
  );
  return h(
    "table",
    { id, class: "lookup" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", {}, heading),
        h("th", {}, "state"),
        h("th", {}, "missing context"),
        withExcluded && h("th", {}, "except"),
      ),
    ),
    h("tbody", {}, ...(body.length > 0 ? body : [h("tr", {}, h("td", { colspan: "4" }, "None."))])),
  );
}
