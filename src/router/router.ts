import type { QoS } from '../codec/index.js';
import type { Message } from '../core/message.js';
import type { ShareStrategy } from '../core/share.js';
import type { Delivery, Session, Subscription } from '../session/session.js';
import { TopicTrie } from '../topic/index.js';
import { SharedGroup } from './shared.js';

export interface RouterOptions {
  /** Default strategy of shared subscription groups. */
  sharedStrategy: ShareStrategy;
  /** Per-group overrides by group name. */
  sharedGroups: Record<string, ShareStrategy>;
  random: () => number;
}

const defaultRouterOptions: RouterOptions = {
  sharedStrategy: 'round_robin',
  sharedGroups: {},
  random: Math.random,
};

/**
 * One session's deliveries for one message, folded over all its matching subscriptions. Entries are pooled
 * and reused from message to message; a session points at its entry (`Session.routeMark`), and `round` tells
 * whether that entry belongs to the message being routed now.
 */
interface Match {
  session: Session | undefined;
  round: number;
  qos: QoS;
  retain: boolean;
  subscriptionIds: number[] | undefined;
}

/**
 * The subscription index: owns every session's subscriptions in one topic trie, so the cost of matching a
 * topic does not grow with the number of subscribers per filter. `route` folds overlapping subscriptions of
 * one session into a single delivery at the highest granted QoS, carrying every matching Subscription
 * Identifier [MQTT-3.3.4-4] (MQTT 3.1.1 [MQTT-3.3.5-1] likewise).
 *
 * Shared subscriptions live in a second trie of groups (group name + filter): a matching message goes to one
 * member of each matching group, independently of normal subscriptions (MQTT 5.0 §4.8.2).
 */
export class Router {
  private readonly trie = new TopicTrie<Session, Subscription>();
  private readonly sharedTrie = new TopicTrie<SharedGroup, SharedGroup>();
  private readonly groups = new Map<string, SharedGroup>();
  /** Fold entries: those of the message being routed are `pool[base, top)` (a nested route stacks above). */
  private readonly pool: Match[] = [];
  private top = 0;
  private round = 0;
  private readonly picked: [Session, Delivery][] = [];
  private readonly opts: RouterOptions;
  private msg: Message | undefined;

  constructor(opts: Partial<RouterOptions> = {}) {
    this.opts = { ...defaultRouterOptions, ...opts };
  }

  get subscriptionCount(): number {
    let n = this.trie.size;
    for (const g of this.groups.values()) n += g.size;
    return n;
  }

  get sharedGroupCount(): number {
    return this.groups.size;
  }

  /** Adds or replaces a session's subscription. Returns true if the session had no subscription to this filter. */
  add(session: Session, sub: Subscription): boolean {
    if (sub.group === undefined) return this.trie.add(sub.topicFilter, session, sub);
    const key = groupKey(sub.group, sub.topicFilter);
    let g = this.groups.get(key);
    if (g === undefined) {
      const strategy = this.opts.sharedGroups[sub.group] ?? this.opts.sharedStrategy;
      g = new SharedGroup(sub.group, sub.topicFilter, strategy, this.opts.random);
      this.groups.set(key, g);
      this.sharedTrie.add(sub.topicFilter, g, g);
    }
    return g.add(session, sub);
  }

  remove(session: Session, sub: Subscription): boolean {
    if (sub.group === undefined) return this.trie.remove(sub.topicFilter, session);
    const key = groupKey(sub.group, sub.topicFilter);
    const g = this.groups.get(key);
    if (g === undefined || !g.remove(session)) return false;
    if (g.size === 0) {
      this.groups.delete(key);
      this.sharedTrie.remove(sub.topicFilter, g);
    }
    return true;
  }

  /** The shared group of `d` (if it still exists) gives `d` to another member than `from`. */
  redispatch(d: Delivery, from: Session, deliver: (session: Session, d: Delivery) => void): boolean {
    const ref = d.share;
    if (ref === undefined) return false;
    const g = this.groups.get(groupKey(ref.name, ref.filter));
    const target = g?.pick(d.msg, from);
    if (g === undefined || target === undefined) return false;
    deliver(target, sharedDelivery(d.msg, g.subs.get(target)!, g));
    return true;
  }

  /**
   * Matches `msg.topic` and hands one folded Delivery per matching session to `deliver`. Allocates nothing but
   * the Deliveries: the fold uses pooled entries, found through each session's mark instead of a Map.
   */
  route(msg: Message, deliver: (session: Session, d: Delivery) => void): number {
    const base = this.top;
    // A new round for every message (wrapping long before it loses integer precision).
    this.round = this.round === 0x3fff_ffff ? 1 : this.round + 1;
    this.msg = msg;
    this.trie.match(msg.topic, this.visit);
    if (this.groups.size > 0) this.sharedTrie.match(msg.topic, this.visitShared);
    this.msg = undefined;
    const end = this.top;
    const pool = this.pool;
    // Delivering may publish again (a nested route): its entries stack above `end`, and its round differs.
    let i = base;
    try {
      for (; i < end; i++) {
        const m = pool[i]!;
        const session = m.session!;
        const subscriptionIds = m.subscriptionIds;
        m.session = undefined;
        m.subscriptionIds = undefined;
        deliver(session, { msg, qos: m.qos, retain: m.retain, subscriptionIds });
      }
    } finally {
      // After a throw, the entries not yet delivered let go of their sessions too.
      for (; i < end; i++) pool[i]!.session = undefined;
      this.top = base;
    }
    const n = end - base;
    const picked = this.picked;
    if (picked.length === 0) return n;
    for (const [s, d] of picked) deliver(s, d);
    const total = n + picked.length;
    picked.length = 0;
    return total;
  }

  private readonly visitShared = (g: SharedGroup): void => {
    const msg = this.msg!;
    const s = g.pick(msg);
    if (s === undefined) return;
    this.picked.push([s, sharedDelivery(msg, g.subs.get(s)!, g)]);
  };

  private readonly visit = (session: Session, sub: Subscription): void => {
    const msg = this.msg!;
    // No Local: not to the publisher's own subscription [MQTT-3.8.3-3].
    if (sub.noLocal && session.clientId === msg.from) return;
    const qos = (sub.qos < msg.qos ? sub.qos : msg.qos) as QoS;
    // Retain As Published: keep the RETAIN flag, else clear it [MQTT-3.3.1-12] [MQTT-3.3.1-13].
    const retain = sub.retainAsPublished && msg.retain;
    const id = sub.subscriptionId;
    const mark = session.routeMark as Match | undefined;
    if (mark !== undefined && mark.session === session && mark.round === this.round) {
      // Another subscription of a session already matched: fold into its delivery.
      if (qos > mark.qos) mark.qos = qos;
      if (retain) mark.retain = true;
      if (id !== undefined) (mark.subscriptionIds ??= []).push(id);
      return;
    }
    let m = this.pool[this.top];
    if (m === undefined) {
      m = { session: undefined, round: 0, qos: 0, retain: false, subscriptionIds: undefined };
      this.pool.push(m);
    }
    this.top++;
    m.session = session;
    m.round = this.round;
    m.qos = qos;
    m.retain = retain;
    m.subscriptionIds = id !== undefined ? [id] : undefined;
    session.routeMark = m;
  };
}

function groupKey(group: string, filter: string): string {
  return `${group}\u0000${filter}`;
}

function sharedDelivery(msg: Message, sub: Subscription, g: SharedGroup): Delivery {
  return {
    msg,
    qos: (sub.qos < msg.qos ? sub.qos : msg.qos) as QoS,
    retain: sub.retainAsPublished && msg.retain,
    subscriptionIds: sub.subscriptionId !== undefined ? [sub.subscriptionId] : undefined,
    share: g,
  };
}
