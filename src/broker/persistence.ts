import type { Message } from '../core/message.js';
import type { Durability, Store, StoredEntry, StoredSession } from '../persistence/store.js';
import {
  type Delivery,
  type Inflight,
  type Session,
  type SessionJournal,
  unqueued,
} from '../session/session.js';

interface Ref {
  id: number;
  refs: number;
}

/**
 * Writes the broker's durable state through to a Store: persistent sessions (with their subscriptions, pending
 * will and expiry), their QoS 1/2 queue and in-flight entries, inbound QoS 2 state, and retained messages.
 * A message is stored once under an id, reference-counted by the entries and retained topics that hold it, and
 * deleted with its last reference. Deliveries queued past a session's memory window are written with their own
 * copy of the message (`spill`) and are not kept in memory; they are read back a page at a time as the queue
 * drains (`unspill`), so a queue of a million messages does not live in the heap.
 */
export class Persistence implements SessionJournal {
  readonly store: Store;
  readonly durability: Durability;
  private readonly ids = new Map<Message, Ref>();
  private nextMsgId = 1;
  private readonly seqs = new WeakMap<Session, number>();
  /** Per session with deliveries on disk only: the `seq` from which to read them back. */
  private readonly cursors = new WeakMap<Session, number>();
  /** Spilled deliveries whose writes may not be committed yet (reads would not see them), per session. */
  private readonly uncommitted = new Map<Session, { d: Delivery; gen: number }[]>();
  private gen = 0;
  private trimming = false;
  readonly memoryQueue: number;

  constructor(store: Store, durability: Durability, memoryQueue = 1000) {
    this.store = store;
    this.durability = durability;
    this.memoryQueue = Math.max(1, memoryQueue);
  }

  /** Whether acknowledgements must wait for durability: only with `sync` and when there are pending writes. */
  get mustWait(): boolean {
    return this.durability === 'sync' && this.store.dirty;
  }

  // --- restore ---

  /** Registers a message loaded from the store under its id (references are added as entries come back). */
  adopt(id: number, msg: Message): void {
    this.ids.set(msg, { id, refs: 0 });
    if (id >= this.nextMsgId) this.nextMsgId = id + 1;
  }

  /** Counts a reference to an adopted message (restore). */
  addRef(msg: Message): void {
    const r = this.ids.get(msg);
    if (r !== undefined) r.refs++;
  }

  /** After restore: drops stored messages nothing refers to. */
  sweep(): void {
    for (const [m, r] of this.ids) {
      if (r.refs === 0) {
        this.ids.delete(m);
        this.store.deleteMessage(r.id);
      }
    }
  }

  setSeq(s: Session, next: number): void {
    this.seqs.set(s, next);
  }

  /** After restore: the session's deliveries from `seq` on wait on disk. */
  setCursor(s: Session, seq: number): void {
    this.cursors.set(s, seq);
  }

  // --- messages ---

  private retain(msg: Message): number {
    let r = this.ids.get(msg);
    if (r === undefined) {
      r = { id: this.nextMsgId++, refs: 0 };
      this.ids.set(msg, r);
      this.store.putMessage(r.id, msg);
    }
    r.refs++;
    return r.id;
  }

  private release(msg: Message): void {
    const r = this.ids.get(msg);
    if (r === undefined) return;
    if (--r.refs <= 0) {
      this.ids.delete(msg);
      this.store.deleteMessage(r.id);
    }
  }

  // --- sessions ---

  saveSession(s: Session): void {
    const rec: StoredSession = {
      clientId: s.clientId,
      expiryInterval: s.expiryInterval,
      disconnectedAt: s.disconnectedAt,
      subscriptions: [...s.subscriptions.values()],
      pendingWill: s.pendingWill,
    };
    const c = s.pendingWill !== undefined ? s.willFrom : undefined;
    if (c !== undefined) {
      const { clientId, username, remoteAddress, remotePort, listener, protocolVersion, certCommonName } = c;
      rec.willFrom = {
        clientId,
        username,
        remoteAddress,
        remotePort,
        listener,
        protocolVersion,
        certCommonName,
      };
    }
    this.store.putSession(rec);
  }

  deleteSession(s: Session): void {
    // Deliveries on disk only hold their own copies: nothing to release for them.
    for (const e of s.inflight.values()) if (e.seq !== undefined && !e.inline) this.release(e.msg);
    for (const d of s.queue) if (d.seq !== undefined && !d.inline) this.release(d.msg);
    this.store.deleteSession(s.clientId);
    this.cursors.delete(s);
    this.uncommitted.delete(s);
  }

  // --- SessionJournal ---

  private nextSeq(s: Session): number {
    const next = this.seqs.get(s) ?? 1;
    this.seqs.set(s, next + 1);
    return next;
  }

  private write(s: Session, d: Delivery, state: 0 | 1 | 2, packetId: number): void {
    let msgId = 0;
    if (d.seq === undefined) {
      d.seq = this.nextSeq(s);
      msgId = this.retain(d.msg);
    } else if (!d.inline) {
      msgId = this.ids.get(d.msg)?.id ?? this.retain(d.msg);
    }
    this.store.putEntry(s.clientId, entryOf(d, msgId, state, packetId));
  }

  queued(s: Session, d: Delivery): void {
    this.write(s, d, 0, 0);
  }

  inflight(s: Session, e: Inflight): void {
    if (e.qos === 0) return;
    this.write(s, e, e.state === 1 ? 2 : 1, e.packetId);
  }

  removed(s: Session, d: Delivery): void {
    if (d.seq === undefined) return;
    this.store.deleteEntry(s.clientId, d.seq);
    if (!d.inline) this.release(d.msg);
  }

  spill(s: Session, d: Delivery): void {
    const seq = this.writeSpilled(s, d);
    if (s.spilled === 0) this.cursors.set(s, seq);
  }

  /** Writes `d` at the end of the session's queue on disk and returns its position. */
  private writeSpilled(s: Session, d: Delivery): number {
    const seq = this.nextSeq(s);
    const copy: Delivery = { ...d, seq, inline: true };
    this.store.putEntry(s.clientId, entryOf(copy, 0, 0, 0));
    // Reads see committed writes only: keep the delivery at hand until its write is committed.
    let list = this.uncommitted.get(s);
    if (list === undefined) this.uncommitted.set(s, (list = []));
    list.push({ d: copy, gen: this.gen });
    if (!this.trimming) this.trimCommitted();
    return seq;
  }

  /** Once the writes made so far are committed, forgets the spilled deliveries they covered. */
  private trimCommitted(): void {
    this.trimming = true;
    const upTo = this.gen++;
    this.store.flush().then(
      () => {
        this.trimming = false;
        for (const [s, list] of this.uncommitted) {
          let n = 0;
          while (n < list.length && list[n]!.gen <= upTo) n++;
          if (n === list.length) this.uncommitted.delete(s);
          else list.splice(0, n);
        }
        if (this.uncommitted.size > 0) this.trimCommitted();
      },
      () => {
        this.trimming = false;
      },
    );
  }

  /** Up to `max` spilled deliveries with `seq >= from`: committed ones from the store, then uncommitted ones. */
  private readSpilled(s: Session, from: number, max: number): Delivery[] {
    const out: Delivery[] = [];
    let last = from - 1;
    for (const e of this.store.readEntries(s.clientId, from, max)) {
      last = e.seq;
      if (e.msg === undefined || e.state !== 0) continue;
      out.push({
        msg: e.msg,
        qos: e.qos,
        retain: e.retain,
        subscriptionIds: e.subscriptionIds,
        share: e.share,
        seq: e.seq,
        inline: true,
      });
    }
    for (const { d } of this.uncommitted.get(s) ?? []) {
      if (out.length >= max) break;
      if (d.seq! > last) {
        out.push(d);
        last = d.seq!;
      }
    }
    return out;
  }

  unspill(s: Session, max: number): Delivery[] {
    const from = this.cursors.get(s);
    if (from === undefined) return [];
    const out = this.readSpilled(s, from, max);
    if (out.length > 0) this.cursors.set(s, out[out.length - 1]!.seq! + 1);
    return out;
  }

  /**
   * Takes the spilled deliveries that came through shared subscriptions. The spilled queue is rewritten (the
   * others get new positions at its end) rather than punched with deletes, which reads would not see before
   * they are committed.
   */
  takeSpilledShared(s: Session): Delivery[] {
    const from = this.cursors.get(s);
    if (from === undefined) return [];
    const end = this.seqs.get(s) ?? 1;
    let any = false;
    for (let at = from; at < end && !any; ) {
      const page = this.readSpilled(s, at, 1000);
      if (page.length === 0) break;
      any = page.some((d) => d.share !== undefined);
      at = page[page.length - 1]!.seq! + 1;
    }
    if (!any) return [];
    const taken: Delivery[] = [];
    let cursor: number | undefined;
    for (let at = from; at < end; ) {
      const page = this.readSpilled(s, at, 1000).filter((d) => d.seq! < end);
      if (page.length === 0) break;
      for (const d of page) {
        this.store.deleteEntry(s.clientId, d.seq!);
        if (d.share !== undefined) taken.push(unqueued(d));
        else {
          const seq = this.writeSpilled(s, d);
          cursor ??= seq;
        }
      }
      at = page[page.length - 1]!.seq! + 1;
    }
    if (cursor !== undefined) this.cursors.set(s, cursor);
    return taken;
  }

  rel(s: Session, packetId: number, add: boolean): void {
    if (add) this.store.putRel(s.clientId, packetId);
    else this.store.deleteRel(s.clientId, packetId);
  }

  // --- retained ---

  retainedSet(topic: string, msg: Message, old: Message | undefined): void {
    const id = this.retain(msg);
    this.store.putRetained(topic, id);
    if (old !== undefined) this.release(old);
  }

  retainedDeleted(topic: string, old: Message | undefined): void {
    this.store.deleteRetained(topic);
    if (old !== undefined) this.release(old);
  }
}

/** The stored entry of a delivery: with a message id, or (`msgId` 0) with its own copy of the message. */
function entryOf(d: Delivery, msgId: number, state: 0 | 1 | 2, packetId: number, seq = d.seq!): StoredEntry {
  return {
    seq,
    msgId,
    qos: d.qos,
    retain: d.retain,
    subscriptionIds: d.subscriptionIds,
    state,
    packetId,
    size: d.msg.payload.length,
    msg: msgId === 0 ? d.msg : undefined,
    share: d.share,
  };
}
