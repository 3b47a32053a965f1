import { isExpired, type Message } from '../broker/message.js';
import { TopicTree } from '../topic/index.js';

export interface RetainedLimits {
  /** Most retained messages kept; 0 = unlimited. */
  maxMessages: number;
  /** Largest retained payload in bytes; 0 = unlimited. */
  maxPayload: number;
}

export type RetainResult = 'stored' | 'deleted' | 'too_large' | 'full';

/**
 * Retained messages by topic, in a topic tree so a subscription's filter finds them without scanning
 * every topic. Expired messages are never returned and are removed when met.
 */
export class RetainedStore {
  private readonly tree = new TopicTree<Message>();
  private readonly limits: RetainedLimits;
  /** Topics retained by the broker itself (`from: ''`, i.e. `$SYS`), which clients cannot publish to. */
  private own = 0;

  constructor(limits: RetainedLimits) {
    this.limits = limits;
  }

  get size(): number {
    return this.tree.size;
  }

  /** Stores, replaces, or (empty payload) deletes the retained message of `msg.topic` [MQTT-3.3.1-5..7]. */
  set(msg: Message): RetainResult {
    if (msg.payload.length === 0) {
      this.tree.delete(msg.topic);
      return 'deleted';
    }
    if (msg.from === '') {
      // The broker's own ($SYS) values are not subject to the limits and take no client's room.
      if (!this.tree.has(msg.topic)) this.own++;
      this.tree.set(msg.topic, msg);
      return 'stored';
    }
    if (this.limits.maxPayload > 0 && msg.payload.length > this.limits.maxPayload) return 'too_large';
    if (
      this.limits.maxMessages > 0 &&
      this.tree.size - this.own >= this.limits.maxMessages &&
      !this.tree.has(msg.topic)
    ) {
      return 'full';
    }
    this.tree.set(msg.topic, msg);
    return 'stored';
  }

  /** Whether `set(msg)` would store (or delete) rather than refuse it for a limit. */
  accepts(msg: Message): boolean {
    if (msg.payload.length === 0) return true;
    if (this.limits.maxPayload > 0 && msg.payload.length > this.limits.maxPayload) return false;
    return !(
      this.limits.maxMessages > 0 &&
      this.tree.size - this.own >= this.limits.maxMessages &&
      !this.tree.has(msg.topic)
    );
  }

  get(topic: string): Message | undefined {
    return this.tree.get(topic);
  }

  /** The retained messages whose topics match `filter` (not a `$share` filter), expired ones dropped. */
  match(filter: string, now: number): Message[] {
    const out: Message[] = [];
    const expired: string[] = [];
    this.tree.match(filter, (topic, msg) => {
      if (isExpired(msg, now)) expired.push(topic);
      else out.push(msg);
    });
    for (const t of expired) this.tree.delete(t);
    return out;
  }

  *entries(): IterableIterator<Message> {
    for (const [, m] of this.tree.entries()) yield m;
  }
}
