/** Check and explain: the form and the answer drawn as its expression tree. */
import type { Api } from "../api.js";
import { errorBox, field, h, showError } from "../dom.js";
import { buildExplainTree, type ExplainTree, type TraceNode, verdictOf } from "../explain.js";
import { parseChain, parseContext, parseObject, parseSubject } from "../refs.js";
import { enumWord } from "../sentences.js";

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
