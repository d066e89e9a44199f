export { compileCondition, DEFAULT_CONDITION_LIMITS } from "./compile.js";
export { convertContext, parseDuration } from "./convert.js";
export { ConditionError } from "./errors.js";
export { IPAddress, parseIPAddress } from "./ip-address.js";
export { provideLibraries } from "./libraries.js";
export { formatParameterType, parseParameterType } from "./parameter-type.js";
export type * from "./types.js";
