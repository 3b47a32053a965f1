/** A value now, or later: hooks and ports answer synchronously when they can, so the core stays synchronous. */
export type MaybePromise<T> = T | Promise<T>;
