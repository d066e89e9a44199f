/** Schema: the editor, diagnostics from the real compiler as you type, and write. */
import type { Api } from "../api.js";
import { errorBox, h, showError } from "../dom.js";
import { checkSchemaText, gutterLines } from "../schema-check.js";

export function schemaPage(api: Api, root: HTMLElement): void {
  const editor = h("textarea", {
    id: "schema-text",
    spellcheck: "false",
    "aria-label": "schema",
    rows: "24",
  });
  const gutter = h("pre", { class: "gutter", "aria-hidden": "true" });
  const problems = h("ul", { id: "schema-problems", class: "problems", "aria-live": "polite" });
  const status = h("p", { id: "schema-status", class: "status", role: "status" });
  const error = errorBox();
  const write = h("button", { id: "schema-write", type: "button" }, "Write schema");
  const refresh = () => {
    const found = checkSchemaText(editor.value);
    gutter.replaceChildren(
      ...gutterLines(editor.value, found).map((l) => h("span", { class: l.bad ? "bad" : "" }, `${l.n}\n`)),
    );
    problems.replaceChildren(
      ...found.map((p) =>
        h(
          "li",
          { class: "problem" },
          h("b", {}, `line ${p.line}, column ${p.column}`),
          ` ${p.message} `,
          h("code", {}, p.code),
        ),
      ),
    );
    write.disabled = found.length > 0;
    status.textContent = found.length === 0 ? "No problems." : `${found.length} problem(s).`;
  };
  editor.addEventListener("input", refresh);
  editor.addEventListener("scroll", () => {
    gutter.scrollTop = editor.scrollTop;
  });
  write.addEventListener("click", async () => {
    error.hidden = true;
    try {
      await api.call("SchemaService", "WriteSchema", { schema: editor.value });
      status.textContent = "Schema written.";
    } catch (e) {
      showError(error, e);
    }
  });
  root.replaceChildren(
    h("h2", {}, "Schema"),
    h("div", { class: "editor" }, gutter, editor),
    h("div", { class: "row" }, write, status),
    error,
    problems,
  );
  api.call<{ schemaText?: string }>("SchemaService", "ReadSchema", {}).then(
    (r) => {
      editor.value = r.schemaText ?? "";
      refresh();
    },
    () => refresh(),
  );
}
