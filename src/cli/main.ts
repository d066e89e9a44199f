#!/usr/bin/env node
import "./v8-flags.js";
import { createProgram } from "./program.js";

await createProgram().parseAsync(process.argv);
