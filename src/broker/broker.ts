import type { QoS, Will } from '../codec/index.js';
import type { ClientInfo } from '../core/client-info.js';
import { type Clock, systemClock } from '../core/clock.js';
import { MAX_TIMER_MS, NEVER_EXPIRES } from '../core/limits.js';
import { forwardedProperties, isExpired, type Message } from '../core/message.js';
import type { ShareStrategy } from '../core/share.js';
import { Stats } from '../core/stats.js';
import { ALLOW, type Decision, Hooks } from '../hooks/hooks.js';
import type { Durability, Store } from '../persistence/store.js';
import { RetainedStore } from '../retain/retained-store.js';
import { Router } from '../router/router.js';
import {
  type Delivery,
  Session,
  type SessionLimits,
  type SessionObserver,
  type Subscription,
} from '../session/session.js';
import { Persistence } from './persistence.js';

export interface BrokerOptions {
  maxQueuedMessages: number;
  /** Payload bytes queued per session (0 or absent = unlimited). */
  maxQueuedBytes?: number;
  queueQos0Messages: boolean;
  queueDropPolicy: 'drop_oldest' | 'drop_newest';
  retainAvailable: boolean;
  maxRetainedMessages: number;
  maxRetainedPayload: number;
  /** Shared subscriptions: default strategy and per-group overrides. */
  sharedStrategy?: ShareStrategy;
  sharedGroups?: Record<string, ShareStrategy>;
}

/** A live client connection as the broker sees it (to take it over or shut it down). */
export interface ClientHandle {
  readonly clientId: string;
  /** Ends the connection from the server side with an MQTT 5 reason code (DISCONNECT for v5 clients). */
  disconnect(reasonCode: number, reason: string): void;
}

/**
 * The broker's domain core: sessions, the router, retained messages and hooks. No sockets: protocol
 * connections call in (connect, publish, subscribe, disconnect) and are called back through `Outlet` and
 * `ClientHandle`. Several brokers can live in one process.
 */
export class Broker {
  readonly options: BrokerOptions;
  readonly hooks = new Hooks();
  readonly router: Router;
  readonly retained: RetainedStore;
  readonly sessions = new Map<string, Session>();
  readonly clients = new Map<string, ClientHandle>();
  readonly stats = new Stats();
  readonly clock: Clock;
  /** Durable write-through, when a store is attached (`attachStore`). */
  persistence: Persistence | undefined;
  private readonly observer: SessionObserver;
  private limits: Readonly<SessionLimits> | undefined;
  private closed = false;

  constructor(options: BrokerOptions, clock: Clock = systemClock) {
    this.options = options;
    this.clock = clock;
    this.router = new Router({
      sharedStrategy: options.sharedStrategy ?? 'round_robin',
      sharedGroups: options.sharedGroups ?? {},
    });
    this.retained = new RetainedStore({
      maxMessages: options.maxRetainedMessages,
      maxPayload: options.maxRetainedPayload,
    });
    const stats = this.stats;
    const hooks = this.hooks;
    this.observer = {
      delivered(s, msg) {
        stats['messages.sent']++;
        if (hooks.has('message.delivered')) hooks.emit('message.delivered', s.clientId, msg);
      },
      acked(s, msg) {
        stats['messages.acked']++;
        if (hooks.has('message.acked')) hooks.emit('message.acked', s.clientId, msg);
      },
      dropped(s, msg, reason) {
        stats[`messages.dropped.${reason}`]++;
        if (hooks.has('message.dropped')) hooks.emit('message.dropped', s.clientId, msg, reason);
      },
    };
  }

  /** The publish pipeline: hooks, retained store, then one delivery per matching session. */
  publish(msg: Message): number {
    // The broker's own messages ($SYS, from '') are not counted as received or dropped.
    const counted = msg.from !== '';
    if (counted) this.stats['messages.received']++;
    if (this.hooks.has('message.publish')) this.hooks.emit('message.publish', msg);
    if (msg.retain && this.options.retainAvailable) {
      const p = this.persistence;
      const old = p !== undefined ? this.retained.get(msg.topic) : undefined;
      const r = this.retained.set(msg);
      if (r === 'stored' && counted) {
        // $SYS values (from '') are republished at start: neither counted nor persisted.
        this.stats['messages.retained']++;
        p?.retainedSet(msg.topic, msg, old);
      } else if (r === 'deleted' && old !== undefined) {
        p?.retainedDeleted(msg.topic, old);
      }
    }
    const n = this.router.route(msg, deliverTo);
    if (n === 0 && counted) this.stats['messages.dropped.no_subscribers']++;
    return n;
  }

  /**
   * Opens the session for a connection that passed authentication: takes over an existing connection with
   * the same client id, then resumes (clean = false) or replaces the session.
   */
  openSession(
    clientId: string,
    clean: boolean,
    expiryInterval: number,
    client: ClientHandle,
  ): { session: Session; present: boolean } {
    const old = this.clients.get(clientId);
    if (old !== undefined && old !== client) {
      // Takeover [MQTT-3.1.4-3]: the old connection ends (its will follows the usual rules) before we go on.
      old.disconnect(0x8e, 'session taken over');
    }
    this.clients.set(clientId, client);
    let session = this.sessions.get(clientId);
    let present = false;
    if (session !== undefined) {
      this.cancelTimers(session);
      if (clean) {
        // The old session ends now, so a will still waiting for its delay is published [MQTT-3.1.3-9].
        this.endSession(session, 'clean start');
        session = undefined;
      } else {
        // A new connection to the session before the Will Delay ends cancels the will [MQTT-3.1.3-9].
        session.pendingWill = undefined;
        present = true;
        if (this.hooks.has('session.resumed')) this.hooks.emit('session.resumed', clientId);
      }
    }
    if (session === undefined) {
      session = new Session(clientId, expiryInterval, this.sessionLimits(), this.observer, this.clock.now);
      this.sessions.set(clientId, session);
      if (this.hooks.has('session.created')) this.hooks.emit('session.created', clientId);
    }
    session.expiryInterval = expiryInterval;
    if (this.persistence !== undefined && expiryInterval > 0) {
      session.journal = this.persistence;
      session.disconnectedAt = 0;
      this.persistence.saveSession(session);
    }
    return { session, present };
  }

  /**
   * A connection ended. `will` is the will to publish (undefined after a normal DISCONNECT). The session
   * ends now if its expiry interval is 0, else it stays until it expires; the will waits for its Will Delay
   * Interval or the end of the session, whichever comes first [MQTT-3.1.3-9].
   */
  closeConnection(session: Session, client: ClientHandle, will: Will | undefined, info?: ClientInfo): void {
    if (this.clients.get(session.clientId) === client) this.clients.delete(session.clientId);
    if (this.sessions.get(session.clientId) !== session) {
      // The session was already replaced (clean start takeover); only the will remains to publish.
      if (will !== undefined) this.publishWill(session.clientId, will, info);
      return;
    }
    session.detach(this.clock.now());
    if (this.closed) {
      // Shutting down: persistent sessions stay in the store as they are; wills are not published.
      if (session.expiryInterval === 0) this.endSession(session, 'server shutdown');
      else if (session.journal !== undefined) this.persistence!.saveSession(session);
      return;
    }
    // Messages for shared subscriptions that this client has not received go to another member.
    this.redispatchShared(session);
    const delay = will?.properties?.willDelayInterval ?? 0;
    if (will !== undefined && (delay === 0 || session.expiryInterval === 0)) {
      this.publishWill(session.clientId, will, info);
      will = undefined;
    }
    session.willFrom = will !== undefined ? info : undefined;
    if (session.expiryInterval === 0) {
      this.endSession(session, 'expired');
      return;
    }
    session.pendingWill = will;
    if (session.journal !== undefined) this.persistence!.saveSession(session);
    this.scheduleExpiry(
      session,
      Math.min(delay, session.expiryInterval) * 1000,
      session.expiryInterval * 1000,
    );
  }

  /** Timers of a disconnected session: the pending will after `willMs`, the end of the session after `expiryMs`. */
  private scheduleExpiry(session: Session, willMs: number, expiryMs: number): void {
    if (session.pendingWill !== undefined) {
      session.willTimer = this.after(Math.max(0, willMs), () => {
        session.willTimer = undefined;
        const w = session.pendingWill;
        session.pendingWill = undefined;
        if (session.journal !== undefined) this.persistence!.saveSession(session);
        if (w !== undefined) this.publishWill(session.clientId, w, session.willFrom);
        session.willFrom = undefined;
      });
    }
    if (session.expiryInterval !== NEVER_EXPIRES) {
      session.expiryTimer = this.after(Math.max(0, expiryMs), () => {
        session.expiryTimer = undefined;
        if (this.sessions.get(session.clientId) === session && !session.online) {
          this.stats['sessions.expired']++;
          this.endSession(session, 'expired');
        }
      });
    }
  }

  /** One limits object shared by every session (the options do not change while the broker runs). */
  private sessionLimits(): SessionLimits {
    this.limits ??= Object.freeze({
      maxQueued: this.options.maxQueuedMessages,
      maxQueuedBytes: this.options.maxQueuedBytes ?? 0,
      queueQos0: this.options.queueQos0Messages,
      dropPolicy: this.options.queueDropPolicy,
    });
    return this.limits;
  }

  /** Ends a session: its subscriptions go, a pending will is published [MQTT-3.1.2-8]. */
  endSession(session: Session, reason: string): void {
    this.cancelTimers(session);
    for (const sub of session.subscriptions.values()) this.router.remove(session, sub);
    this.redispatchShared(session);
    if (session.journal !== undefined) {
      this.persistence!.deleteSession(session);
      session.journal = undefined;
    }
    session.clear();
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId);
    const w = session.pendingWill;
    session.pendingWill = undefined;
    if (w !== undefined) this.publishWill(session.clientId, w, session.willFrom);
    session.willFrom = undefined;
    if (this.hooks.has('session.terminated')) this.hooks.emit('session.terminated', session.clientId, reason);
  }

  /**
   * Gives the shared-subscription deliveries a session holds (queued, or sent without acknowledgement) to
   * other members of their groups; those with no other member stay with the session.
   */
  private redispatchShared(session: Session): void {
    const taken = session.takeShared();
    for (const d of taken) {
      if (!this.router.redispatch(d, session, deliverTo) && this.sessions.get(session.clientId) === session) {
        session.deliver(d);
      }
    }
  }

  private cancelTimers(session: Session): void {
    if (session.expiryTimer !== undefined) this.clock.clearTimeout(session.expiryTimer);
    if (session.willTimer !== undefined) this.clock.clearTimeout(session.willTimer);
    session.expiryTimer = undefined;
    session.willTimer = undefined;
  }

  private after(ms: number, fn: () => void): ReturnType<typeof setTimeout> {
    if (ms <= MAX_TIMER_MS) return this.clock.setTimeout(fn, ms);
    return this.clock.setTimeout(() => {
      this.after(ms - MAX_TIMER_MS, fn);
    }, MAX_TIMER_MS);
  }

  /**
   * Publishes a will. With authorization hooks, it is authorized again now, not only at CONNECT: rules tightened
   * meanwhile apply. `from` is the client it belongs to (restored from the store after a restart: client id,
   * username, address, listener, certificate CN; grants made at authentication, such as a JWT's rules or an
   * HTTP superuser flag, are not kept). Without one (a record written before Petrel kept it) the will is
   * authorized as an anonymous client with its client id: it never bypasses the ACL.
   */
  publishWill(clientId: string, will: Will, from?: ClientInfo): void {
    if (this.closed) return;
    const publish = (d: Decision): void => {
      if (d.result === 'deny') {
        this.stats['messages.dropped.not_authorized']++;
        return;
      }
      this.stats['wills.published']++;
      this.publish(this.willMessage(clientId, will));
    };
    if (!this.hooks.hasDeciders('client.authorize')) {
      publish(ALLOW);
      return;
    }
    const d = this.hooks.run(
      'client.authorize',
      {
        client: from ?? {
          clientId,
          username: undefined,
          remoteAddress: '',
          remotePort: 0,
          listener: '',
          protocolVersion: 5,
        },
        action: 'publish',
        topic: will.topic,
        qos: will.qos,
        retain: will.retain,
        size: will.payload.length,
      },
      ALLOW,
    );
    if (d instanceof Promise) d.then(publish, () => publish({ result: 'deny' }));
    else publish(d);
  }

  willMessage(clientId: string, will: Will): Message {
    const now = this.clock.now();
    const expiry = will.properties?.messageExpiryInterval;
    return {
      topic: will.topic,
      payload: will.payload,
      qos: will.qos,
      retain: will.retain,
      properties: forwardedProperties(will.properties),
      expiresAt: expiry !== undefined ? now + expiry * 1000 : 0,
      from: clientId,
      receivedAt: now,
    };
  }

  /** Adds or replaces a subscription. Returns true if the session already had this filter. */
  subscribe(session: Session, sub: Subscription): boolean {
    const existed = session.setSubscription(sub);
    this.router.add(session, sub);
    if (session.journal !== undefined) this.persistence!.saveSession(session);
    if (this.hooks.has('session.subscribed'))
      this.hooks.emit('session.subscribed', session.clientId, sub.filter, sub.qos);
    return existed;
  }

  /** Removes a subscription. Returns false if there was none [MQTT-3.10.4-5]. */
  unsubscribe(session: Session, filter: string): boolean {
    const sub = session.deleteSubscription(filter);
    if (sub === undefined) return false;
    this.router.remove(session, sub);
    if (session.journal !== undefined) this.persistence!.saveSession(session);
    if (this.hooks.has('session.unsubscribed'))
      this.hooks.emit('session.unsubscribed', session.clientId, filter);
    return true;
  }

  /** Retained messages for a new subscription, as deliveries with RETAIN set [MQTT-3.3.1-9]. */
  retainedFor(sub: Subscription): Delivery[] {
    if (sub.group !== undefined) return []; // none for shared subscriptions (MQTT 5.0 §4.8.2)
    const msgs = this.retained.match(sub.topicFilter, this.clock.now());
    return msgs.map((msg) => ({
      msg,
      qos: (msg.qos < sub.qos ? msg.qos : sub.qos) as QoS,
      retain: true,
      subscriptionIds: sub.subscriptionId !== undefined ? [sub.subscriptionId] : undefined,
    }));
  }

  /** Stops the broker: every client is disconnected with Server shutting down (0x8B); the store is closed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const c of [...this.clients.values()]) c.disconnect(0x8b, 'server shutting down');
    for (const s of this.sessions.values()) this.cancelTimers(s);
    await this.persistence?.store.close();
  }

  /**
   * Attaches durable storage and restores what it holds: persistent sessions (subscriptions, queues, in-flight
   * messages to resend with DUP, inbound QoS 2 state, pending wills) and retained messages. Session expiry and
   * Will Delay count the time the broker was down. Call before accepting connections.
   */
  async attachStore(store: Store, durability: Durability, memoryQueue = 1000): Promise<void> {
    const state = await store.load(memoryQueue);
    const p = new Persistence(store, durability, memoryQueue);
    this.persistence = p;
    for (const [id, msg] of state.messages) p.adopt(id, msg);
    const now = this.clock.now();
    for (const [topic, id] of state.retained) {
      const msg = state.messages.get(id)!;
      if (isExpired(msg, now)) {
        store.deleteRetained(topic); // expired while the broker was down; the sweep drops the message
        continue;
      }
      this.retained.set(msg);
      p.addRef(msg);
    }
    this.retained.onExpired = (topic, msg) => p.retainedDeleted(topic, msg);
    for (const rec of state.sessions) {
      const s = new Session(
        rec.clientId,
        rec.expiryInterval,
        this.sessionLimits(),
        this.observer,
        this.clock.now,
      );
      s.journal = p;
      this.sessions.set(rec.clientId, s);
      for (const sub of rec.subscriptions) {
        s.setSubscription(sub);
        this.router.add(s, sub);
      }
      const q = state.queues.get(rec.clientId);
      for (const e of q?.entries ?? []) {
        let msg = e.msg;
        if (msg === undefined) {
          msg = state.messages.get(e.msgId)!;
          p.addRef(msg);
        }
        const d: Delivery = {
          msg,
          qos: e.qos,
          retain: e.retain,
          subscriptionIds: e.subscriptionIds,
          share: e.share,
          seq: e.seq,
        };
        if (e.msg !== undefined) d.inline = true;
        if (e.state === 0) s.queue.push(d);
        else s.restoreInflight({ ...d, packetId: e.packetId, state: e.state === 2 ? 1 : 0 });
      }
      p.setSeq(s, q?.nextSeq ?? 1);
      if (q?.spilled !== undefined) {
        s.spilled = q.spilled.count;
        s.spilledBytes = q.spilled.bytes;
        p.setCursor(s, q.spilled.fromSeq);
      }
      for (const id of state.rels.get(rec.clientId) ?? []) s.restoreRel(id);
      s.pendingWill = rec.pendingWill;
      s.willFrom = rec.willFrom;
      // A session that was connected when the broker stopped counts as disconnected now.
      s.disconnectedAt = rec.disconnectedAt > 0 ? rec.disconnectedAt : now;
      const since = now - s.disconnectedAt;
      const expiryMs = s.expiryInterval * 1000 - since;
      if (s.expiryInterval !== NEVER_EXPIRES && expiryMs <= 0) {
        this.endSession(s, 'expired while the broker was down');
        continue;
      }
      const willDelay = (s.pendingWill?.properties?.willDelayInterval ?? 0) * 1000;
      this.scheduleExpiry(s, Math.min(willDelay, s.expiryInterval * 1000) - since, expiryMs);
      if (rec.disconnectedAt === 0) p.saveSession(s);
    }
    p.sweep();
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

function deliverTo(session: Session, d: Delivery): void {
  session.deliver(d);
}
