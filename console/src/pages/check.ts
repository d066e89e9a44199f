/**
 * Check and explain: the answer drawn as its expression tree with the witness path outlined, the
 * relationships that matched, and every caveat with its context; Expand as a tree; the lookups as
 * tables with their state.
 */
import { expandTreeOf, resourceRows, subjectRows, type WireExpandTree } from "../answers.js";
import type { Api } from "../api.js";
import { errorBox, field, h, showError } from "../dom.js";
import { caveatsOf, drawCaveats, drawExpand, drawExplain, drawLookup, drawWitness } from "../draw-answers.js";
import { buildExplainTree, type TraceNode, verdictOf } from "../explain.js";
import { parseChain, parseContext, parseObject, parseSubject } from "../refs.js";
import { enumWord } from "../sentences.js";
import { markWitnessPath, unmatchedWitness } from "../witness-path.js";

interface CheckAnswer {
  permissionship?: string;
  debugTrace?: { nodes?: TraceNode[] };
  partialCaveatInfo?: { missingRequiredContext?: string[] };
  approvalRule?: string;
  approvalId?: string;
  witness?: string[];
}

const input = (id: string, placeholder: string) => h("input", { id, placeholder, autocomplete: "off" });
const fullyConsistent = { fullyConsistent: true };

export function checkPage(api: Api, root: HTMLElement): void {
  const resource = input("check-resource", "document:plan");
  const permission = input("check-permission", "view");
  const subject = input("check-subject", "user:alice");
  const chain = input("check-chain", "user:alice (optional, nearest first)");
  const context = h("textarea", {
    id: "check-context",
    placeholder: '{"ip": "10.0.0.1"} (optional)',
    rows: "3",
  });
  const error = errorBox();
  const answer = h("p", { id: "check-answer", class: "answer", role: "status" });
  const tree = h("ul", { id: "check-tree", class: "tree graph" });
  const details = h("div", { id: "check-details", class: "columns" });
  const more = h("div", { id: "check-more" });
  const button = (id: string, label: string, submit = false) =>
    h("button", { id, type: submit ? "submit" : "button" }, label);
  const run = button("check-run", "Check", true);
  const expand = button("expand-run", "Expand");
  const lookupResources = button("lookup-resources-run", "Lookup resources");
  const lookupSubjects = button("lookup-subjects-run", "Lookup subjects");
  const form = h(
    "form",
    { class: "form" },
    field("Resource (type:id; a type alone for Lookup resources)", resource),
    field("Permission", permission),
    field("Subject (type:id; a type alone for Lookup subjects)", subject),
    field("On behalf of", chain),
    field("Context (JSON)", context),
    h("div", { class: "row" }, run, expand, lookupResources, lookupSubjects),
  );
  const clear = () => {
    error.hidden = true;
    answer.textContent = "";
    answer.className = "answer";
    tree.replaceChildren();
    details.replaceChildren();
    more.replaceChildren();
  };
  /** Runs one of the four questions; bad input and the server's refusals show in the error box. */
  const ask = (what: () => Promise<void>) => async () => {
    clear();
    try {
      await what();
    } catch (e) {
      showError(error, e);
    }
  };

  const check = ask(async () => {
    const requestContext = parseContext(context.value, "context");
    const r = await api.call<CheckAnswer>("PermissionService", "CheckPermission", {
      resource: parseObject(resource.value, "resource"),
      permission: permission.value.trim(),
      subject: parseSubject(subject.value, "subject"),
      onBehalfOf: parseChain(chain.value, "on behalf of"),
      context: requestContext,
      withTracing: true,
      withWitness: true,
      consistency: fullyConsistent,
    });
    answer.className = `answer ${verdictOf(r.permissionship)}`;
    answer.textContent = enumWord(r.permissionship, "PERMISSIONSHIP_");
    const missing = r.partialCaveatInfo?.missingRequiredContext ?? [];
    if (missing.length > 0) answer.textContent += ` (missing context: ${missing.join(", ")})`;
    if (r.approvalRule) answer.textContent += ` (approval rule ${r.approvalRule})`;
    if (r.approvalId) answer.textContent += ` (approval ${r.approvalId})`;
    const witness = r.witness ?? [];
    const built = buildExplainTree(r.debugTrace?.nodes ?? []);
    if (built === undefined) return;
    const marked = markWitnessPath(built, witness);
    tree.replaceChildren(drawExplain(marked));
    details.replaceChildren(
      drawWitness(witness, unmatchedWitness(marked, witness)),
      drawCaveats(caveatsOf(marked), requestContext),
    );
  });

  const expandTree = ask(async () => {
    const r = await api.call<{ treeRoot?: WireExpandTree }>("PermissionService", "ExpandPermissionTree", {
      resource: parseObject(resource.value, "resource"),
      permission: permission.value.trim(),
      consistency: fullyConsistent,
    });
    answer.textContent = "Expanded";
    if (r.treeRoot !== undefined)
      more.replaceChildren(
        h("ul", { id: "expand-tree", class: "tree" }, drawExpand(expandTreeOf(r.treeRoot))),
      );
  });

  const resources = ask(async () => {
    const type = resource.value.trim().split(":")[0] ?? "";
    if (type === "") throw new Error("resource: give the type to look up, e.g. document");
    const rows = resourceRows(
      await api.stream("PermissionService", "LookupResources", {
        resourceObjectType: type,
        permission: permission.value.trim(),
        subject: parseSubject(subject.value, "subject"),
        onBehalfOf: parseChain(chain.value, "on behalf of"),
        context: parseContext(context.value, "context"),
        consistency: fullyConsistent,
      }),
    );
    answer.textContent = `${rows.length} ${type}(s)`;
    more.replaceChildren(drawLookup("lookup-resources", `${type} id`, rows, false));
  });

  const subjects = ask(async () => {
    const [type, relation] = subject.value.trim().split(":")[0]!.split("#");
    if (!type) throw new Error("subject: give the subject type to look up, e.g. user");
    const rows = subjectRows(
      await api.stream("PermissionService", "LookupSubjects", {
        resource: parseObject(resource.value, "resource"),
        permission: permission.value.trim(),
        subjectObjectType: type,
        ...(relation === undefined ? {} : { optionalSubjectRelation: relation }),
        context: parseContext(context.value, "context"),
        consistency: fullyConsistent,
      }),
    );
    answer.textContent = `${rows.length} ${type}(s)`;
    more.replaceChildren(drawLookup("lookup-subjects", `${type} id`, rows, true));
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void check();
  });
  expand.addEventListener("click", () => void expandTree());
  lookupResources.addEventListener("click", () => void resources());
  lookupSubjects.addEventListener("click", () => void subjects());
  root.replaceChildren(
    h("h2", {}, "Check and explain"),
    form,
    error,
    answer,
    h("div", { class: "graph-wrap" }, tree),
    details,
    more,
  );
}
