/**
 * The report as one self-contained HTML page (no script, no external resource): the summary,
 * the findings grouped by severity with their evidence and fix, each identity's reach as an inline
 * SVG bar chart (share of the type's objects, sensitive ones marked), and the drift since the
 * previous report. Written for a reader who never used Latch: every section says what it shows.
 * Elements carry `data-*` attributes so that tests (and scripts) can read what was rendered.
 */
import { FINDING_KINDS, type Finding, type IdentityEntry, type PostureReport, SEVERITIES } from "./types.js";

const esc = (s: string | number): string => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const KIND_TEXT: Readonly<Record<(typeof FINDING_KINDS)[number], string>> = {
  "orphan-identity": "nobody answers for the identity: no owner, or the owner is deleted or suspended",
  "owner-lost-access": "the identity keeps access its owner lost",
  "non-expiring-grant": "grants or delegations that never expire, or expire too late",
  "over-broad-reach": "reaches too large a share of objects, or sensitive ones through broad grants",
  "unused-grant": "grants no allowed decision used recently",
  drift: "reach grew since the previous report",
  "risky-delegation": "acts through long on-behalf-of chains or unscoped delegations",
};

const COLORS = { high: "#b42318", medium: "#b54708", low: "#475467" } as const;

function findingHtml(f: Finding): string {
  const evidence = f.evidence.map((e) => `<li><code>${esc(e)}</code></li>`).join("");
  return `<article class="finding" data-kind="${esc(f.kind)}" data-identity="${esc(f.identity)}" data-severity="${f.severity}">
<h4><span class="badge ${f.severity}">${f.severity}</span> <span class="kind">${esc(f.kind)}</span> · <span class="who">${esc(f.identity)}</span></h4>
<p>${esc(f.message)}</p>
${evidence === "" ? "" : `<details><summary>evidence (${f.evidence.length})</summary><ul>${evidence}</ul></details>`}
<p class="fix"><b>Fix:</b> ${esc(f.fix)}</p>
</article>`;
}

/** One horizontal bar per reach permission: the share reached, the sensitive part darker. */
export function reachChart(i: IdentityEntry): string {
  const row = 26;
  const label = 190;
  const bar = 300;
  const height = i.reach.length * row + 8;
  const bars = i.reach
    .map((r, n) => {
      const y = 4 + n * row;
      const w = Math.round(r.share * bar);
      const sw = r.total === 0 ? 0 : Math.round((r.sensitive / r.total) * bar);
      return `<g data-permission="${esc(r.permission)}" data-reached="${r.reached}" data-total="${r.total}">
<text x="0" y="${y + 15}" font-size="12">${esc(r.permission)}</text>
<rect x="${label}" y="${y + 2}" width="${bar}" height="16" fill="#eaecf0"/>
<rect class="reached" x="${label}" y="${y + 2}" width="${w}" height="16" fill="#2e90fa"/>
<rect class="sensitive" x="${label}" y="${y + 2}" width="${Math.min(sw, w)}" height="16" fill="#b42318"/>
<text x="${label + bar + 8}" y="${y + 15}" font-size="12">${r.reached} / ${r.total}${r.sensitive > 0 ? ` (${r.sensitive} sensitive)` : ""}</text>
</g>`;
    })
    .join("");
  return `<svg class="reach" data-identity="${esc(i.identity)}" role="img" aria-label="reach of ${esc(i.identity)}" width="${label + bar + 170}" height="${height}" xmlns="http://www.w3.org/2000/svg">${bars}</svg>`;
}

function driftHtml(report: PostureReport): string {
  if (report.drift === null)
    return "<p>No earlier report was kept, so there is nothing to compare with yet. Keep reports (<code>latch posture --save</code>) and the next one shows how reach changed.</p>";
  const d = report.drift;
  const rows = d.changes
    .map(
      (c) =>
        `<tr data-identity="${esc(c.identity)}"><td>${esc(c.identity)}</td><td>${esc(c.permission)}</td><td>${c.before}</td><td>${c.after}</td><td>${c.after >= c.before ? "+" : ""}${c.after - c.before}</td></tr>`,
    )
    .join("");
  return `<p>Compared with the report at revision ${esc(d.previousRevision)} (${esc(d.previousGeneratedAt)}).</p>
${rows === "" ? "<p>No identity's reach changed.</p>" : `<table class="drift"><thead><tr><th>identity</th><th>permission</th><th>before</th><th>after</th><th>change</th></tr></thead><tbody>${rows}</tbody></table>`}`;
}

export function renderHtml(report: PostureReport): string {
  const s = report.summary;
  const bySeverity = SEVERITIES.map((sev) => {
    const list = report.findings.filter((f) => f.severity === sev);
    return `<section class="severity" data-severity="${sev}"><h3><span class="badge ${sev}">${sev}</span> ${list.length} finding${list.length === 1 ? "" : "s"}</h3>${list.map(findingHtml).join("\n")}</section>`;
  }).join("\n");
  const kinds = FINDING_KINDS.map(
    (k) => `<tr><td><code>${k}</code></td><td>${s.byKind[k]}</td><td>${esc(KIND_TEXT[k])}</td></tr>`,
  ).join("");
  const charts = report.identities
    .map(
      (i) =>
        `<div class="identity"><h4>${esc(i.identity)} <small>owner: ${esc(i.owners.join(", ") || "none")} · ${i.grants} grants · ${i.delegations} delegations</small></h4>${reachChart(i)}</div>`,
    )
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Latch posture report, revision ${esc(report.revision)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#101828;padding:0 16px}
h1{font-size:22px}h2{border-bottom:1px solid #d0d5dd;padding-bottom:4px;margin-top:32px}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #d0d5dd;border-radius:8px;padding:10px 16px;min-width:110px}
.card b{display:block;font-size:24px}
.badge{color:#fff;border-radius:4px;padding:1px 6px;font-size:12px;text-transform:uppercase}
.badge.high{background:${COLORS.high}}.badge.medium{background:${COLORS.medium}}.badge.low{background:${COLORS.low}}
.finding{border:1px solid #eaecf0;border-radius:8px;padding:8px 14px;margin:8px 0}.finding h4{margin:4px 0}
.fix{color:#344054}code{font-size:12px}table{border-collapse:collapse}td,th{border:1px solid #eaecf0;padding:3px 8px;text-align:left}
.identity h4{margin:14px 0 2px}.identity small{color:#667085;font-weight:normal}
</style></head><body>
<h1>Identity security posture</h1>
<p>What the non-human identities (agents, services) of this Latch datastore can reach, and what is wrong with it, at revision ${esc(report.revision)}, computed ${esc(report.generatedAt)}.</p>
<h2>Summary</h2>
<div class="cards" id="summary">
<div class="card"><b data-count="identities">${s.identities}</b>identities</div>
<div class="card"><b data-count="findings">${s.findings}</b>findings</div>
${SEVERITIES.map((sev) => `<div class="card"><b data-count="${sev}" style="color:${COLORS[sev]}">${s.bySeverity[sev]}</b>${sev}</div>`).join("\n")}
</div>
<table><thead><tr><th>kind</th><th>count</th><th>what it means</th></tr></thead><tbody>${kinds}</tbody></table>
<h2>Findings by severity</h2>
${bySeverity}
<h2>Reach of each identity</h2>
<p>Blue: the share of all objects of the type the identity can reach (allowed, or allowed under a condition the request decides); red: the sensitive ones among them.</p>
${charts}
<h2>Drift since the previous report</h2>
${driftHtml(report)}
</body></html>
`;
}
