// A subscription index: topic filters -> subscribers, matched against topic names.
// Matching walks the topic's levels once, following the exact child, the '+' child and the '#' child, so its
// cost depends on the filters that match, not on the number of filters or subscribers.
// Filters are stored level by level exactly as given: the caller strips `$share/{group}/` first.

class FilterNode<K, V> {
  /** Exact-level children; created on first use. '+' and '#' levels live in `plus` / `hash`. */
  children: Map<string, FilterNode<K, V>> | undefined = undefined;
  plus: FilterNode<K, V> | undefined = undefined;
  hash: FilterNode<K, V> | undefined = undefined;
  /** Subscribers of the filter that ends at this node; undefined when none. */
  subs: Map<K, V> | undefined = undefined;
  /** The filter that ends at this node (set while `subs` is). */
  filter = '';

  isEmpty(): boolean {
    return (
      this.subs === undefined &&
      this.plus === undefined &&
      this.hash === undefined &&
      this.children === undefined
    );
  }
}

export type TrieVisitor<K, V> = (key: K, value: V, filter: string) => void;

export class TopicTrie<K, V> {
  readonly #root = new FilterNode<K, V>();
  #size = 0;
  #filterCount = 0;
  #nodes = 0;

  /** Number of (filter, key) entries. */
  get size(): number {
    return this.#size;
  }

  /** Number of distinct filters with at least one subscriber. */
  get filterCount(): number {
    return this.#filterCount;
  }

  /** Number of trie nodes below the root (a leak check: 0 once every entry is removed). */
  get nodeCount(): number {
    return this.#nodes;
  }

  /** Adds or replaces the entry for (filter, key). Returns true when the entry is new. */
  add(filter: string, key: K, value: V): boolean {
    const levels = filter.split('/');
    let node = this.#root;
    for (let i = 0; i < levels.length; i++) {
      const level = levels[i];
      let next: FilterNode<K, V> | undefined;
      if (level === '+') {
        next = node.plus;
        if (next === undefined) node.plus = next = this.#newNode();
      } else if (level === '#') {
        next = node.hash;
        if (next === undefined) node.hash = next = this.#newNode();
      } else {
        const children = (node.children ??= new Map());
        next = children.get(level);
        if (next === undefined) {
          next = this.#newNode();
          children.set(level, next);
        }
      }
      node = next;
    }
    let subs = node.subs;
    if (subs === undefined) {
      subs = node.subs = new Map();
      node.filter = filter;
      this.#filterCount++;
    }
    const isNew = !subs.has(key);
    subs.set(key, value);
    if (isNew) this.#size++;
    return isNew;
  }

  /** Removes the entry for (filter, key) and prunes nodes left empty. Returns true when it existed. */
  remove(filter: string, key: K): boolean {
    const levels = filter.split('/');
    const path: FilterNode<K, V>[] = [this.#root];
    let node: FilterNode<K, V> | undefined = this.#root;
    for (let i = 0; i < levels.length; i++) {
      node = child(node, levels[i]);
      if (node === undefined) return false;
      path.push(node);
    }
    const subs = node.subs;
    if (subs === undefined || !subs.delete(key)) return false;
    this.#size--;
    if (subs.size > 0) return true;
    node.subs = undefined;
    node.filter = '';
    this.#filterCount--;
    // Prune empty nodes bottom-up; path[i + 1] is the child of path[i] for levels[i].
    for (let i = levels.length - 1; i >= 0; i--) {
      const n = path[i + 1];
      if (!n.isEmpty()) break;
      this.#nodes--;
      const parent = path[i];
      const level = levels[i];
      if (level === '+') parent.plus = undefined;
      else if (level === '#') parent.hash = undefined;
      else {
        const children = parent.children!;
        children.delete(level);
        if (children.size === 0) parent.children = undefined;
      }
    }
    return true;
  }

  /** The value stored for (filter, key), if any. */
  get(filter: string, key: K): V | undefined {
    return this.#find(filter)?.subs?.get(key);
  }

  /** True when an entry exists for (filter, key). */
  has(filter: string, key: K): boolean {
    return this.#find(filter)?.subs?.has(key) ?? false;
  }

  /** Removes everything. */
  clear(): void {
    const root = this.#root;
    root.children = root.plus = root.hash = root.subs = undefined;
    this.#size = 0;
    this.#filterCount = 0;
    this.#nodes = 0;
  }

  /**
   * Calls `visit` once per (filter, key) whose filter matches the (validated) topic name.
   * Filters starting with '+' or '#' do not match names starting with '$' [MQTT-4.7.2-1].
   */
  match(topic: string, visit: TrieVisitor<K, V>): void {
    const levels = levelsOf(topic);
    matchFrom(this.#root, levels, topic.charCodeAt(0) === 0x24, visit);
  }

  /** Every entry as [filter, key, value]. */
  *entries(): IterableIterator<[string, K, V]> {
    const stack: FilterNode<K, V>[] = [this.#root];
    while (stack.length > 0) {
      const node = stack.pop()!;
      if (node.subs !== undefined) for (const [k, v] of node.subs) yield [node.filter, k, v];
      if (node.hash !== undefined) stack.push(node.hash);
      if (node.plus !== undefined) stack.push(node.plus);
      if (node.children !== undefined) for (const c of node.children.values()) stack.push(c);
    }
  }

  [Symbol.iterator](): IterableIterator<[string, K, V]> {
    return this.entries();
  }

  #newNode(): FilterNode<K, V> {
    this.#nodes++;
    return new FilterNode<K, V>();
  }

  #find(filter: string): FilterNode<K, V> | undefined {
    let node: FilterNode<K, V> | undefined = this.#root;
    let start = 0;
    for (;;) {
      const slash = filter.indexOf('/', start);
      const level = slash < 0 ? filter.slice(start) : filter.slice(start, slash);
      node = child(node, level);
      if (node === undefined || slash < 0) return node;
      start = slash + 1;
    }
  }
}

/**
 * The levels of recently matched topic names. Most traffic repeats its topics, and the codec hands out one
 * string per distinct recent topic (see `Reader.topic`), so a hit costs a lookup instead of a split. Never
 * modify an array from here. Cleared when full: a stream of distinct topics costs a split and an insert each.
 */
const levelCache = new Map<string, string[]>();
const LEVEL_CACHE_SIZE = 1024;
/** Longer names are split every time: the cache holds at most LEVEL_CACHE_SIZE × LEVEL_CACHE_MAX characters. */
const LEVEL_CACHE_MAX = 128;

function levelsOf(topic: string): string[] {
  if (topic.length > LEVEL_CACHE_MAX) return topic.split('/');
  let levels = levelCache.get(topic);
  if (levels === undefined) {
    levels = topic.split('/');
    if (levelCache.size >= LEVEL_CACHE_SIZE) levelCache.clear();
    levelCache.set(topic, levels);
  }
  return levels;
}

function child<K, V>(node: FilterNode<K, V>, level: string): FilterNode<K, V> | undefined {
  if (level === '+') return node.plus;
  if (level === '#') return node.hash;
  return node.children?.get(level);
}

/** What `emitOne` hands each entry to: set around one `Map.forEach`, which (unlike for…of) allocates nothing. */
const emitting: { visit: TrieVisitor<unknown, unknown> | undefined; filter: string } = {
  visit: undefined,
  filter: '',
};

function emitOne(this: typeof emitting, value: unknown, key: unknown): void {
  this.visit!(key, value, this.filter);
}

function emit<K, V>(node: FilterNode<K, V>, visit: TrieVisitor<K, V>): void {
  const subs = node.subs;
  if (subs === undefined) return;
  const e = emitting;
  // Restored afterwards: a visitor may match again (in this trie or another).
  const outerVisit = e.visit;
  const outerFilter = e.filter;
  e.visit = visit as TrieVisitor<unknown, unknown>;
  e.filter = node.filter;
  try {
    subs.forEach(emitOne, e);
  } finally {
    e.visit = outerVisit;
    e.filter = outerFilter;
  }
}

/**
 * Matches `levels` from the root. The exact-child path is followed in a loop; '+' branches are deferred on an
 * explicit stack (created only when a '+' branch exists), so deep filters cannot overflow the call stack.
 */
function matchFrom<K, V>(
  node: FilterNode<K, V>,
  levels: string[],
  dollar: boolean,
  visit: TrieVisitor<K, V>,
): void {
  const n = levels.length;
  let i = 0;
  let nodes: FilterNode<K, V>[] | undefined;
  let depths: number[] | undefined;
  for (;;) {
    // Wildcards at the first level never match '$' topics [MQTT-4.7.2-1].
    const wild = i > 0 || !dollar;
    // '#' matches the remaining levels, including none (`a/#` matches `a`) [MQTT-4.7.1-2].
    if (wild && node.hash !== undefined) emit(node.hash, visit);
    let next: FilterNode<K, V> | undefined;
    if (i === n) {
      emit(node, visit);
    } else {
      if (wild && node.plus !== undefined) {
        (nodes ??= []).push(node.plus);
        (depths ??= []).push(i + 1);
      }
      next = node.children?.get(levels[i]);
    }
    if (next !== undefined) {
      node = next;
      i++;
    } else if (nodes !== undefined && nodes.length > 0) {
      node = nodes.pop()!;
      i = depths!.pop()!;
    } else {
      return;
    }
  }
}
