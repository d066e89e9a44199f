/**
 * Preloaded with `node --import` by startup.test.ts: appends to the file named by
 * LATCH_RECORD_LOADS every module the process loads, one URL or path a line. Two views, because
 * neither sees everything: a resolve hook sees each import from ES modules (Latch's own files, and
 * each package Latch imports), and `require.cache`, read at exit, holds every CommonJS file,
 * including those packages load among themselves.
 */
import { appendFileSync } from "node:fs";
import { createRequire, register } from "node:module";

const out = process.env.LATCH_RECORD_LOADS;
if (out === undefined) throw new Error("record-loads.mjs: set LATCH_RECORD_LOADS");

// The hooks run on a thread of their own: they write each URL as it resolves.
const hooks = `
import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(${JSON.stringify(out)}, resolved.url + "\\n");
  return resolved;
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);

const require = createRequire(import.meta.url);
process.on("exit", () => {
  const files = Object.keys(require.cache);
  if (files.length > 0) appendFileSync(out, `${files.join("\n")}\n`);
});
