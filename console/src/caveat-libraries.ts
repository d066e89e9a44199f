/**
 * The caveat libraries, bundled into the page: the server loads them lazily with Node's
 * `require` (src/conditions/libraries.ts), which a browser lacks. Imported first by main.ts.
 */
import * as cel from "@marcbachmann/cel-js";
import * as celEvaluator from "@marcbachmann/cel-js/evaluator";
import ipaddr from "ipaddr.js";
import * as re2 from "re2js";
import { provideLibraries } from "../../src/conditions/index.js";

provideLibraries({
  "@marcbachmann/cel-js": cel,
  "@marcbachmann/cel-js/evaluator": celEvaluator,
  "ipaddr.js": ipaddr,
  re2js: re2,
});
