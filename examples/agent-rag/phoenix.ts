/**
 * The Phoenix project's data for the example, on schemas/rag.zed: alice works on Phoenix and
 * delegates to her assistant agent for reading, summarizing and editing (not exporting); the
 * financial documents are classified above her clearance; lena leads the project.
 */
export const RELATIONSHIPS = [
  "organization:acme#member@user:alice",
  "project:phoenix#organization@organization:acme",
  "project:phoenix#lead@user:lena",
  "project:phoenix#contributor@user:alice",
  "folder:phoenix-internal#project@project:phoenix",
  "folder:phoenix-finance#project@project:phoenix",
  "document:launch-plan#folder@folder:phoenix-internal",
  "document:launch-plan#sensitivity@user:*",
  "document:launch-plan#sensitivity@agent:*",
  "document:design-notes#folder@folder:phoenix-internal",
  "document:design-notes#sensitivity@user:*",
  "document:design-notes#sensitivity@agent:*",
  "document:budget#folder@folder:phoenix-finance",
  'document:budget#sensitivity@user:*[sensitivity_cleared:{"sensitivity":3}]',
  'document:budget#sensitivity@agent:*[sensitivity_cleared:{"sensitivity":3}]',
  "document:hr-notes#owner@user:hana",
  "document:hr-notes#sensitivity@user:*",
  "document:hr-notes#sensitivity@agent:*",
  "agent:assistant#owner@user:alice",
  'user:alice#scoped_delegate@agent:assistant[delegation_scope:{"allowed_permissions":["document#read","document#summarize","document#edit"]}]',
];

/** Editing a Phoenix document on someone's behalf waits for a person who may edit it (not alice). */
export const APPROVAL_RULES = `rules:
  - id: agent-edits
    resource: document
    permission: edit
    subjects: [agent]
    approvers: edit
    on_behalf_of_only: true
`;

/** Chunks of the documents, as a vector store would hold them. */
export const CHUNKS: readonly { readonly doc: string; readonly text: string }[] = [
  { doc: "launch-plan", text: "Phoenix launch plan: beta in March, general availability in June." },
  { doc: "launch-plan", text: "Phoenix launch risks: the payment provider integration is late." },
  { doc: "design-notes", text: "Phoenix design notes: the plan moves search to a new index." },
  { doc: "budget", text: "Phoenix budget: 2.4M for the launch plan, 40% on marketing." },
  { doc: "budget", text: "Phoenix budget risks: hiring plan exceeds forecast by 15%." },
  { doc: "hr-notes", text: "HR notes on the Phoenix team plan: two hires pending approval." },
];
