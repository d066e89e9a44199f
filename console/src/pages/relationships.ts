/** Relationships: browse and filter as ReadRelationships does, add, delete, and import a file. */
import type { Api } from "../api.js";
import { errorBox, field, h, showError } from "../dom.js";
import {
  batches,
  exactFilterOf,
  filterOf,
  formatWire,
  parseLines,
  parseOne,
  type WireRelationship,
} from "../relationship-lines.js";

/** Relationships a browse shows at most; the filter narrows it. */
const PAGE = 200;
/** Relationships per WriteRelationships call of an import (the server bounds a write's updates). */
const IMPORT_BATCH = 100;

const input = (id: string, placeholder: string) => h("input", { id, placeholder, autocomplete: "off" });

function importSection(api: Api, reload: () => Promise<void>): HTMLElement {
  const file = h("input", { id: "rel-import-file", type: "file", accept: ".txt,.rels,.zed,text/plain" });
  const progress = h("progress", { id: "rel-import-progress", max: "1", value: "0", hidden: "" });
  const status = h("p", { id: "rel-import-status", class: "status", role: "status" });
  const problems = h("ul", { id: "rel-import-problems", class: "problems" });
  const error = errorBox();
  file.addEventListener("change", async () => {
    const chosen = file.files?.[0];
    if (chosen === undefined) return;
    error.hidden = true;
    problems.replaceChildren();
    const parsed = parseLines(await chosen.text());
    if (parsed.problems.length > 0) {
      // Nothing is written from a file with a bad line: the user fixes it and imports it whole.
      status.textContent = `${chosen.name}: ${parsed.problems.length} line(s) to fix; nothing imported.`;
      problems.replaceChildren(
        ...parsed.problems.map((p) =>
          h("li", { class: "problem" }, h("b", {}, `line ${p.line}`), ` ${p.message}`),
        ),
      );
      return;
    }
    const parts = batches(parsed.relationships, IMPORT_BATCH);
    progress.max = Math.max(parsed.relationships.length, 1);
    progress.value = 0;
    progress.hidden = false;
    let done = 0;
    try {
      for (const part of parts) {
        await api.call("RelationshipService", "WriteRelationships", {
          updates: part.map((relationship) => ({ operation: "OPERATION_TOUCH", relationship })),
        });
        done += part.length;
        progress.value = done;
        status.textContent = `${chosen.name}: ${done} of ${parsed.relationships.length} written.`;
      }
      status.textContent = `${chosen.name}: imported ${done} relationship(s).`;
      await reload();
    } catch (e) {
      status.textContent = `${chosen.name}: stopped after ${done} of ${parsed.relationships.length}.`;
      showError(error, e);
    }
    file.value = "";
  });
  return h(
    "section",
    { class: "panel" },
    h("h3", {}, "Import a file"),
    h(
      "p",
      { class: "hint" },
      "One relationship a line, e.g. document:plan#viewer@user:alice; // comments skipped.",
    ),
    field("Relationship file", file),
    progress,
    status,
    error,
    problems,
  );
}

export function relationshipsPage(api: Api, root: HTMLElement): void {
  const resourceType = input("rel-type", "document");
  const resourceId = input("rel-id", "plan, or plan-* for a prefix (optional)");
  const relation = input("rel-relation", "viewer (optional)");
  const subject = input("rel-subject", "user, user:alice or group:eng#member (optional)");
  const typeList = h("datalist", { id: "rel-types" });
  resourceType.setAttribute("list", "rel-types");
  const browseError = errorBox();
  const summary = h("p", { id: "rel-summary", class: "status", role: "status" });
  const body = h("tbody", {});
  const load = async () => {
    browseError.hidden = true;
    try {
      const filter = filterOf({
        resourceType: resourceType.value,
        resourceId: resourceId.value,
        relation: relation.value,
        subject: subject.value,
      });
      const rows = await api.stream<{ relationship?: WireRelationship }>(
        "RelationshipService",
        "ReadRelationships",
        {
          relationshipFilter: filter,
          optionalLimit: PAGE + 1,
          consistency: { fullyConsistent: true },
        },
      );
      const shown = rows.slice(0, PAGE);
      summary.textContent =
        rows.length > PAGE
          ? `The first ${PAGE}: narrow the filter to see the rest.`
          : `${rows.length} relationship(s).`;
      body.replaceChildren(...shown.map((r) => row(r.relationship ?? {})));
    } catch (e) {
      body.replaceChildren();
      summary.textContent = "";
      showError(browseError, e);
    }
  };
  const row = (r: WireRelationship) => {
    const remove = h(
      "button",
      { type: "button", class: "delete", "aria-label": `delete ${formatWire(r)}` },
      "Delete",
    );
    remove.addEventListener("click", async () => {
      try {
        await api.call("RelationshipService", "DeleteRelationships", {
          relationshipFilter: exactFilterOf(r),
        });
        await load();
      } catch (e) {
        showError(browseError, e);
      }
    });
    return h("tr", {}, h("td", {}, h("code", {}, formatWire(r))), h("td", {}, remove));
  };

  const filterForm = h(
    "form",
    { id: "rel-filter", class: "form" },
    field("Resource type", resourceType),
    field("Resource id", resourceId),
    field("Relation", relation),
    field("Subject", subject),
    h("button", { type: "submit", id: "rel-search" }, "Read"),
  );
  filterForm.addEventListener("submit", (event) => {
    event.preventDefault();
    void load();
  });

  const added = input("rel-new", "document:plan#viewer@user:alice[caveat:{...}]");
  const addError = h("p", { id: "rel-add-error", class: "error", role: "alert", hidden: "" });
  const addStatus = h("p", { id: "rel-add-status", class: "status", role: "status" });
  const addForm = h(
    "form",
    { id: "rel-add", class: "row" },
    field("New relationship", added),
    h("button", { type: "submit" }, "Add"),
  );
  addForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    addError.hidden = true;
    addStatus.textContent = "";
    added.removeAttribute("aria-invalid");
    try {
      const relationship = parseOne(added.value);
      await api.call("RelationshipService", "WriteRelationships", {
        updates: [{ operation: "OPERATION_TOUCH", relationship }],
      });
      addStatus.textContent = `Added ${formatWire(relationship)}.`;
      added.value = "";
      if (resourceType.value.trim() === "") resourceType.value = relationship.resource?.objectType ?? "";
      await load();
    } catch (e) {
      // The server's own message (unknown relation, caveat not allowed, ...) next to the box.
      added.setAttribute("aria-invalid", "true");
      showError(addError, e);
    }
  });

  root.replaceChildren(
    h("h2", {}, "Relationships"),
    h("section", { class: "panel" }, h("h3", {}, "Add"), addForm, addError, addStatus),
    importSection(api, load),
    h("section", { class: "panel" }, h("h3", {}, "Browse"), filterForm, typeList, browseError, summary),
    h(
      "table",
      { id: "rel-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "relationship"), h("th", {}, ""))),
      body,
    ),
  );
  // The schema's definitions as suggestions for the type box; the first one is browsed at once.
  api.call<{ schemaText?: string }>("SchemaService", "ReadSchema", {}).then(
    (r) => {
      const types = [...(r.schemaText ?? "").matchAll(/^\s*definition\s+([\w/]+)/gm)].map((m) => m[1]!);
      typeList.replaceChildren(...types.map((t) => h("option", { value: t })));
      if (resourceType.value === "" && types.length > 0) {
        resourceType.value = types[types.length - 1]!;
        void load();
      }
    },
    () => undefined,
  );
}
