import type { Message } from '../broker/message.js';
import type { QoS } from '../codec/index.js';
import type { Delivery, Session, Subscription } from '../session/session.js';
import { TopicTrie } from '../topic/index.js';

/** One session's deliveries for one message, folded over all its matching subscriptions. */
interface Match {
  session: Session;
  qos: QoS;
  retain: boolean;
  subscriptionIds: number[] | undefined;
}

/**
 * The subscription index: owns every session's subscriptions in one topic trie, so the cost of matching a
 * topic does not grow with the number of subscribers per filter. `route` folds overlapping subscriptions of
 * one session into a single delivery at the highest granted QoS, carrying every matching Subscription
 * Identifier [MQTT-3.3.4-4] (MQTT 3.1.1 [MQTT-3.3.5-1] likewise).
 */
export class Router {
  private readonly trie = new TopicTrie<Session, Subscription>();
  private readonly matches = new Map<Session, Match>();
  private msg: Message | undefined;

  get subscriptionCount(): number {
    return this.trie.size;
  }

  /** Adds or replaces a session's subscription. Returns true if the session had no subscription to this filter. */
  add(session: Session, sub: Subscription): boolean {
    return this.trie.add(sub.topicFilter, session, sub);
  }

  remove(session: Session, sub: Subscription): boolean {
    return this.trie.remove(sub.topicFilter, session);
  }

  /** Matches `msg.topic` and hands one folded Delivery per matching session to `deliver`. */
  route(msg: Message, deliver: (session: Session, d: Delivery) => void): number {
    this.msg = msg;
    this.trie.match(msg.topic, this.visit);
    this.msg = undefined;
    const n = this.matches.size;
    if (n === 0) return 0;
    for (const m of this.matches.values()) {
      deliver(m.session, { msg, qos: m.qos, retain: m.retain, subscriptionIds: m.subscriptionIds });
    }
    this.matches.clear();
    return n;
  }

  private readonly visit = (session: Session, sub: Subscription): void => {
    const msg = this.msg!;
    // No Local: not to the publisher's own subscription [MQTT-3.8.3-3].
    if (sub.noLocal && session.clientId === msg.from) return;
    const qos = (sub.qos < msg.qos ? sub.qos : msg.qos) as QoS;
    // Retain As Published: keep the RETAIN flag, else clear it [MQTT-3.3.1-12] [MQTT-3.3.1-13].
    const retain = sub.retainAsPublished && msg.retain;
    const m = this.matches.get(session);
    if (m === undefined) {
      this.matches.set(session, {
        session,
        qos,
        retain,
        subscriptionIds: sub.subscriptionId !== undefined ? [sub.subscriptionId] : undefined,
      });
      return;
    }
    if (qos > m.qos) m.qos = qos;
    if (retain) m.retain = true;
    if (sub.subscriptionId !== undefined) (m.subscriptionIds ??= []).push(sub.subscriptionId);
  };
}
