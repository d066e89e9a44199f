/**
 * The libraries behind caveats (the CEL implementation, RE2, ipaddr.js), loaded the first time a
 * caveat is compiled rather than when this module is imported. They take about a fifth of a
 * second on a loaded machine, and most processes never compile a caveat: `latch --version`, a
 * check on a schema without caveats, an application that imports `latch/embedded` and has not
 * opened its store yet. Compiling stays synchronous (`compileSchema` is), so the load is too:
 * Node's `require`, which also loads ES modules since Node 20.19 (the package's minimum). A
 * runtime without `process.getBuiltinModule` cannot compile caveats.
 *
 * Whatever loads here is loaded at compile time, never during a check: compiling a caveat loads
 * the CEL library and ipaddr.js (`baseEnvironment`), and one that uses `matches` loads RE2.
 */
import type * as Main from "@marcbachmann/cel-js";
import type * as Evaluator from "@marcbachmann/cel-js/evaluator";
import type IpAddr from "ipaddr.js";
import type * as Re2 from "re2js";

type Require = (id: string) => unknown;

interface NodeProcess {
  readonly getBuiltinModule?: (id: string) => { createRequire(from: string): Require } | undefined;
}

let requireFn: Require | undefined;

function load<T>(id: string): T {
  if (requireFn === undefined) {
    const process = (globalThis as { process?: NodeProcess }).process;
    const createRequire = process?.getBuiltinModule?.("node:module")?.createRequire;
    if (createRequire === undefined) {
      throw new Error(`caveats need Node.js 20.19 or newer: cannot load ${id} (no process.getBuiltinModule)`);
    }
    requireFn = createRequire(import.meta.url);
  }
  return requireFn(id) as T;
}

/**
 * For runtimes without Node's `require` (the web console in a browser): the libraries, imported
 * by the caller, by package name (`@marcbachmann/cel-js`, `@marcbachmann/cel-js/evaluator`,
 * `ipaddr.js`, `re2js`). Caveats then compile there exactly as on the server.
 */
export function provideLibraries(modules: Readonly<Record<string, unknown>>): void {
  requireFn = (id) => {
    if (!Object.hasOwn(modules, id)) throw new Error(`caveat library ${id} was not provided`);
    return modules[id];
  };
}

export interface CelLibrary {
  readonly Environment: typeof Main.Environment;
  readonly serialize: typeof Main.serialize;
  readonly Duration: typeof Evaluator.Duration;
  readonly UnsignedInt: typeof Evaluator.UnsignedInt;
}

let cel: CelLibrary | undefined;
let ipaddr: typeof IpAddr | undefined;
let re2: typeof Re2 | undefined;

export function celLibrary(): CelLibrary {
  if (cel === undefined) {
    // The package's own entry first: its modules import each other in a cycle, and entering it
    // through a subpath such as `/serialize` fails before initialization.
    const { Environment, serialize } = load<typeof Main>("@marcbachmann/cel-js");
    const { Duration, UnsignedInt } = load<typeof Evaluator>("@marcbachmann/cel-js/evaluator");
    cel = { Environment, serialize, Duration, UnsignedInt };
  }
  return cel;
}

export function ipaddrLibrary(): typeof IpAddr {
  // A CommonJS module: `require` gives its exports object itself.
  ipaddr ??= load<typeof IpAddr>("ipaddr.js");
  return ipaddr;
}

export function re2Library(): typeof Re2.RE2JS {
  re2 ??= load<typeof Re2>("re2js");
  return re2.RE2JS;
}
