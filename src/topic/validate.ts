// Topic name and topic filter rules (MQTT 5.0 §4.7, §4.8.2; MQTT 3.1.1 §4.7).
// Pure: no imports. Every validator returns `undefined` when the input is valid, else a precise reason.

/** Optional broker limits applied on top of the protocol rules. */
export interface TopicLimits {
  /** Maximum number of levels (`a/b/c` has 3). For shared filters, counted on the inner filter. */
  maxLevels?: number;
  /** Maximum UTF-8 byte length of the whole string (never above 65535). */
  maxLength?: number;
}

/** A UTF-8 encoded string on the wire has a 2-byte length prefix [MQTT-1.5.4]. */
export const MAX_TOPIC_BYTES = 65535;

const SHARE_PREFIX = '$share/';
const QUEUE_PREFIX = '$queue/';

const CH_NUL = 0x00;
const CH_SLASH = 0x2f; // '/'
const CH_PLUS = 0x2b; // '+'
const CH_HASH = 0x23; // '#'
const CH_DOLLAR = 0x24; // '$'

/**
 * Checks what names and filters share: NUL, well-formed UTF-16 (so that it encodes to well-formed UTF-8),
 * UTF-8 byte length. When `noWildcards` is set, also rejects '+' and '#' (topic names).
 */
function checkString(s: string, what: string, limits: TopicLimits | undefined, noWildcards: boolean) {
  let bytes = 0;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      bytes += 1;
      if (c === CH_NUL) return `${what} must not contain U+0000 (at index ${i}) [MQTT-4.7.3-2]`;
      if (noWildcards && (c === CH_PLUS || c === CH_HASH)) {
        return `${what} must not contain the wildcard '${c === CH_PLUS ? '+' : '#'}' (at index ${i}) [MQTT-3.3.2-2]`;
      }
    } else if (c < 0x800) {
      bytes += 2;
    } else if (c >= 0xd800 && c <= 0xdbff) {
      const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (d < 0xdc00 || d > 0xdfff) return `${what} contains a lone surrogate (at index ${i}) [MQTT-1.5.4-1]`;
      bytes += 4;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return `${what} contains a lone surrogate (at index ${i}) [MQTT-1.5.4-1]`;
    } else {
      bytes += 3;
    }
  }
  if (bytes > MAX_TOPIC_BYTES)
    return `${what} is ${bytes} bytes in UTF-8, above the maximum of ${MAX_TOPIC_BYTES}`;
  const max = limits?.maxLength;
  if (max !== undefined && bytes > max)
    return `${what} is ${bytes} bytes in UTF-8, above the limit of ${max}`;
  return undefined;
}

function countLevels(s: string, from: number): number {
  let levels = 1;
  for (let i = from; i < s.length; i++) if (s.charCodeAt(i) === CH_SLASH) levels++;
  return levels;
}

function checkLevels(s: string, from: number, what: string, limits: TopicLimits | undefined) {
  const max = limits?.maxLevels;
  if (max === undefined) return undefined;
  const levels = countLevels(s, from);
  return levels > max ? `${what} has ${levels} levels, above the limit of ${max}` : undefined;
}

/**
 * Validates a topic name (PUBLISH, will topic). Returns undefined when valid, else the reason.
 */
export function validateTopicName(name: string, limits?: TopicLimits): string | undefined {
  if (name.length === 0) return 'topic name must not be empty [MQTT-4.7.3-1]';
  return checkString(name, 'topic name', limits, true) ?? checkLevels(name, 0, 'topic name', limits);
}

/** Wildcard placement in the filter `s` from index `from` to the end [MQTT-4.7.1-1..3]. */
function checkWildcards(s: string, from: number, what: string): string | undefined {
  const n = s.length;
  for (let i = from; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === CH_PLUS) {
      if ((i > from && s.charCodeAt(i - 1) !== CH_SLASH) || (i + 1 < n && s.charCodeAt(i + 1) !== CH_SLASH)) {
        return `${what}: '+' must occupy an entire level (at index ${i}) [MQTT-4.7.1-3]`;
      }
    } else if (c === CH_HASH) {
      if (i > from && s.charCodeAt(i - 1) !== CH_SLASH) {
        return `${what}: '#' must occupy an entire level (at index ${i}) [MQTT-4.7.1-2]`;
      }
      if (i + 1 < n) return `${what}: '#' must be the last level (at index ${i}) [MQTT-4.7.1-2]`;
    }
  }
  return undefined;
}

/**
 * Validates a topic filter (SUBSCRIBE, UNSUBSCRIBE), including `$share/{group}/{filter}` and EMQX's legacy
 * `$queue/{filter}`. Returns undefined when valid, else the reason.
 */
export function validateTopicFilter(filter: string, limits?: TopicLimits): string | undefined {
  if (filter.length === 0) return 'topic filter must not be empty [MQTT-4.7.3-1]';
  const err = checkString(filter, 'topic filter', limits, false);
  if (err !== undefined) return err;

  let inner = 0; // index where the filter proper starts
  let what = 'topic filter';
  if (filter.charCodeAt(0) === CH_DOLLAR) {
    if (filter.startsWith(SHARE_PREFIX) || filter === '$share') {
      what = 'shared subscription';
      const slash = filter.indexOf('/', SHARE_PREFIX.length);
      const group =
        filter.length <= SHARE_PREFIX.length
          ? ''
          : filter.slice(SHARE_PREFIX.length, slash < 0 ? undefined : slash);
      if (group.length === 0) return `${what}: the share name must not be empty [MQTT-4.8.2-1]`;
      for (let i = 0; i < group.length; i++) {
        const c = group.charCodeAt(i);
        if (c === CH_PLUS || c === CH_HASH) {
          return `${what}: the share name must not contain '${c === CH_PLUS ? '+' : '#'}' [MQTT-4.8.2-1]`;
        }
      }
      if (slash < 0) return `${what}: a topic filter must follow the share name [MQTT-4.8.2-2]`;
      inner = slash + 1;
    } else if (filter.startsWith(QUEUE_PREFIX) || filter === '$queue') {
      what = 'shared subscription ($queue)';
      if (filter.length <= QUEUE_PREFIX.length) return `${what}: a topic filter must follow '$queue/'`;
      inner = QUEUE_PREFIX.length;
    }
    if (inner > 0 && inner === filter.length) {
      return `${what}: the topic filter after the share name must not be empty [MQTT-4.8.2-2]`;
    }
  }
  return checkWildcards(filter, inner, what) ?? checkLevels(filter, inner, what, limits);
}

/**
 * Splits a shared subscription filter. `$share/g/a/b` -> `{ group: 'g', filter: 'a/b' }`,
 * `$queue/a/b` -> `{ group: '$queue', filter: 'a/b' }`, anything else -> undefined.
 * Call only on filters that passed {@link validateTopicFilter}.
 */
export function parseSharedFilter(filter: string): { group: string; filter: string } | undefined {
  if (filter.charCodeAt(0) !== CH_DOLLAR) return undefined;
  if (filter.startsWith(SHARE_PREFIX)) {
    const slash = filter.indexOf('/', SHARE_PREFIX.length);
    if (slash <= SHARE_PREFIX.length || slash + 1 >= filter.length) return undefined;
    return { group: filter.slice(SHARE_PREFIX.length, slash), filter: filter.slice(slash + 1) };
  }
  if (filter.startsWith(QUEUE_PREFIX) && filter.length > QUEUE_PREFIX.length) {
    return { group: '$queue', filter: filter.slice(QUEUE_PREFIX.length) };
  }
  return undefined;
}

/** True when the (validated) filter contains '+' or '#'. Only meaningful on a plain or inner filter. */
export function isWildcardFilter(filter: string): boolean {
  return filter.includes('+') || filter.includes('#');
}

/**
 * True for topics starting with '$' (`$SYS/...` and other server topics), which filters starting with a
 * wildcard do not match [MQTT-4.7.2-1].
 */
export function isSysTopic(name: string): boolean {
  return name.charCodeAt(0) === CH_DOLLAR;
}
