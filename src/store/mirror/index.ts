export {
  createMirroredStore,
  type MirrorEvent,
  type MirroredStore,
  type MirrorOptions,
  type MirrorState,
  type MirrorStats,
} from "./mirror-store.js";
export type { MirrorSetStats } from "./set-selection.js";
