import type { QoS, Will } from '../codec/index.js';
import type { ClientInfo } from '../core/client-info.js';
import { isExpired, type Message } from '../core/message.js';
import { DeliveryQueue } from './deque.js';

/** A subscription as the session holds it (MQTT 5 options for every protocol version). */
export interface Subscription {
  /** The filter as the client sent it (with a `$share/{group}/` prefix for shared subscriptions). */
  readonly filter: string;
  /** The filter matched against topics (without the `$share/{group}/` prefix). */
  readonly topicFilter: string;
  /** Share group name for shared subscriptions. */
  readonly group: string | undefined;
  readonly qos: QoS;
  readonly noLocal: boolean;
  readonly retainAsPublished: boolean;
  readonly retainHandling: 0 | 1 | 2;
  /** MQTT 5 Subscription Identifier (1..268,435,455). */
  readonly subscriptionId: number | undefined;
}

/** A shared subscription group, as a delivery refers to it (the router owns the groups). */
export interface ShareRef {
  readonly name: string;
  readonly filter: string;
}

/** One message on its way to this session's client. */
export interface Delivery {
  readonly msg: Message;
  readonly qos: QoS;
  /** The RETAIN flag to send. */
  readonly retain: boolean;
  readonly subscriptionIds: number[] | undefined;
  /** Set when the delivery came through a shared subscription: it may be redispatched to another member. */
  readonly share?: ShareRef;
  /** Position in a persistent session's durable queue (set by the journal when it records the delivery). */
  seq?: number;
  /** Its stored entry holds its own copy of the message (it was queued beyond the memory window). */
  inline?: true;
}

/** `d` without its place in a session (queue position, packet id): to hand it to another session. */
export function unqueued(d: Delivery): Delivery {
  return { msg: d.msg, qos: d.qos, retain: d.retain, subscriptionIds: d.subscriptionIds, share: d.share };
}

/** A QoS 1/2 delivery with its packet id. state 0: PUBLISH sent, awaiting PUBACK/PUBREC; 1: PUBREL sent. */
export interface Inflight extends Delivery {
  readonly packetId: number;
  state: 0 | 1;
}

/** The live connection as a session sees it: the protocol layer implements it. */
export interface Outlet {
  /** Sends a PUBLISH; returns false when it could not be sent (too large for the client): drop it. */
  sendPublish(d: Delivery, packetId: number, dup: boolean): boolean;
  sendPubrel(packetId: number): void;
  /** True while the socket's write buffer is over its limit: hold QoS 0 back (queue) until drain. */
  readonly congested: boolean;
  /** The client's Receive Maximum combined with the server's max_inflight. */
  readonly sendWindow: number;
}

export interface SessionLimits {
  maxQueued: number;
  /** Payload bytes a session may hold queued (0 = unlimited). */
  maxQueuedBytes: number;
  queueQos0: boolean;
  dropPolicy: 'drop_oldest' | 'drop_newest';
}

/**
 * Write-through of a persistent session's message state to durable storage. The broker sets it on sessions
 * that outlive their connection; QoS 0 deliveries are not journaled.
 */
export interface SessionJournal {
  /** A QoS 1/2 delivery entered the queue. */
  queued(s: Session, d: Delivery): void;
  /** A QoS 1/2 delivery is in flight (PUBLISH sent) or, for QoS 2, past PUBREC (PUBREL sent). */
  inflight(s: Session, e: Inflight): void;
  /** A delivery left the session (acknowledged, dropped, expired or handed to another member). */
  removed(s: Session, d: Delivery): void;
  /** Inbound QoS 2 packet id awaiting PUBREL added or removed. */
  rel(s: Session, packetId: number, add: boolean): void;
  /** Queued deliveries a session holds in memory; past it (and while any wait on disk) they go to disk only. */
  readonly memoryQueue: number;
  /** Writes a delivery (any QoS) at the end of the session's queue on disk, not kept in memory. */
  spill(s: Session, d: Delivery): void;
  /** Reads back up to `max` of the first deliveries waiting on disk (they stay stored until removed). */
  unspill(s: Session, max: number): Delivery[];
  /** Removes the deliveries waiting on disk that came through shared subscriptions, and returns them. */
  takeSpilledShared(s: Session): Delivery[];
}

export interface SessionObserver {
  delivered(session: Session, msg: Message): void;
  acked(session: Session, msg: Message): void;
  dropped(
    session: Session,
    msg: Message,
    reason: 'queue_full' | 'expired' | 'too_large' | 'qos0_offline',
  ): void;
}

// Shared empty collections of sessions that have not written theirs yet (see Session): never mutated.
const NO_SUBS = new Map<string, Subscription>();
const NO_INFLIGHT = new Map<number, Inflight>();
const NO_RELS = new Set<number>();

/**
 * A client's session: subscriptions, the outbound queue and in-flight window, and the inbound QoS 2
 * state. Pure domain state, no I/O: time comes in as arguments; a connection attaches as an `Outlet`.
 */
export class Session {
  readonly clientId: string;
  /** Session Expiry Interval in seconds; 0xFFFFFFFF never expires. */
  expiryInterval: number;
  /**
   * Subscriptions, outbound QoS 1/2 messages awaiting acknowledgement (in send order) and inbound QoS 2 ids
   * awaiting PUBREL. Most sessions never use some of them (an idle or publish-only client): until first
   * written they are shared empty instances, never mutated, so an idle connection costs no Maps of its own.
   */
  private subs: Map<string, Subscription> = NO_SUBS;
  private inflightMap: Map<number, Inflight> = NO_INFLIGHT;
  private rels: Set<number> = NO_RELS;
  /** Deliveries waiting for the client (offline, window full or congested), those held in memory. */
  readonly queue = new DeliveryQueue<Delivery>();
  /** Deliveries queued after `queue` that wait on disk only (a persistent session's long queue). */
  spilled = 0;
  /** Payload bytes of the `spilled` deliveries. */
  spilledBytes = 0;
  outlet: Outlet | undefined;
  /** Durable write-through, for sessions that outlive their connection when a store is configured. */
  journal: SessionJournal | undefined;
  /** The will of the last connection, pending after it ended abnormally (with a Will Delay). */
  pendingWill: Will | undefined;
  /** The client the pending will belongs to, to authorize it again when it is published (not persisted). */
  willFrom: ClientInfo | undefined;
  /** Timers owned by the broker (expiry, delayed will). */
  expiryTimer: ReturnType<typeof setTimeout> | undefined;
  willTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the session lost its connection (clock ms), 0 while connected. */
  disconnectedAt = 0;
  droppedCount = 0;
  private nextId = 1;
  /** The router's fold entry for this session (see Router.route); meaningful only to the router. */
  routeMark: unknown = undefined;
  private readonly limits: SessionLimits;
  private readonly observer: SessionObserver;
  private readonly now: () => number;

  constructor(
    clientId: string,
    expiryInterval: number,
    limits: SessionLimits,
    observer: SessionObserver,
    now: () => number,
  ) {
    this.clientId = clientId;
    this.expiryInterval = expiryInterval;
    this.limits = limits;
    this.observer = observer;
    this.now = now;
  }

  get online(): boolean {
    return this.outlet !== undefined;
  }

  get subscriptions(): ReadonlyMap<string, Subscription> {
    return this.subs;
  }

  /** Outbound QoS 1/2 messages awaiting acknowledgement, in send order. */
  get inflight(): ReadonlyMap<number, Inflight> {
    return this.inflightMap;
  }

  /** Inbound QoS 2 packet ids received (PUBREC sent), awaiting PUBREL. */
  get awaitingRel(): ReadonlySet<number> {
    return this.rels;
  }

  /** Adds or replaces a subscription; returns true if the filter was already there. */
  setSubscription(sub: Subscription): boolean {
    if (this.subs === NO_SUBS) this.subs = new Map();
    const existed = this.subs.has(sub.filter);
    this.subs.set(sub.filter, sub);
    return existed;
  }

  /** Removes a subscription and returns it (undefined if there was none). */
  deleteSubscription(filter: string): Subscription | undefined {
    const sub = this.subs.get(filter);
    if (sub !== undefined) this.subs.delete(filter);
    return sub;
  }

  /** Restores an in-flight delivery read back from the store (start-up). */
  restoreInflight(e: Inflight): void {
    if (this.inflightMap === NO_INFLIGHT) this.inflightMap = new Map();
    this.inflightMap.set(e.packetId, e);
  }

  /** Restores an inbound QoS 2 packet id read back from the store (start-up). */
  restoreRel(packetId: number): void {
    if (this.rels === NO_RELS) this.rels = new Set();
    this.rels.add(packetId);
  }

  /** Deliveries waiting for the client, in memory and on disk. */
  get queued(): number {
    return this.queue.length + this.spilled;
  }

  /** Payload bytes of the deliveries waiting for the client. */
  get queuedBytes(): number {
    return this.queue.bytes + this.spilledBytes;
  }

  /** Routes one delivery to the client: sent now if the window allows, else queued (bounded). */
  deliver(d: Delivery): void {
    const o = this.outlet;
    if (o === undefined) {
      if (d.qos === 0 && !this.limits.queueQos0) {
        this.observer.dropped(this, d.msg, 'qos0_offline');
        return;
      }
      this.enqueue(d);
      return;
    }
    if (this.queue.length === 0 && this.spilled === 0 && !o.congested) {
      if (d.qos === 0) {
        if (o.sendPublish(d, 0, false)) this.observer.delivered(this, d.msg);
        else this.observer.dropped(this, d.msg, 'too_large');
        return;
      }
      if (this.inflightMap.size < o.sendWindow) {
        this.sendNew(o, d);
        return;
      }
    }
    this.enqueue(d);
  }

  private enqueue(d: Delivery): void {
    const max = this.limits.maxQueued;
    const maxBytes = this.limits.maxQueuedBytes;
    const size = d.msg.payload.length;
    if (maxBytes > 0 && size > maxBytes) {
      // Larger than the whole byte budget: it can never be queued.
      this.droppedCount++;
      this.observer.dropped(this, d.msg, 'queue_full');
      return;
    }
    while ((max > 0 && this.queued >= max) || (maxBytes > 0 && this.queuedBytes + size > maxBytes)) {
      this.droppedCount++;
      if (this.limits.dropPolicy === 'drop_newest') {
        this.observer.dropped(this, d.msg, 'queue_full');
        return;
      }
      if (this.queue.length === 0) this.refill();
      const old = this.queue.shift()!;
      if (old.seq !== undefined) this.journal?.removed(this, old);
      this.observer.dropped(this, old.msg, 'queue_full');
    }
    const j = this.journal;
    if (j !== undefined && (this.spilled > 0 || this.queue.length >= j.memoryQueue)) {
      // The memory window is full: the delivery waits on disk only, read back as the queue drains.
      j.spill(this, d);
      this.spilled++;
      this.spilledBytes += size;
      return;
    }
    this.queue.push(d);
    if (d.qos > 0) j?.queued(this, d);
  }

  /** Reads deliveries waiting on disk back into memory once the in-memory queue is down to half its window. */
  private refill(): void {
    const j = this.journal;
    if (this.spilled === 0 || j === undefined || this.queue.length > j.memoryQueue >> 1) return;
    const back = j.unspill(this, Math.max(1, j.memoryQueue - this.queue.length));
    for (const d of back) {
      this.queue.push(d);
      this.spilled--;
      this.spilledBytes -= d.msg.payload.length;
    }
    if (back.length === 0 || this.spilled <= 0) {
      // Nothing more on disk (or the count was off): the memory queue is the whole queue again.
      this.spilled = 0;
      this.spilledBytes = 0;
    }
  }

  private sendNew(o: Outlet, d: Delivery): void {
    const id = this.allocateId();
    const entry: Inflight = {
      msg: d.msg,
      qos: d.qos,
      retain: d.retain,
      subscriptionIds: d.subscriptionIds,
      share: d.share,
      seq: d.seq,
      packetId: id,
      state: 0,
    };
    if (d.inline) entry.inline = true;
    if (this.inflightMap === NO_INFLIGHT) this.inflightMap = new Map();
    this.inflightMap.set(id, entry);
    this.journal?.inflight(this, entry);
    if (o.sendPublish(entry, id, false)) {
      this.observer.delivered(this, d.msg);
    } else {
      // Too large for this client: discard as if delivered [MQTT-3.1.2-25].
      this.inflightMap.delete(id);
      this.journal?.removed(this, entry);
      this.observer.dropped(this, d.msg, 'too_large');
    }
  }

  /** A packet id not in use by an outbound QoS 1/2 flow [MQTT-2.2.1-3]. Call only with a free id. */
  private allocateId(): number {
    for (;;) {
      const id = this.nextId;
      this.nextId = id === 65535 ? 1 : id + 1;
      if (!this.inflightMap.has(id)) return id;
    }
  }

  /** Sends what the window and the socket allow from the queue. */
  pump(): void {
    const o = this.outlet;
    if (o === undefined) return;
    const now = this.now();
    for (;;) {
      if (this.spilled > 0) this.refill();
      if (this.queue.length === 0 || o.congested) break;
      const d = this.queue.peek()!;
      if (isExpired(d.msg, now)) {
        this.queue.shift();
        if (d.seq !== undefined) this.journal?.removed(this, d);
        this.observer.dropped(this, d.msg, 'expired');
        continue;
      }
      if (d.qos === 0) {
        this.queue.shift();
        if (o.sendPublish(d, 0, false)) this.observer.delivered(this, d.msg);
        else this.observer.dropped(this, d.msg, 'too_large');
        continue;
      }
      if (this.inflightMap.size >= o.sendWindow || this.inflightMap.size >= 65535) break;
      this.queue.shift();
      this.sendNew(o, d);
    }
  }

  /** PUBACK from the client. Returns false if no QoS 1 flow had that id. */
  onPuback(id: number): boolean {
    const e = this.inflightMap.get(id);
    if (e === undefined || e.qos !== 1) return false;
    this.inflightMap.delete(id);
    this.journal?.removed(this, e);
    this.observer.acked(this, e.msg);
    this.pump();
    return true;
  }

  /**
   * PUBREC from the client. Returns 'pubrel' when a PUBREL must be sent, 'done' when the flow ended (an
   * error reason code), or 'unknown' for an id with no QoS 2 flow (answer PUBREL 0x92).
   */
  onPubrec(id: number, reasonCode: number): 'pubrel' | 'done' | 'unknown' {
    const e = this.inflightMap.get(id);
    if (e === undefined || e.qos !== 2) return 'unknown';
    if (reasonCode >= 0x80) {
      this.inflightMap.delete(id);
      this.journal?.removed(this, e);
      this.pump();
      return 'done';
    }
    if (e.state === 0) {
      e.state = 1;
      this.journal?.inflight(this, e);
    }
    return 'pubrel';
  }

  /** PUBCOMP from the client. */
  onPubcomp(id: number): boolean {
    const e = this.inflightMap.get(id);
    if (e === undefined || e.qos !== 2 || e.state !== 1) return false;
    this.inflightMap.delete(id);
    this.journal?.removed(this, e);
    this.observer.acked(this, e.msg);
    this.pump();
    return true;
  }

  /** A connection takes the session: resend unacknowledged messages (DUP=1) and PUBRELs, then the queue. */
  attach(o: Outlet): void {
    this.outlet = o;
    this.disconnectedAt = 0;
    const now = this.now();
    for (const e of this.inflightMap.values()) {
      if (e.state === 1) {
        o.sendPubrel(e.packetId);
      } else if (isExpired(e.msg, now) && e.qos === 1) {
        // MQTT 5 lets expired messages go; a QoS 2 flow already started is completed.
        this.inflightMap.delete(e.packetId);
        this.journal?.removed(this, e);
        this.observer.dropped(this, e.msg, 'expired');
      } else if (!o.sendPublish(e, e.packetId, true)) {
        this.inflightMap.delete(e.packetId);
        this.journal?.removed(this, e);
        this.observer.dropped(this, e.msg, 'too_large');
      }
    }
    this.pump();
  }

  /**
   * Removes and returns the deliveries that came through shared subscriptions and that the client has not
   * received yet (queued, or in flight without PUBREC), so the group can give them to another member.
   */
  takeShared(): Delivery[] {
    const out: Delivery[] = [];
    for (const e of this.inflightMap.values()) {
      if (e.share !== undefined && e.state === 0) {
        this.inflightMap.delete(e.packetId);
        out.push(e);
      }
    }
    if (this.queue.length > 0) {
      const keep: Delivery[] = [];
      for (const d of this.queue) (d.share !== undefined ? out : keep).push(d);
      if (keep.length !== this.queue.length) {
        this.queue.clear();
        for (const d of keep) this.queue.push(d);
      }
    }
    if (this.spilled > 0) {
      for (const d of this.journal!.takeSpilledShared(this)) {
        this.spilled--;
        this.spilledBytes -= d.msg.payload.length;
        out.push(d);
      }
    }
    // Handed back without their seq: whoever takes them journals them afresh.
    const fresh: Delivery[] = [];
    for (const d of out) {
      if (d.seq !== undefined) this.journal?.removed(this, d);
      fresh.push(unqueued(d));
    }
    return fresh;
  }

  /** Records an inbound QoS 2 packet id (PUBREC sent), awaiting PUBREL [MQTT-4.3.3-9]. */
  addRel(packetId: number): void {
    if (this.rels.has(packetId)) return;
    if (this.rels === NO_RELS) this.rels = new Set();
    this.rels.add(packetId);
    this.journal?.rel(this, packetId, true);
  }

  /** Forgets an inbound QoS 2 packet id (PUBREL received). Returns false if it was unknown. */
  deleteRel(packetId: number): boolean {
    if (!this.rels.delete(packetId)) return false;
    this.journal?.rel(this, packetId, false);
    return true;
  }

  /** Forgets subscriptions, queued and in-flight deliveries (the session ended; its stored entries go with it). */
  clear(): void {
    if (this.subs !== NO_SUBS) this.subs = NO_SUBS;
    if (this.inflightMap !== NO_INFLIGHT) this.inflightMap = NO_INFLIGHT;
    this.clearQueue();
  }

  /** Forgets every queued delivery. */
  clearQueue(): void {
    this.queue.clear();
    this.spilled = 0;
    this.spilledBytes = 0;
  }

  detach(now: number): void {
    this.outlet = undefined;
    this.disconnectedAt = now;
  }
}
