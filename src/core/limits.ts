/** Session Expiry Interval meaning "never expires" (MQTT 5.0 §3.1.2.11.2). */
export const NEVER_EXPIRES = 0xffffffff;

/** Largest delay setTimeout takes; longer ones are chained. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
