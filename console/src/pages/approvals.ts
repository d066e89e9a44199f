/**
 * Approvals: the inbox of pending requests with the agent's permission path (the witness of the
 * check it made when it asked), approve and deny, and the history. The approver is the signed-in
 * token's subject when the token is named after one (`--token user:olga=...`); the approver box
 * is for an administrator's token, which names no one.
 */
import type { Api } from "../api.js";
import { errorBox, field, h, showError } from "../dom.js";
import { parseSubject } from "../refs.js";
import { type Approval, approvalSentence, enumWord } from "../sentences.js";

/** Why the agent may act at all: the relationships that proved its own check, in order. */
function permissionPath(a: Approval): HTMLElement {
  const witness = a.witness ?? [];
  return h(
    "div",
    { class: "permission-path" },
    h("b", {}, "Permission path"),
    witness.length === 0
      ? h("p", {}, "No stored relationship (the subject itself, or none recorded).")
      : h("ol", {}, ...witness.map((w) => h("li", {}, h("code", {}, w)))),
  );
}

export function approvalsPage(api: Api, root: HTMLElement): void {
  const approver = h("input", { id: "approver", placeholder: "empty: the signed-in token's subject" });
  const error = errorBox();
  const list = h("ul", { id: "approvals-list", class: "approvals" });
  const decide = async (a: Approval, approve: boolean) => {
    error.hidden = true;
    try {
      await api.call("ApprovalService", "DecideApproval", {
        approvalId: a.id,
        approve,
        ...(approver.value.trim() === "" ? {} : { approver: parseSubject(approver.value, "approver") }),
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
            permissionPath(a),
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
  root.replaceChildren(
    h("h2", {}, "Approvals"),
    field("Decide as (only with a token that names no one)", approver),
    error,
    list,
  );
  void load();
}
