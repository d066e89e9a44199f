export type { SetDecider } from "./group.js";
export type * from "./types.js";
export {
  createPermissionWatch,
  type PermissionWatch,
  type PermissionWatchOptions,
} from "./watch-permissions.js";
