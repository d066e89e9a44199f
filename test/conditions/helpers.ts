import type { ParameterTypes } from "../../src/conditions/index.js";
import { parseParameterType } from "../../src/conditions/index.js";

/** `params({ a: "int", l: "list<string>" })` */
export function params(declared: Record<string, string>): ParameterTypes {
  return new Map(
    Object.entries(declared).map(([name, text]) => {
      const type = parseParameterType(text);
      if (type === undefined) throw new Error(`bad type in test: ${text}`);
      return [name, type];
    }),
  );
}
