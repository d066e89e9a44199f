/** Lets timers and I/O run: a macrotask, since a microtask runs before any of them. */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
