/** Text the user types (`document:plan`, `group:eng#member`) to the API's references, and back. */

export interface ObjectRef {
  readonly objectType: string;
  readonly objectId: string;
}

export interface SubjectRef {
  readonly object: ObjectRef;
  readonly optionalRelation?: string;
}

/** Thrown for text that is not a reference: says which field and what shape it needs. */
export class RefError extends Error {
  override readonly name = "RefError";
}

export function parseObject(text: string, field: string): ObjectRef {
  const t = text.trim();
  const colon = t.indexOf(":");
  if (colon <= 0 || colon === t.length - 1 || t.includes("#")) {
    throw new RefError(`${field}: "${t}" is not an object; write type:id, e.g. document:plan`);
  }
  return { objectType: t.slice(0, colon), objectId: t.slice(colon + 1) };
}

export function parseSubject(text: string, field: string): SubjectRef {
  const t = text.trim();
  const hash = t.indexOf("#");
  if (hash < 0) return { object: parseObject(t, field) };
  const relation = t.slice(hash + 1);
  if (relation === "") throw new RefError(`${field}: "${t}" has an empty relation after #`);
  return { object: parseObject(t.slice(0, hash), field), optionalRelation: relation };
}

/** A comma- or space-separated on-behalf-of chain, nearest principal first; empty for none. */
export function parseChain(text: string, field: string): SubjectRef[] {
  return text
    .split(/[\s,]+/)
    .filter((p) => p !== "")
    .map((p) => parseSubject(p, field));
}

/** The request context: a JSON object, or nothing when the box is empty. */
export function parseContext(text: string, field: string): Record<string, unknown> | undefined {
  if (text.trim() === "") return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new RefError(`${field}: not JSON (${(error as Error).message})`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new RefError(`${field}: must be a JSON object, e.g. {"ip": "10.0.0.1"}`);
  }
  return value as Record<string, unknown>;
}
