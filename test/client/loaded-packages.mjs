// Run as `node --import tsx test/client/loaded-packages.mjs <entry>`: imports the entry and prints,
// as JSON, every package under node_modules that was loaded, whether by an ESM import (seen by a
// resolve hook) or by a CommonJS require (seen in require.cache).
import { createRequire, register } from "node:module";
import { MessageChannel } from "node:worker_threads";

const { port1, port2 } = new MessageChannel();
const resolved = new Set();
port1.on("message", (url) => resolved.add(url));
port1.unref();
const hooks = `
let port;
export function initialize(data) { port = data.port; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  port.postMessage(result.url);
  return result;
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`, {
  data: { port: port2 },
  transferList: [port2],
});

await import(new URL(process.argv[2], `file://${process.cwd()}/`).href);
// Messages from the hooks thread arrive asynchronously: let them drain.
await new Promise((resolve) => setTimeout(resolve, 200));

const files = [...resolved, ...Object.keys(createRequire(import.meta.url).cache)];
const packages = new Set();
for (const file of files) {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(decodeURIComponent(file));
  if (match !== null) packages.add(match[1]);
}
process.stdout.write(JSON.stringify([...packages].sort()));
process.exit(0);
