import type { Message } from '../core/message.js';
import type { ShareStrategy } from '../core/share.js';
import type { Session, ShareRef, Subscription } from '../session/session.js';

/** 32-bit FNV-1a: a stable hash so one publisher (or topic) keeps landing on the same member. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * One shared subscription group: `$share/{name}/{filter}` (or EMQX's `$queue/{filter}`). Members are the
 * sessions subscribed to it, each with its own subscription options. A message goes to one member: an online
 * one while any is online, otherwise one member's session queue, so it is not lost.
 */
export class SharedGroup implements ShareRef {
  readonly name: string;
  readonly filter: string;
  readonly strategy: ShareStrategy;
  readonly members: Session[] = [];
  readonly subs = new Map<Session, Subscription>();
  /** round_robin_per_group: one cursor for the group. */
  private cursor = 0;
  /** round_robin: one cursor per publisher, so each publisher's messages rotate over the members. */
  private readonly cursors = new Map<string, number>();
  private sticky: Session | undefined;
  private readonly random: () => number;

  constructor(name: string, filter: string, strategy: ShareStrategy, random: () => number) {
    this.name = name;
    this.filter = filter;
    this.strategy = strategy;
    this.random = random;
  }

  get size(): number {
    return this.members.length;
  }

  /** Adds or updates a member. Returns true if it is new. */
  add(session: Session, sub: Subscription): boolean {
    const isNew = !this.subs.has(session);
    this.subs.set(session, sub);
    if (isNew) this.members.push(session);
    return isNew;
  }

  remove(session: Session): boolean {
    if (!this.subs.delete(session)) return false;
    const i = this.members.indexOf(session);
    if (i >= 0) this.members.splice(i, 1);
    if (this.sticky === session) this.sticky = undefined;
    return true;
  }

  /**
   * The member for `msg`, never `exclude`: chosen among online members if there are any, else among all.
   * Returns undefined when the group has no other member.
   */
  pick(msg: Message, exclude?: Session): Session | undefined {
    const all = this.members;
    let online = 0;
    for (const s of all) if (s.online && s !== exclude) online++;
    let candidates: Session[];
    if (online > 0) candidates = online === all.length ? all : all.filter((s) => s.online && s !== exclude);
    else candidates = exclude === undefined ? all : all.filter((s) => s !== exclude);
    const n = candidates.length;
    if (n === 0) return undefined;
    if (n === 1) return candidates[0];
    switch (this.strategy) {
      case 'round_robin': {
        const k = this.cursors.get(msg.from) ?? 0;
        this.cursors.set(msg.from, k + 1);
        return candidates[k % n];
      }
      case 'round_robin_per_group':
        return candidates[this.cursor++ % n];
      case 'sticky': {
        const s = this.sticky;
        if (s !== undefined && candidates.includes(s)) return s;
        this.sticky = candidates[Math.floor(this.random() * n)];
        return this.sticky;
      }
      case 'hash_clientid':
        return candidates[fnv1a(msg.from) % n];
      case 'hash_topic':
        return candidates[fnv1a(msg.topic) % n];
      default:
        // random; local behaves as random on a single node.
        return candidates[Math.floor(this.random() * n)];
    }
  }

  /** Forgets per-publisher state when it grows large (bounded memory for many publishers). */
  trim(): void {
    if (this.cursors.size > 10_000) this.cursors.clear();
  }
}
