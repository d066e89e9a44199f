/** Approvals: the inbox of pending requests, approve and deny, and the history. */
import type { Api } from "../api.js";
import { errorBox, field, h, showError } from "../dom.js";
import { parseSubject } from "../refs.js";
import { type Approval, approvalSentence, enumWord } from "../sentences.js";

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
