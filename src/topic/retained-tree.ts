// Values keyed by exact topic name (retained messages), matched by topic filters: the reverse direction of
// TopicTrie. A filter is walked over the tree: an exact level follows one child, '+' every child, '#' the
// whole subtree. Wildcards at the first level skip topics starting with '$' [MQTT-4.7.2-1].

class TopicNode<V> {
  children: Map<string, TopicNode<V>> | undefined = undefined;
  /** Whether a value is stored here (V may itself include undefined). */
  has = false;
  value: V | undefined = undefined;
  /** The topic stored here (set while `has` is). */
  topic = '';
}

export type TreeVisitor<V> = (topic: string, value: V) => void;

export class TopicTree<V> {
  readonly #root = new TopicNode<V>();
  #size = 0;
  #nodes = 0;

  /** Number of stored topics. */
  get size(): number {
    return this.#size;
  }

  /** Number of tree nodes below the root (a leak check: 0 once every topic is deleted). */
  get nodeCount(): number {
    return this.#nodes;
  }

  /** Stores `value` under the exact topic name, replacing any previous value. */
  set(topic: string, value: V): this {
    const levels = topic.split('/');
    let node = this.#root;
    for (let i = 0; i < levels.length; i++) {
      const children = (node.children ??= new Map());
      let next = children.get(levels[i]);
      if (next === undefined) {
        next = new TopicNode<V>();
        this.#nodes++;
        children.set(levels[i], next);
      }
      node = next;
    }
    if (!node.has) {
      node.has = true;
      node.topic = topic;
      this.#size++;
    }
    node.value = value;
    return this;
  }

  get(topic: string): V | undefined {
    return this.#find(topic)?.value;
  }

  has(topic: string): boolean {
    return this.#find(topic)?.has ?? false;
  }

  /** Removes the topic and prunes nodes left empty. Returns true when it existed. */
  delete(topic: string): boolean {
    const levels = topic.split('/');
    const path: TopicNode<V>[] = [this.#root];
    let node = this.#root;
    for (let i = 0; i < levels.length; i++) {
      const next = node.children?.get(levels[i]);
      if (next === undefined) return false;
      path.push(next);
      node = next;
    }
    if (!node.has) return false;
    node.has = false;
    node.value = undefined;
    node.topic = '';
    this.#size--;
    for (let i = levels.length - 1; i >= 0; i--) {
      const n = path[i + 1];
      if (n.has || n.children !== undefined) break;
      this.#nodes--;
      const parent = path[i];
      const children = parent.children!;
      children.delete(levels[i]);
      if (children.size === 0) parent.children = undefined;
    }
    return true;
  }

  clear(): void {
    this.#root.children = undefined;
    this.#size = 0;
    this.#nodes = 0;
  }

  /**
   * Calls `visit` for every stored topic matched by the (validated, non-shared) filter.
   * `a/#` also yields `a` [MQTT-4.7.1-2]; '+' and '#' at the first level skip '$' topics [MQTT-4.7.2-1].
   */
  match(filter: string, visit: TreeVisitor<V>): void {
    matchFrom(this.#root, filter.split('/'), visit);
  }

  /** Every stored [topic, value]. */
  *entries(): IterableIterator<[string, V]> {
    const stack: TopicNode<V>[] = [this.#root];
    while (stack.length > 0) {
      const node = stack.pop()!;
      if (node.has) yield [node.topic, node.value as V];
      if (node.children !== undefined) for (const c of node.children.values()) stack.push(c);
    }
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries();
  }

  #find(topic: string): TopicNode<V> | undefined {
    let node: TopicNode<V> | undefined = this.#root;
    let start = 0;
    for (;;) {
      const slash = topic.indexOf('/', start);
      node = node.children?.get(slash < 0 ? topic.slice(start) : topic.slice(start, slash));
      if (node === undefined || slash < 0) return node;
      start = slash + 1;
    }
  }
}

function isDollar(level: string): boolean {
  return level.charCodeAt(0) === 0x24;
}

/** Visits `node` and all its descendants (iteratively: subtrees can be deep). */
function visitSubtree<V>(node: TopicNode<V>, visit: TreeVisitor<V>): void {
  const stack: TopicNode<V>[] = [node];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (n.has) visit(n.topic, n.value as V);
    if (n.children !== undefined) for (const c of n.children.values()) stack.push(c);
  }
}

/**
 * Walks the filter over the tree. Exact levels are followed in a loop; '+' pushes every child on an explicit
 * stack (created on first use), so deep filters cannot overflow the call stack.
 */
function matchFrom<V>(root: TopicNode<V>, levels: string[], visit: TreeVisitor<V>): void {
  const n = levels.length;
  let node = root;
  let i = 0;
  let nodes: TopicNode<V>[] | undefined;
  let depths: number[] | undefined;
  for (;;) {
    let next: TopicNode<V> | undefined;
    if (i === n) {
      if (node.has) visit(node.topic, node.value as V);
    } else {
      const level = levels[i];
      if (level === '#') {
        // '#' matches the parent level too; the root holds no topic.
        if (i > 0) {
          visitSubtree(node, visit);
        } else if (node.children !== undefined) {
          for (const [name, c] of node.children) if (!isDollar(name)) visitSubtree(c, visit);
        }
      } else if (node.children !== undefined) {
        if (level === '+') {
          for (const [name, c] of node.children) {
            if (i === 0 && isDollar(name)) continue;
            (nodes ??= []).push(c);
            (depths ??= []).push(i + 1);
          }
        } else {
          next = node.children.get(level);
        }
      }
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
