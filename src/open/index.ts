/** `openLatch`: store, in-memory copy, engine and decision seam, wired once for every entry. */
export { type OpenedLatch, type OpenOptions, openLatch } from "./open-latch.js";
