/** A tiny element builder: text always goes in as text, never as HTML. */
type Child = Node | string | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) if (c !== undefined && c !== false) el.append(c);
  return el;
}

/** A labelled form field; `name` is the element's id, used by tests and labels. */
export function field(label: string, input: HTMLInputElement | HTMLTextAreaElement): HTMLElement {
  return h("label", { class: "field", for: input.id }, h("span", {}, label), input);
}

export function errorBox(): HTMLElement {
  return h("p", { class: "error", role: "alert", hidden: "" });
}

export function showError(box: HTMLElement, error: unknown): void {
  const e = error as { message?: string; latchCode?: string };
  box.textContent = `${e.message ?? String(error)}${e.latchCode ? ` (${e.latchCode})` : ""}`;
  box.hidden = false;
}
