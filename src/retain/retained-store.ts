import { isExpired, type Message } from '../core/message.js';
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
  /** Called when an expired message is removed (so durable storage can forget it too). */
  onExpired: ((topic: string, msg: Message) => void) | undefined;

  constructor(limits: RetainedLimits) {
    this.limits = limits;
  }

  get size(): number {
    return this.tree.size;
  }

  /** Stores, replaces, or (empty payload) deletes the retained message of `msg.topic` [MQTT-3.3.1-5..7]. */
  set(msg: Message): RetainResult {
    if (msg.payload.length === 0) {
      this.remove(msg.topic);
      return 'deleted';
    }
    if (msg.from === '') {
      // The broker's own ($SYS) values are not subject to the limits and take no client's room.
      if (!this.tree.has(msg.topic)) this.own++;
      this.tree.set(msg.topic, msg);
      return 'stored';
    }
    const refused = this.refusal(msg);
    if (refused !== undefined) return refused;
    this.tree.set(msg.topic, msg);
    return 'stored';
  }

  /** Whether `set(msg)` would store (or delete) rather than refuse it for a limit. */
  accepts(msg: Message): boolean {
    return msg.payload.length === 0 || msg.from === '' || this.refusal(msg) === undefined;
  }

  /** Why a client's retained message is over the limits, if it is. */
  private refusal(msg: Message): 'too_large' | 'full' | undefined {
    const { maxPayload, maxMessages } = this.limits;
    if (maxPayload > 0 && msg.payload.length > maxPayload) return 'too_large';
    if (maxMessages > 0 && this.tree.size - this.own >= maxMessages && !this.tree.has(msg.topic))
      return 'full';
    return undefined;
  }

  /** Deletes a topic, keeping the count of the broker's own topics right. */
  private remove(topic: string): void {
    if (this.tree.get(topic)?.from === '') this.own--;
    this.tree.delete(topic);
  }

  get(topic: string): Message | undefined {
    return this.tree.get(topic);
  }

  /** The retained messages whose topics match `filter` (not a `$share` filter), expired ones dropped. */
  match(filter: string, now: number): Message[] {
    const out: Message[] = [];
    const expired: Message[] = [];
    this.tree.match(filter, (_topic, msg) => {
      if (isExpired(msg, now)) expired.push(msg);
      else out.push(msg);
    });
    for (const m of expired) {
      this.remove(m.topic);
      this.onExpired?.(m.topic, m);
    }
    return out;
  }

  *entries(): IterableIterator<Message> {
    for (const [, m] of this.tree.entries()) yield m;
  }
}
