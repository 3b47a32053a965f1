import type { QoS, Will } from '../codec/index.js';
import { Hooks } from '../hooks/hooks.js';
import { RetainedStore } from '../retain/retained-store.js';
import { Router } from '../router/router.js';
import { type Delivery, Session, type SessionObserver, type Subscription } from '../session/session.js';
import { forwardedProperties, type Message } from './message.js';

/** Session Expiry Interval meaning "never expires". */
export const NEVER_EXPIRES = 0xffffffff;

export interface BrokerOptions {
  maxQueuedMessages: number;
  queueQos0Messages: boolean;
  queueDropPolicy: 'drop_oldest' | 'drop_newest';
  retainAvailable: boolean;
  maxRetainedMessages: number;
  maxRetainedPayload: number;
}

/** Injected time source, so tests can drive timers. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): ReturnType<typeof setTimeout>;
  clearTimeout(t: ReturnType<typeof setTimeout>): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (t) => clearTimeout(t),
};

/** A live client connection as the broker sees it (to take it over or shut it down). */
export interface ClientHandle {
  readonly clientId: string;
  /** Ends the connection from the server side with an MQTT 5 reason code (DISCONNECT for v5 clients). */
  disconnect(reasonCode: number, reason: string): void;
}

/** Counters; `$SYS` and Prometheus read them. Names as metrics: dotted lowercase. */
export class Stats {
  'messages.received' = 0;
  'messages.sent' = 0;
  'messages.acked' = 0;
  'messages.retained' = 0;
  'messages.dropped.queue_full' = 0;
  'messages.dropped.expired' = 0;
  'messages.dropped.too_large' = 0;
  'messages.dropped.qos0_offline' = 0;
  'messages.dropped.no_subscribers' = 0;
  'messages.dropped.not_authorized' = 0;
  'connections.accepted' = 0;
  'connections.rejected' = 0;
  'sessions.expired' = 0;
  'wills.published' = 0;
}

/** Largest delay setTimeout takes; longer ones are chained. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The broker's domain core: sessions, the router, retained messages and hooks. No sockets: protocol
 * connections call in (connect, publish, subscribe, disconnect) and are called back through `Outlet` and
 * `ClientHandle`. Several brokers can live in one process.
 */
export class Broker {
  readonly options: BrokerOptions;
  readonly hooks = new Hooks();
  readonly router = new Router();
  readonly retained: RetainedStore;
  readonly sessions = new Map<string, Session>();
  readonly clients = new Map<string, ClientHandle>();
  readonly stats = new Stats();
  readonly clock: Clock;
  private readonly observer: SessionObserver;
  private closed = false;

  constructor(options: BrokerOptions, clock: Clock = systemClock) {
    this.options = options;
    this.clock = clock;
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
    this.stats['messages.received']++;
    if (this.hooks.has('message.publish')) this.hooks.emit('message.publish', msg);
    if (msg.retain && this.options.retainAvailable) {
      if (this.retained.set(msg) === 'stored') this.stats['messages.retained']++;
    }
    const n = this.router.route(msg, deliverTo);
    if (n === 0) this.stats['messages.dropped.no_subscribers']++;
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
      session = new Session(
        clientId,
        expiryInterval,
        {
          maxQueued: this.options.maxQueuedMessages,
          queueQos0: this.options.queueQos0Messages,
          dropPolicy: this.options.queueDropPolicy,
        },
        this.observer,
        this.clock.now,
      );
      this.sessions.set(clientId, session);
      if (this.hooks.has('session.created')) this.hooks.emit('session.created', clientId);
    }
    session.expiryInterval = expiryInterval;
    return { session, present };
  }

  /**
   * A connection ended. `will` is the will to publish (undefined after a normal DISCONNECT). The session
   * ends now if its expiry interval is 0, else it stays until it expires; the will waits for its Will Delay
   * Interval or the end of the session, whichever comes first [MQTT-3.1.3-9].
   */
  closeConnection(session: Session, client: ClientHandle, will: Will | undefined): void {
    if (this.clients.get(session.clientId) === client) this.clients.delete(session.clientId);
    if (this.sessions.get(session.clientId) !== session) {
      // The session was already replaced (clean start takeover); only the will remains to publish.
      if (will !== undefined) this.publishWill(session.clientId, will);
      return;
    }
    session.detach(this.clock.now());
    const delay = will?.properties?.willDelayInterval ?? 0;
    if (will !== undefined && (delay === 0 || session.expiryInterval === 0)) {
      this.publishWill(session.clientId, will);
      will = undefined;
    }
    if (session.expiryInterval === 0 || this.closed) {
      if (this.closed) session.pendingWill = undefined;
      this.endSession(session, 'expired');
      return;
    }
    if (will !== undefined) {
      session.pendingWill = will;
      const ms = Math.min(delay, session.expiryInterval) * 1000;
      session.willTimer = this.after(ms, () => {
        session.willTimer = undefined;
        const w = session.pendingWill;
        session.pendingWill = undefined;
        if (w !== undefined) this.publishWill(session.clientId, w);
      });
    }
    if (session.expiryInterval !== NEVER_EXPIRES) {
      session.expiryTimer = this.after(session.expiryInterval * 1000, () => {
        session.expiryTimer = undefined;
        if (this.sessions.get(session.clientId) === session && !session.online) {
          this.stats['sessions.expired']++;
          this.endSession(session, 'expired');
        }
      });
    }
  }

  /** Ends a session: its subscriptions go, a pending will is published [MQTT-3.1.2-8]. */
  endSession(session: Session, reason: string): void {
    this.cancelTimers(session);
    for (const sub of session.subscriptions.values()) this.router.remove(session, sub);
    session.subscriptions.clear();
    session.queue.clear();
    session.inflight.clear();
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId);
    const w = session.pendingWill;
    session.pendingWill = undefined;
    if (w !== undefined) this.publishWill(session.clientId, w);
    if (this.hooks.has('session.terminated')) this.hooks.emit('session.terminated', session.clientId, reason);
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

  publishWill(clientId: string, will: Will): void {
    if (this.closed) return;
    this.stats['wills.published']++;
    this.publish(this.willMessage(clientId, will));
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
    const existed = session.subscriptions.has(sub.filter);
    session.subscriptions.set(sub.filter, sub);
    this.router.add(session, sub);
    if (this.hooks.has('session.subscribed'))
      this.hooks.emit('session.subscribed', session.clientId, sub.filter, sub.qos);
    return existed;
  }

  /** Removes a subscription. Returns false if there was none [MQTT-3.10.4-5]. */
  unsubscribe(session: Session, filter: string): boolean {
    const sub = session.subscriptions.get(filter);
    if (sub === undefined) return false;
    session.subscriptions.delete(filter);
    this.router.remove(session, sub);
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

  /** Stops the broker: every client is disconnected with Server shutting down (0x8B). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of [...this.clients.values()]) c.disconnect(0x8b, 'server shutting down');
    for (const s of this.sessions.values()) this.cancelTimers(s);
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

function deliverTo(session: Session, d: Delivery): void {
  session.deliver(d);
}
