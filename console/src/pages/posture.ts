/**
 * Posture: the identity security posture report from PostureService (computed by the server at its
 * latest revision), its charts, the findings by severity, and the drift since the previous kept
 * report. The configuration and the last report live in memory for this sign-in only.
 */
import type { Api } from "../api.js";
import { errorBox, field, h, showError } from "../dom.js";
import {
  type Bar,
  driftRows,
  type Finding,
  findingsBySeverity,
  type IdentityEntry,
  kindBars,
  type PostureReport,
  reachBars,
  readReport,
  severityBars,
} from "../posture-view.js";

interface PostureState {
  config: string;
  save: boolean;
  report?: PostureReport;
}

/** Per sign-in: a new token starts with nothing from the last one. */
const states = new WeakMap<Api, PostureState>();

const SVG = "http://www.w3.org/2000/svg";

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
  text?: string,
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** A horizontal bar chart; the numbers are in the text too, so nothing is colour or length only. */
function barChart(
  id: string,
  title: string,
  list: readonly Bar[],
  classOf: (b: Bar) => string,
): SVGSVGElement {
  const row = 26;
  const label = 150;
  const width = 280;
  const chart = svg("svg", {
    id,
    class: "chart",
    role: "img",
    "aria-label": `${title}: ${list.map((b) => `${b.label} ${b.value}`).join(", ")}`,
    viewBox: `0 0 ${label + width + 50} ${list.length * row + 6}`,
  });
  list.forEach((b, n) => {
    const y = 4 + n * row;
    chart.append(
      svg("text", { x: 0, y: y + 14, class: "chart-label" }, b.label),
      svg("rect", { x: label, y, width, height: 18, class: "chart-track" }),
      svg("rect", { x: label, y, width: Math.round(b.share * width), height: 18, class: classOf(b) }),
      svg("text", { x: label + width + 8, y: y + 14, class: "chart-value" }, String(b.value)),
    );
  });
  return chart;
}

function reachChart(identity: IdentityEntry): SVGSVGElement {
  const row = 26;
  const label = 190;
  const width = 300;
  const list = reachBars(identity);
  const chart = svg("svg", {
    class: "chart reach",
    "data-identity": identity.identity,
    role: "img",
    "aria-label": `reach of ${identity.identity}: ${list.map((r) => `${r.permission} ${r.text}`).join("; ")}`,
    viewBox: `0 0 ${label + width + 230} ${list.length * row + 6}`,
  });
  list.forEach((r, n) => {
    const y = 4 + n * row;
    chart.append(
      svg("text", { x: 0, y: y + 14, class: "chart-label" }, r.permission),
      svg("rect", { x: label, y, width, height: 18, class: "chart-track" }),
      svg("rect", { x: label, y, width: Math.round(r.share * width), height: 18, class: "bar-reach" }),
      svg("rect", {
        x: label,
        y,
        width: Math.round(Math.min(r.sensitiveShare, r.share) * width),
        height: 18,
        class: "bar-sensitive",
      }),
      svg("text", { x: label + width + 8, y: y + 14, class: "chart-value" }, r.text),
    );
  });
  return chart;
}

function findingView(f: Finding): HTMLElement {
  return h(
    "article",
    {
      class: `finding sev-${f.severity}`,
      "data-kind": f.kind,
      "data-identity": f.identity,
      "data-severity": f.severity,
    },
    h(
      "h5",
      {},
      h("span", { class: `sev sev-${f.severity}` }, f.severity),
      " ",
      h("code", {}, f.kind),
      ` · ${f.identity}`,
    ),
    h("p", {}, f.message),
    f.evidence.length > 0 &&
      h(
        "details",
        {},
        h("summary", {}, `evidence (${f.evidence.length})`),
        h("ul", {}, ...f.evidence.map((e) => h("li", {}, h("code", {}, e)))),
      ),
    h("p", { class: "fix" }, h("b", {}, "Fix: "), f.fix),
  );
}

function driftView(report: PostureReport): HTMLElement {
  const rows = driftRows(report);
  if (rows === undefined)
    return h(
      "p",
      { id: "posture-drift" },
      "No earlier report was kept, so there is nothing to compare with yet. Tick “Keep this report” and the next report shows how reach changed.",
    );
  const d = report.drift!;
  return h(
    "div",
    { id: "posture-drift" },
    h("p", {}, `Compared with the report kept at revision ${d.previousRevision} (${d.previousGeneratedAt}).`),
    rows.length === 0
      ? h("p", {}, "No identity's reach changed.")
      : h(
          "table",
          { class: "drift" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ...["identity", "permission", "before", "after", "change"].map((c) => h("th", {}, c)),
            ),
          ),
          h(
            "tbody",
            {},
            ...rows.map((r) =>
              h(
                "tr",
                { class: r.grew ? "grew" : "", "data-identity": r.identity },
                h("td", {}, r.identity),
                h("td", {}, r.permission),
                h("td", {}, String(r.before)),
                h("td", {}, String(r.after)),
                h("td", { class: "change" }, r.change),
              ),
            ),
          ),
        ),
  );
}

function reportView(report: PostureReport): HTMLElement[] {
  const s = report.summary;
  const card = (n: number, label: string, cls = "") =>
    h("div", { class: `card ${cls}`, "data-count": label }, h("b", {}, String(n)), label);
  return [
    h("p", { class: "lead" }, `Revision ${report.revision}, computed ${report.generatedAt}.`),
    h(
      "div",
      { id: "posture-summary", class: "cards" },
      card(s.identities, "identities"),
      card(s.relationships, "relationships"),
      card(s.findings, "findings"),
      card(s.bySeverity.high, "high", "sev-high"),
      card(s.bySeverity.medium, "medium", "sev-medium"),
      card(s.bySeverity.low, "low", "sev-low"),
    ),
    h(
      "div",
      { class: "charts" },
      h(
        "figure",
        {},
        h("figcaption", {}, "Findings by severity"),
        barChart(
          "posture-severity-chart",
          "findings by severity",
          severityBars(report),
          (b) => `bar sev-${b.label}`,
        ),
      ),
      h(
        "figure",
        {},
        h("figcaption", {}, "Findings by kind"),
        barChart("posture-kind-chart", "findings by kind", kindBars(report), () => "bar"),
      ),
    ),
    h("h3", {}, "Findings by severity"),
    h(
      "div",
      { id: "posture-findings" },
      ...findingsBySeverity(report).map(({ severity, findings }) =>
        h(
          "section",
          { class: "severity", "data-severity": severity },
          h(
            "h4",
            {},
            h("span", { class: `sev sev-${severity}` }, severity),
            ` ${findings.length} finding(s)`,
          ),
          ...findings.map(findingView),
        ),
      ),
    ),
    h("h3", {}, "Drift since the previous report"),
    driftView(report),
    h("h3", {}, "Reach of each identity"),
    h(
      "p",
      { class: "lead" },
      "Blue: the share of the type's objects the identity reaches; red: the sensitive ones among them.",
    ),
    h(
      "div",
      { id: "posture-reach" },
      ...report.identities.map((i) =>
        h(
          "div",
          { class: "identity" },
          h(
            "h4",
            {},
            i.identity,
            h(
              "small",
              {},
              ` owner: ${i.owners.join(", ") || "none"} · ${i.grants} grant(s) · ${i.delegations} delegation(s)`,
            ),
          ),
          reachChart(i),
        ),
      ),
    ),
  ];
}

export function posturePage(api: Api, root: HTMLElement): void {
  let state = states.get(api);
  if (state === undefined) {
    state = { config: "", save: false };
    states.set(api, state);
  }
  const st = state;
  const config = h("textarea", { id: "posture-config", rows: "8", spellcheck: "false" });
  config.value = st.config;
  const save = h("input", { id: "posture-save", type: "checkbox" });
  save.checked = st.save;
  const run = h("button", { id: "posture-run", type: "submit" }, "Compute report");
  const error = errorBox();
  const status = h("p", { id: "posture-status", class: "status", role: "status" });
  const out = h("div", { id: "posture-report" });
  const form = h(
    "form",
    { id: "posture-form", class: "posture-form" },
    h(
      "details",
      {},
      h("summary", {}, "Configuration"),
      field(
        "Configuration (YAML, as `latch posture --config` reads; empty for the defaults, which fit schemas/rag.zed)",
        config,
      ),
    ),
    h(
      "div",
      { class: "row" },
      h(
        "label",
        { class: "check", for: "posture-save" },
        save,
        " Keep this report, so the next one shows drift against it",
      ),
      run,
      status,
    ),
  );
  const draw = (report: PostureReport) => out.replaceChildren(...reportView(report));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    st.config = config.value;
    st.save = save.checked;
    error.hidden = true;
    run.disabled = true;
    status.textContent = "Computing…";
    try {
      const r = await api.call<{ reportJson?: string }>("PostureService", "Report", {
        config: config.value,
        save: save.checked,
      });
      st.report = readReport(r.reportJson ?? "");
      draw(st.report);
      status.textContent = save.checked ? "Report computed and kept." : "Report computed.";
    } catch (e) {
      showError(error, e);
      status.textContent = "";
    } finally {
      run.disabled = false;
    }
  });
  root.replaceChildren(
    h("h2", {}, "Posture"),
    h(
      "p",
      { class: "lead" },
      "What the non-human identities (agents, services) can reach, and what is wrong with it, at the server's latest revision.",
    ),
    form,
    error,
    out,
  );
  if (st.report !== undefined) draw(st.report);
  else form.requestSubmit();
}
