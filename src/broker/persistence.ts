import type { Durability, Store, StoredSession } from '../persistence/store.js';
import type { Delivery, Inflight, Session, SessionJournal } from '../session/session.js';
import type { Message } from './message.js';

interface Ref {
  id: number;
  refs: number;
}

/**
 * Writes the broker's durable state through to a Store: persistent sessions (with their subscriptions, pending
 * will and expiry), their QoS 1/2 queue and in-flight entries, inbound QoS 2 state, and retained messages.
 * A message is stored once under an id, reference-counted by the entries and retained topics that hold it, and
 * deleted with its last reference.
 */
export class Persistence implements SessionJournal {
  readonly store: Store;
  readonly durability: Durability;
  private readonly ids = new Map<Message, Ref>();
  private nextMsgId = 1;
  private readonly seqs = new WeakMap<Session, number>();

  constructor(store: Store, durability: Durability) {
    this.store = store;
    this.durability = durability;
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
    for (const e of s.inflight.values()) if (e.seq !== undefined) this.release(e.msg);
    for (const d of s.queue) if (d.seq !== undefined) this.release(d.msg);
    this.store.deleteSession(s.clientId);
  }

  // --- SessionJournal ---

  private write(s: Session, d: Delivery, state: 0 | 1 | 2, packetId: number): void {
    let msgId: number;
    if (d.seq === undefined) {
      const next = this.seqs.get(s) ?? 1;
      d.seq = next;
      this.seqs.set(s, next + 1);
      msgId = this.retain(d.msg);
    } else {
      msgId = this.ids.get(d.msg)?.id ?? this.retain(d.msg);
    }
    this.store.putEntry(s.clientId, {
      seq: d.seq,
      msgId,
      qos: d.qos,
      retain: d.retain,
      subscriptionIds: d.subscriptionIds,
      state,
      packetId,
    });
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
    this.release(d.msg);
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
