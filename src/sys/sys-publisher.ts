import { hostname } from 'node:os';
import type { Broker } from '../broker/broker.js';
import type { ClientInfo } from '../core/client-info.js';
import type { Message } from '../core/message.js';
import { PETREL_VERSION } from '../core/version.js';

export interface SysOptions {
  /** Seconds between `$SYS/broker/…` updates; 0 turns `$SYS` (and client events) off. */
  interval: number;
  /** Node name in client event topics (`$SYS/brokers/{node}/clients/…`); default `petrel@<hostname>`. */
  node?: string;
}

/** Load averages as Mosquitto computes them: per-minute rates, exponentially decayed over 1, 5, 15 min. */
const LOAD_PERIODS = [
  ['1min', 60],
  ['5min', 300],
  ['15min', 900],
] as const;

interface LoadSeries {
  topic: string;
  read: () => number;
  last: number;
  values: number[];
}

/**
 * Publishes the broker's `$SYS` tree and client lifecycle events.
 *
 * - Every `interval` seconds, retained messages under `$SYS/broker/…` named as Mosquitto names them
 *   (version, uptime, clients, messages, bytes, subscriptions, retained count, load, heap). Only values that
 *   changed since the last round are published; `version` once at start.
 * - On each connect / disconnect, an EMQX-style event (QoS 0, not retained) on
 *   `$SYS/brokers/{node}/clients/{clientid}/connected` or `…/disconnected` with a JSON payload.
 *
 * Messages come from the broker itself (`from: ''`) through `broker.publish`, so subscribers get them the
 * usual way; `#` and `+` never match them [MQTT-4.7.2-1].
 */
export class SysPublisher {
  readonly node: string;
  readonly interval: number;
  private readonly broker: Broker;
  private readonly startedAt: number;
  private readonly last = new Map<string, string>();
  private readonly load: LoadSeries[];
  private readonly connectedAt = new WeakMap<ClientInfo, number>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastRound: number;
  private maxClients = 0;
  private maxHeap = 0;
  private unhook: (() => void)[] = [];
  private running = false;

  constructor(broker: Broker, opts: SysOptions) {
    this.broker = broker;
    this.interval = opts.interval;
    this.node = opts.node ?? `petrel@${hostname()}`;
    this.startedAt = this.lastRound = broker.clock.now();
    const s = broker.stats;
    const sum = (a: Float64Array): number => {
      let n = 0;
      for (let i = 0; i < a.length; i++) n += a[i]!;
      return n;
    };
    const series: [string, () => number][] = [
      ['messages/received', () => sum(s.packetsReceived)],
      ['messages/sent', () => sum(s.packetsSent)],
      ['publish/received', () => sum(s.publishReceived)],
      ['publish/sent', () => sum(s.publishSent)],
      ['bytes/received', () => s['bytes.received']],
      ['bytes/sent', () => s['bytes.sent']],
      ['connections', () => s['connections.accepted']],
    ];
    this.load = series.map(([name, read]) => ({
      topic: `$SYS/broker/load/${name}`,
      read,
      last: read(),
      values: [0, 0, 0],
    }));
  }

  /** Publishes the first round now, then one every `interval` seconds; subscribes to client events. */
  start(): void {
    if (this.running || this.interval <= 0) return;
    this.running = true;
    const hooks = this.broker.hooks;
    this.unhook.push(
      hooks.on('client.connected', (c, present) => this.clientConnected(c, present)),
      hooks.on('client.disconnected', (c, reason) => this.clientDisconnected(c, reason)),
    );
    this.publish('$SYS/broker/version', `petrel version ${PETREL_VERSION}`);
    this.round();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) this.broker.clock.clearTimeout(this.timer);
    this.timer = undefined;
    for (const off of this.unhook) off();
    this.unhook = [];
  }

  /** One round: publishes every value that changed, then schedules the next round. */
  round(): void {
    if (this.timer !== undefined) this.broker.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.running || this.broker.isClosed) return;
    const b = this.broker;
    const s = b.stats;
    const now = b.clock.now();

    const connected = b.clients.size;
    let online = 0;
    let subscriptions = 0;
    for (const session of b.sessions.values()) {
      if (session.online) online++;
      subscriptions += session.subscriptions.size;
    }
    const disconnected = b.sessions.size - online;
    if (connected > this.maxClients) this.maxClients = connected;
    const mem = process.memoryUsage();
    if (mem.heapUsed > this.maxHeap) this.maxHeap = mem.heapUsed;
    let packetsIn = 0;
    let packetsOut = 0;
    for (let i = 0; i < 16; i++) {
      packetsIn += s.packetsReceived[i]!;
      packetsOut += s.packetsSent[i]!;
    }
    const publishIn = s.publishReceived[0]! + s.publishReceived[1]! + s.publishReceived[2]!;
    const publishOut = s.publishSent[0]! + s.publishSent[1]! + s.publishSent[2]!;
    const dropped =
      s['messages.dropped.queue_full'] +
      s['messages.dropped.expired'] +
      s['messages.dropped.too_large'] +
      s['messages.dropped.qos0_offline'];

    const p = (topic: string, v: number | string): void => this.publish(`$SYS/broker/${topic}`, String(v));
    p('uptime', `${Math.floor((now - this.startedAt) / 1000)} seconds`);
    p('clients/connected', connected);
    p('clients/disconnected', disconnected);
    p('clients/total', connected + disconnected);
    p('clients/maximum', this.maxClients);
    p('clients/expired', s['sessions.expired']);
    p('messages/received', packetsIn);
    p('messages/sent', packetsOut);
    p('publish/messages/received', publishIn);
    p('publish/messages/sent', publishOut);
    p('publish/messages/dropped', dropped);
    p('bytes/received', s['bytes.received']);
    p('bytes/sent', s['bytes.sent']);
    p('subscriptions/count', subscriptions);
    p('retained messages/count', b.retained.size);
    p('heap/current', mem.heapUsed);
    p('heap/maximum', this.maxHeap);
    p('memory/rss', mem.rss);

    // Load: the rate over the last interval, per minute, folded into 1/5/15-minute moving averages.
    const elapsed = (now - this.lastRound) / 1000;
    this.lastRound = now;
    for (const l of this.load) {
      const v = l.read();
      if (elapsed > 0) {
        const rate = ((v - l.last) * 60) / elapsed;
        for (let i = 0; i < LOAD_PERIODS.length; i++) {
          const k = Math.exp(-elapsed / LOAD_PERIODS[i]![1]);
          l.values[i] = rate + k * (l.values[i]! - rate);
        }
      }
      l.last = v;
      for (let i = 0; i < LOAD_PERIODS.length; i++)
        this.publish(`${l.topic}/${LOAD_PERIODS[i]![0]}`, l.values[i]!.toFixed(2));
    }

    this.timer = b.clock.setTimeout(() => this.round(), this.interval * 1000);
  }

  /** Publishes a retained `$SYS` value if it changed since it was last published. */
  private publish(topic: string, value: string): void {
    if (this.last.get(topic) === value) return;
    this.last.set(topic, value);
    this.emit(topic, Buffer.from(value), true);
  }

  private emit(topic: string, payload: Buffer, retain: boolean): void {
    if (this.broker.isClosed) return;
    const now = this.broker.clock.now();
    const msg: Message = {
      topic,
      payload,
      qos: 0,
      retain,
      properties: undefined,
      expiresAt: 0,
      from: '',
      receivedAt: now,
    };
    this.broker.publish(msg);
  }

  private eventTopic(clientId: string, event: string): string {
    return `$SYS/brokers/${escapeLevel(this.node)}/clients/${escapeLevel(clientId)}/${event}`;
  }

  private clientConnected(c: ClientInfo, sessionPresent: boolean): void {
    const now = this.broker.clock.now();
    this.connectedAt.set(c, now);
    if (this.broker.clients.size > this.maxClients) this.maxClients = this.broker.clients.size;
    const event = {
      ...clientFields(c),
      keepalive: c.keepAlive ?? 0,
      clean_start: c.cleanStart ?? true,
      session_present: sessionPresent,
      connected_at: now,
      ts: now,
    };
    this.emit(this.eventTopic(c.clientId, 'connected'), Buffer.from(JSON.stringify(event)), false);
  }

  private clientDisconnected(c: ClientInfo, reason: string): void {
    const now = this.broker.clock.now();
    const event = {
      ...clientFields(c),
      reason,
      connected_at: this.connectedAt.get(c) ?? null,
      disconnected_at: now,
      ts: now,
    };
    this.emit(this.eventTopic(c.clientId, 'disconnected'), Buffer.from(JSON.stringify(event)), false);
  }
}

/**
 * A client id as one topic level: `/`, `+`, `#` and `%` are percent-encoded so that the id stays one level
 * and the topic stays a valid topic name (client ids may hold any UTF-8 character).
 */
export function escapeLevel(s: string): string {
  return /[/+#%\0]/.test(s)
    ? s.replace(/[/+#%\0]/g, (ch) => `%${ch.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`)
    : s;
}

/** The fields EMQX puts in both client events. */
function clientFields(c: ClientInfo) {
  return {
    clientid: c.clientId,
    username: c.username ?? null,
    ipaddress: c.remoteAddress,
    port: c.remotePort,
    listener: c.listener,
    proto_name: c.protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
    proto_ver: c.protocolVersion,
  };
}
