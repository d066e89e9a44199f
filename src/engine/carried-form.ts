/**
 * A second form of a function that rides on the function itself (the engine's Check answered at
 * once, its LookupResources a chunk at a time): a decorator that replaces the function drops the
 * form, so a caller above it falls back to the function, and one that forwards it unchanged
 * keeps it, with no field added to the interfaces the decorators implement.
 */
export interface CarriedForm<T> {
  /** `fn`, carrying `form`. */
  attach<F extends object>(fn: F, form: T): F;
  /** The form `fn` carries, if any. */
  of(fn: object): T | undefined;
}

export function carriedForm<T>(name: string): CarriedForm<T> {
  const key = Symbol(name);
  return {
    attach(fn, form) {
      Object.defineProperty(fn, key, { value: form });
      return fn;
    },
    of: (fn) => (fn as { readonly [key]?: T })[key],
  };
}
