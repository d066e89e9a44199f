/**
 * The Latch console: a sign-in form, then the pages. The bearer token is held in this closure
 * only; a wrong token never gets past the sign-in form.
 */
import "./caveat-libraries.js";
import { type Api, ApiError, createApi } from "./api.js";
import { errorBox, field, h, showError } from "./dom.js";
import { approvalsPage } from "./pages/approvals.js";
import { auditPage } from "./pages/audit.js";
import { checkPage } from "./pages/check.js";
import { posturePage } from "./pages/posture.js";
import { relationshipsPage } from "./pages/relationships.js";
import { schemaPage } from "./pages/schema.js";

const PAGES: readonly [string, (api: Api, root: HTMLElement) => void][] = [
  ["Schema", schemaPage],
  ["Relationships", relationshipsPage],
  ["Check", checkPage],
  ["Audit", auditPage],
  ["Approvals", approvalsPage],
  ["Posture", posturePage],
];

function signedIn(app: HTMLElement, api: Api): void {
  const content = h("section", { id: "page" });
  const tabs = PAGES.map(([name, draw]) => {
    const tab = h("button", { type: "button", class: "tab", id: `tab-${name.toLowerCase()}` }, name);
    tab.addEventListener("click", () => {
      for (const t of tabs) t.removeAttribute("aria-current");
      tab.setAttribute("aria-current", "page");
      draw(api, content);
    });
    return tab;
  });
  const signOut = h("button", { type: "button", id: "sign-out" }, "Sign out");
  signOut.addEventListener("click", () => signIn(app));
  app.replaceChildren(h("header", {}, h("h1", {}, "Latch"), h("nav", {}, ...tabs), signOut), content);
  tabs[0]!.click();
}

function signIn(app: HTMLElement): void {
  const token = h("input", { id: "token", type: "password", autocomplete: "off", required: "" });
  const error = errorBox();
  const form = h(
    "form",
    { id: "sign-in", class: "form narrow" },
    h("h1", {}, "Latch console"),
    field("Bearer token", token),
    h("button", { type: "submit" }, "Sign in"),
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const api = createApi(token.value, (url, init) => fetch(url, init));
    try {
      // Any authenticated call proves the token; a store without a schema answers not_found.
      await api.call("SchemaService", "ReadSchema", {});
    } catch (e) {
      if (!(e instanceof ApiError) || e.code === "unauthenticated" || e.code === "permission_denied") {
        showError(error, e);
        return;
      }
    }
    signedIn(app, api);
  });
  app.replaceChildren(form);
  token.focus();
}

signIn(document.getElementById("app")!);
