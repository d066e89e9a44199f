/** The console's pages: schema, check, audit, approvals. Each draws into the element it gets. */
import type { Api } from "./api.js";
import { errorBox, field, h, showError } from "./dom.js";
import { buildExplainTree, type ExplainTree, type TraceNode, verdictOf } from "./explain.js";
import { parseChain, parseContext, parseObject, parseSubject } from "./refs.js";
import { checkSchemaText, gutterLines } from "./schema-check.js";
import {
  type Approval,
  approvalSentence,
  type DecisionRecord,
  decisionSentence,
  enumWord,
} from "./sentences.js";

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

function drawTree(t: ExplainTree): HTMLElement {
  const caveats = t.caveats.map((c) =>
    h(
      "div",
      { class: "caveat" },
      `caveat ${c.caveatName ?? "?"}: ${enumWord(c.result, "RESULT_")}`,
      c.context && h("code", {}, ` ${JSON.stringify(c.context)}`),
      (c.missingRequiredContext ?? []).length > 0 && ` missing ${c.missingRequiredContext!.join(", ")}`,
      c.error && ` error: ${c.error}`,
    ),
  );
  return h(
    "li",
    { class: `node ${t.verdict}` },
    h(
      "span",
      { class: "label" },
      t.label,
      h("span", { class: "badge" }, t.verdict),
      t.cached && h("small", {}, " cached"),
    ),
    ...caveats,
    t.children.length > 0 && h("ul", {}, ...t.children.map(drawTree)),
  );
}

export function checkPage(api: Api, root: HTMLElement): void {
  const input = (id: string, placeholder: string) => h("input", { id, placeholder, autocomplete: "off" });
  const resource = input("check-resource", "document:plan");
  const permission = input("check-permission", "view");
  const subject = input("check-subject", "user:alice");
  const chain = input("check-chain", "user:alice (optional, nearest first)");
  const context = h("textarea", {
    id: "check-context",
    placeholder: '{"ip": "10.0.0.1"} (optional)',
    rows: "3",
  });
  const run = h("button", { id: "check-run", type: "submit" }, "Check");
  const error = errorBox();
  const answer = h("p", { id: "check-answer", class: "answer", role: "status" });
  const tree = h("ul", { id: "check-tree", class: "tree" });
  const form = h(
    "form",
    { class: "form" },
    field("Resource", resource),
    field("Permission", permission),
    field("Subject", subject),
    field("On behalf of", chain),
    field("Context (JSON)", context),
    run,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    answer.textContent = "";
    tree.replaceChildren();
    try {
      const body = {
        resource: parseObject(resource.value, "resource"),
        permission: permission.value.trim(),
        subject: parseSubject(subject.value, "subject"),
        onBehalfOf: parseChain(chain.value, "on behalf of"),
        context: parseContext(context.value, "context"),
        withTracing: true,
        consistency: { fullyConsistent: true },
      };
      const r = await api.call<{
        permissionship?: string;
        debugTrace?: { nodes?: TraceNode[] };
        partialCaveatInfo?: { missingRequiredContext?: string[] };
        approvalRule?: string;
      }>("PermissionService", "CheckPermission", body);
      const verdict = verdictOf(r.permissionship);
      answer.className = `answer ${verdict}`;
      answer.textContent = enumWord(r.permissionship, "PERMISSIONSHIP_");
      const missing = r.partialCaveatInfo?.missingRequiredContext ?? [];
      if (missing.length > 0) answer.textContent += ` (missing context: ${missing.join(", ")})`;
      if (r.approvalRule) answer.textContent += ` (approval rule ${r.approvalRule})`;
      const t = buildExplainTree(r.debugTrace?.nodes ?? []);
      if (t !== undefined) tree.replaceChildren(drawTree(t));
    } catch (e) {
      showError(error, e);
    }
  });
  root.replaceChildren(h("h2", {}, "Check and explain"), form, error, answer, tree);
}

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

export function approvalsPage(api: Api, root: HTMLElement): void {
  const approver = h("input", { id: "approver", placeholder: "user:bob" });
  const error = errorBox();
  const list = h("ul", { id: "approvals-list", class: "approvals" });
  const decide = async (a: Approval, approve: boolean) => {
    error.hidden = true;
    try {
      await api.call("ApprovalService", "DecideApproval", {
        approvalId: a.id,
        approve,
        approver: parseSubject(approver.value, "approver"),
      });
      await load();
    } catch (e) {
      showError(error, e);
    }
  };
  const load = async () => {
    try {
      const r = await api.call<{ approvals?: Approval[] }>("ApprovalService", "ListApprovals", {
        limit: 100,
      });
      const all = r.approvals ?? [];
      list.replaceChildren(
        ...all.map((a) => {
          const state = enumWord(a.state, "APPROVAL_STATE_");
          const item = h(
            "li",
            { class: `approval ${state.toLowerCase()}` },
            h("p", { class: "sentence" }, approvalSentence(a)),
            h("p", {}, h("span", { class: "badge" }, state), ` rule ${a.ruleId ?? "?"} · ${a.message ?? ""}`),
            a.justification && h("p", {}, `Why: ${a.justification}`),
            a.decidedBy && h("p", {}, `Decided by ${a.decidedBy}`),
          );
          if (state === "PENDING") {
            const yes = h("button", { type: "button", class: "approve" }, "Approve");
            const no = h("button", { type: "button", class: "deny" }, "Deny");
            yes.addEventListener("click", () => void decide(a, true));
            no.addEventListener("click", () => void decide(a, false));
            item.append(h("div", { class: "row" }, yes, no));
          }
          return item;
        }),
      );
      if (all.length === 0) list.replaceChildren(h("li", {}, "No approval requests."));
    } catch (e) {
      showError(error, e);
    }
  };
  root.replaceChildren(h("h2", {}, "Approvals"), field("Decide as (approver)", approver), error, list);
  void load();
}
