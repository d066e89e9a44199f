/**
 * Schema: the editor (highlighted by the real lexer), diagnostics from the real compiler as you
 * type with their fix hints, canonical formatting (the project's formatter, bundled), the changes
 * against the stored schema, and a write that the server's orphan check guards.
 */

import { formatSchema } from "../../../src/schema/index.js";
import { type Api, ApiError } from "../api.js";
import { errorBox, h, showError } from "../dom.js";
import { checkSchemaText, gutterLines, type SchemaProblem } from "../schema-check.js";
import { type DiffHunk, lineDiff, orphanRefusal, schemaChanges, splitHint } from "../schema-diff.js";
import { paintSchema, problemOffsets } from "../schema-highlight.js";

/** The stored schema the edits are compared with; empty before any schema was written. */
interface Stored {
  text: string;
  token?: string;
}

function problemItem(p: SchemaProblem, goTo: (p: SchemaProblem) => void): HTMLElement {
  const { what, hint } = splitHint(p.message);
  const go = h("button", { type: "button", class: "link" }, `line ${p.line}, column ${p.column}`);
  go.setAttribute("aria-label", `go to line ${p.line}, column ${p.column}`);
  go.addEventListener("click", () => goTo(p));
  return h(
    "li",
    { class: "problem" },
    h("b", {}, go),
    ` ${what} `,
    h("code", {}, p.code),
    hint === undefined ? undefined : h("span", { class: "hint" }, `Fix: ${hint}`),
  );
}

function hunkView(hunk: DiffHunk): HTMLElement {
  return h(
    "div",
    { class: "hunk" },
    h("div", { class: "hunk-head" }, hunk.header),
    ...hunk.lines.map((l) =>
      h(
        "div",
        { class: `diff-${l.kind}` },
        `${l.kind === "add" ? "+" : l.kind === "del" ? "-" : " "} ${l.text}`,
      ),
    ),
  );
}

/** The changes panel: what DiffSchema sees, what may orphan relationships, and the line diff. */
function drawChanges(panel: HTMLElement, stored: Stored, text: string): void {
  const hunks = lineDiff(stored.text, text);
  const changes = schemaChanges(stored.text, text);
  const summary = h("p", { id: "schema-diff-summary" });
  if (hunks.length === 0) summary.textContent = "No changes against the stored schema.";
  else if (changes === undefined)
    summary.textContent = "The text changed; fix the problems to see what it changes.";
  else if (changes.length === 0)
    summary.textContent = "Only layout or comments change; the schema means the same.";
  else summary.textContent = `${changes.length} change(s) to the schema.`;
  const parts: Node[] = [
    h("h3", {}, stored.text === "" ? "Changes (no schema stored yet)" : "Changes against the stored schema"),
    summary,
  ];
  if (changes?.some((c) => c.risky))
    parts.push(
      h(
        "p",
        { class: "warning", id: "schema-risk" },
        "Removes relations or subject types that stored relationships may use. On write the server counts them, and writes nothing if any would be orphaned.",
      ),
    );
  if (changes !== undefined && changes.length > 0)
    parts.push(
      h(
        "ul",
        { id: "schema-changes", class: "changes" },
        ...changes.map((c) => h("li", { class: c.risky ? "risky" : "" }, c.text)),
      ),
    );
  if (hunks.length > 0)
    parts.push(
      h(
        "div",
        { id: "schema-diff", class: "diff", role: "region", "aria-label": "line diff", tabindex: "0" },
        ...hunks.map(hunkView),
      ),
    );
  panel.replaceChildren(...parts);
}

function drawOrphans(box: HTMLElement, error: ApiError): boolean {
  const refusal = orphanRefusal(error);
  if (refusal === undefined) return false;
  const more = refusal.moreRelations > 0 ? ` (and ${refusal.moreRelations} more relation(s) not listed)` : "";
  box.replaceChildren(
    h("h3", {}, `Not written: ${refusal.total} stored relationship(s) would be orphaned${more}`),
    h(
      "table",
      { id: "schema-orphan-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "relation"), h("th", {}, "relationships"), h("th", {}, "why"))),
      h(
        "tbody",
        {},
        ...refusal.rows.map((r) =>
          h(
            "tr",
            {},
            h("td", {}, h("code", {}, r.relation)),
            h("td", {}, String(r.count)),
            h("td", {}, r.reasons.join("; ")),
          ),
        ),
      ),
    ),
    h(
      "p",
      {},
      "Delete those relationships first (Relationships page, or DeleteRelationships by filter), or keep the relations and subject types they use.",
    ),
  );
  box.hidden = false;
  return true;
}

export function schemaPage(api: Api, root: HTMLElement): void {
  const editor = h("textarea", {
    id: "schema-text",
    spellcheck: "false",
    autocapitalize: "off",
    autocomplete: "off",
    "aria-label": "schema",
    "aria-describedby": "schema-status",
    rows: "24",
  });
  const layer = h("pre", { class: "highlight", "aria-hidden": "true" });
  const gutter = h("pre", { class: "gutter", "aria-hidden": "true" });
  const problems = h("ul", { id: "schema-problems", class: "problems", "aria-live": "polite" });
  const clean = h("p", { class: "lead" }, "None: the schema compiles.");
  const changes = h("section", { id: "schema-changes-panel", class: "panel", "aria-live": "polite" });
  const status = h("p", { id: "schema-status", class: "status", role: "status" });
  const error = errorBox();
  const orphans = h("section", { id: "schema-orphans", class: "error orphans", role: "alert", hidden: "" });
  const format = h("button", { id: "schema-format", type: "button" }, "Format");
  const write = h("button", { id: "schema-write", type: "button" }, "Write schema");
  const stored: Stored = { text: "" };

  const sync = () => {
    gutter.scrollTop = editor.scrollTop;
    layer.scrollTop = editor.scrollTop;
    layer.scrollLeft = editor.scrollLeft;
  };
  const goTo = (p: SchemaProblem) => {
    const [at] = problemOffsets(editor.value, [p]);
    editor.focus();
    if (at === undefined) return;
    editor.setSelectionRange(at[0], Math.min(at[1], editor.value.length));
    // Chromium does not scroll a textarea to a selection set by script: put the line in view.
    const lineHeight = Number.parseFloat(getComputedStyle(editor).lineHeight) || 20;
    editor.scrollTop = Math.max(0, (p.line - 4) * lineHeight);
    sync();
  };
  const paint = (found: readonly SchemaProblem[]) => {
    layer.replaceChildren(
      ...paintSchema(editor.value, found).map((s) =>
        s.kind === undefined && !s.error
          ? s.text
          : h("span", { class: `${s.kind ? `hl-${s.kind}` : ""}${s.error ? " hl-error" : ""}` }, s.text),
      ),
      // A final newline needs a line after it to be drawn, as the textarea draws one.
      "\n",
    );
    sync();
  };
  const refresh = () => {
    const found = checkSchemaText(editor.value);
    paint(found);
    gutter.replaceChildren(
      ...gutterLines(editor.value, found).map((l) => h("span", { class: l.bad ? "bad" : "" }, `${l.n}\n`)),
    );
    problems.replaceChildren(...found.map((p) => problemItem(p, goTo)));
    clean.hidden = found.length > 0;
    write.disabled = found.length > 0;
    format.disabled = found.length > 0;
    status.textContent = found.length === 0 ? "No problems." : `${found.length} problem(s).`;
    drawChanges(changes, stored, editor.value);
  };
  editor.addEventListener("input", () => {
    orphans.hidden = true;
    refresh();
  });
  editor.addEventListener("scroll", sync);
  format.addEventListener("click", () => {
    try {
      const formatted = formatSchema(editor.value);
      const same = formatted === editor.value;
      editor.value = formatted;
      refresh();
      status.textContent = same ? "Already in canonical form." : "Formatted.";
    } catch (e) {
      showError(error, e);
    }
  });
  write.addEventListener("click", async () => {
    error.hidden = true;
    orphans.hidden = true;
    const text = editor.value;
    try {
      const r = await api.call<{ writtenAt?: { token?: string } }>("SchemaService", "WriteSchema", {
        schema: text,
      });
      stored.text = text;
      if (r.writtenAt?.token !== undefined) stored.token = r.writtenAt.token;
      refresh();
      status.textContent = "Schema written.";
    } catch (e) {
      if (!(e instanceof ApiError && drawOrphans(orphans, e))) showError(error, e);
      status.textContent = "Schema not written.";
    }
  });
  root.replaceChildren(
    h("h2", {}, "Schema"),
    h(
      "p",
      { class: "lead" },
      "Problems come from the compiler as you type. Format rewrites the text in canonical form. Changes against the stored schema show below; a write that would orphan stored relationships is refused with their counts.",
    ),
    h("div", { class: "editor" }, gutter, h("div", { class: "code" }, layer, editor)),
    h("div", { class: "row" }, format, write, status),
    error,
    orphans,
    h(
      "div",
      { class: "schema-panels" },
      h("section", { class: "panel" }, h("h3", {}, "Problems"), clean, problems),
      changes,
    ),
  );
  api.call<{ schemaText?: string; readAt?: { token?: string } }>("SchemaService", "ReadSchema", {}).then(
    (r) => {
      stored.text = r.schemaText ?? "";
      if (r.readAt?.token !== undefined) stored.token = r.readAt.token;
      editor.value = stored.text;
      refresh();
    },
    (e) => {
      // No schema stored yet is the normal start; anything else is worth saying.
      if (!(e instanceof ApiError && e.code === "not_found")) showError(error, e);
      refresh();
    },
  );
}
