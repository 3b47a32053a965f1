import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Broker } from '../broker/broker.js';
import { PETREL_VERSION } from '../core/version.js';

/** Packet type names by MQTT packet type number (labels of the packet counters). */
const PACKET_NAMES = [
  '',
  'connect',
  'connack',
  'publish',
  'puback',
  'pubrec',
  'pubrel',
  'pubcomp',
  'subscribe',
  'suback',
  'unsubscribe',
  'unsuback',
  'pingreq',
  'pingresp',
  'disconnect',
  'auth',
] as const;

const DROP_REASONS = [
  'queue_full',
  'expired',
  'too_large',
  'qos0_offline',
  'no_subscribers',
  'not_authorized',
] as const;

/** CONNACK reason codes that mean "authentication failed": 0x86, 0x87, 0x8C. */
const AUTH_FAILURE_CODES = new Set([0x86, 0x87, 0x8c]);

/**
 * The broker's Prometheus metrics, in a registry of its own (several brokers can live in one process).
 * Nothing is counted here on the hot path: the transport and the broker bump plain counters in
 * `Broker.stats`, and the collectors below read them when `/metrics` is scraped.
 */
export class BrokerMetrics {
  readonly registry = new Registry();
  private readonly broker: Broker;
  private readonly startedAt: number;
  private readonly loopDelay: IntervalHistogram;
  private authFailures = 0;
  private readonly unhook: () => void;

  constructor(broker: Broker) {
    this.broker = broker;
    this.startedAt = Date.now();
    this.loopDelay = monitorEventLoopDelay({ resolution: 20 });
    this.unhook = broker.hooks.on('client.connack', (info) => {
      if (AUTH_FAILURE_CODES.has(info.reasonCode)) this.authFailures++;
    });
    const s = broker.stats;
    const registers = [this.registry];

    /** A counter whose value is read from `read()` on each scrape. */
    const counter = (name: string, help: string, read: () => number): void => {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    };
    /** A labelled counter: one series per label value. */
    const labelled = <L extends string>(
      name: string,
      help: string,
      label: L,
      values: readonly string[],
      read: (i: number) => number,
    ): void => {
      new Counter<L>({
        name,
        help,
        labelNames: [label],
        registers,
        collect() {
          this.reset();
          for (let i = 0; i < values.length; i++) {
            if (values[i] === '') continue;
            this.inc({ [label]: values[i]! } as Record<L, string>, read(i));
          }
        },
      });
    };
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    };

    new Gauge({
      name: 'petrel_build_info',
      help: 'Petrel version (always 1).',
      labelNames: ['version'],
      registers,
      collect() {
        this.set({ version: PETREL_VERSION }, 1);
      },
    });
    gauge(
      'petrel_uptime_seconds',
      'Seconds since the broker started.',
      () => (Date.now() - this.startedAt) / 1000,
    );
    gauge('petrel_connections', 'Clients connected now.', () => broker.clients.size);
    counter(
      'petrel_connections_accepted_total',
      'Connections accepted (CONNACK 0x00).',
      () => s['connections.accepted'],
    );
    counter(
      'petrel_connections_rejected_total',
      'Connections refused at CONNECT.',
      () => s['connections.rejected'],
    );
    counter(
      'petrel_auth_failures_total',
      'Connections refused by authentication (0x86, 0x87, 0x8C).',
      () => this.authFailures,
    );
    new Gauge({
      name: 'petrel_sessions',
      help: 'Sessions, online (with a connection) and offline (persistent, waiting).',
      labelNames: ['state'],
      registers,
      collect() {
        let online = 0;
        for (const session of broker.sessions.values()) if (session.online) online++;
        this.set({ state: 'online' }, online);
        this.set({ state: 'offline' }, broker.sessions.size - online);
      },
    });
    counter(
      'petrel_sessions_expired_total',
      'Sessions ended by their expiry interval.',
      () => s['sessions.expired'],
    );
    gauge('petrel_subscriptions', 'Subscriptions of all sessions.', () => {
      let n = 0;
      for (const session of broker.sessions.values()) n += session.subscriptions.size;
      return n;
    });
    gauge('petrel_retained_messages', 'Retained messages stored.', () => broker.retained.size);
    const qos = ['0', '1', '2'];
    labelled(
      'petrel_messages_received_total',
      'PUBLISH packets received from clients, by QoS.',
      'qos',
      qos,
      (i) => s.publishReceived[i]!,
    );
    labelled(
      'petrel_messages_sent_total',
      'PUBLISH packets sent to clients, by QoS.',
      'qos',
      qos,
      (i) => s.publishSent[i]!,
    );
    counter(
      'petrel_messages_acked_total',
      'QoS 1/2 deliveries acknowledged by subscribers.',
      () => s['messages.acked'],
    );
    counter(
      'petrel_messages_retained_total',
      'Retained messages stored (set or replaced).',
      () => s['messages.retained'],
    );
    counter('petrel_wills_published_total', 'Will messages published.', () => s['wills.published']);
    labelled(
      'petrel_messages_dropped_total',
      'Messages dropped, by reason.',
      'reason',
      DROP_REASONS,
      (i) => s[`messages.dropped.${DROP_REASONS[i]!}`],
    );
    counter('petrel_bytes_received_total', 'Bytes read from client connections.', () => s['bytes.received']);
    counter('petrel_bytes_sent_total', 'Bytes written to client connections.', () => s['bytes.sent']);
    labelled(
      'petrel_packets_received_total',
      'MQTT packets received, by type.',
      'type',
      PACKET_NAMES,
      (i) => s.packetsReceived[i]!,
    );
    labelled(
      'petrel_packets_sent_total',
      'MQTT packets sent, by type.',
      'type',
      PACKET_NAMES,
      (i) => s.packetsSent[i]!,
    );

    const loop = this.loopDelay;
    new Gauge({
      name: 'petrel_eventloop_delay_seconds',
      help: 'Event-loop delay since the previous scrape (min, mean, p50, p90, p99, max).',
      labelNames: ['stat'],
      registers,
      collect() {
        const ns = 1e9;
        const has = loop.count > 0;
        this.set({ stat: 'min' }, has ? loop.min / ns : 0);
        this.set({ stat: 'mean' }, has ? loop.mean / ns : 0);
        this.set({ stat: 'p50' }, has ? loop.percentile(50) / ns : 0);
        this.set({ stat: 'p90' }, has ? loop.percentile(90) / ns : 0);
        this.set({ stat: 'p99' }, has ? loop.percentile(99) / ns : 0);
        this.set({ stat: 'max' }, has ? loop.max / ns : 0);
        loop.reset();
      },
    });
    new Gauge({
      name: 'petrel_memory_bytes',
      help: 'Process memory (rss, heap_used, heap_total, external, array_buffers).',
      labelNames: ['type'],
      registers,
      collect() {
        const m = process.memoryUsage();
        this.set({ type: 'rss' }, m.rss);
        this.set({ type: 'heap_used' }, m.heapUsed);
        this.set({ type: 'heap_total' }, m.heapTotal);
        this.set({ type: 'external' }, m.external);
        this.set({ type: 'array_buffers' }, m.arrayBuffers);
      },
    });
  }

  /** Starts the event-loop delay monitor. */
  start(): void {
    this.loopDelay.enable();
  }

  stop(): void {
    this.loopDelay.disable();
    this.unhook();
  }

  /** The metrics in Prometheus text format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  get brokerClosed(): boolean {
    return this.broker.isClosed;
  }
}
