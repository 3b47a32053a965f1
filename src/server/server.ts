import { installSecurity, type Security } from '../auth/index.js';
import { Broker } from '../broker/broker.js';
import { defaultConfig, type PetrelConfig } from '../config/index.js';
import { type Clock, systemClock } from '../core/clock.js';
import type { HttpAddress, MetricsHttpServer } from '../metrics/http-server.js';
import type { ProtocolOptions } from '../protocol/options.js';
import { SysPublisher } from '../sys/sys-publisher.js';
import { Listener } from '../transport/listener.js';
import { createLogger, type Logger } from './logger.js';

export interface ListenerAddress {
  name: string;
  type: string;
  host: string;
  port: number;
}

export interface ServerOptions {
  logger?: Logger;
  clock?: Clock;
}

/** Maps the `mqtt` config section to the protocol layer's options. */
export function protocolOptions(c: PetrelConfig): ProtocolOptions {
  const m = c.mqtt;
  return {
    maxPacketSize: m.max_packet_size,
    maxKeepalive: m.max_keepalive,
    receiveMaximum: m.receive_maximum,
    maxInflight: m.max_inflight,
    topicAliasMaximum: m.topic_alias_maximum,
    maxSessionExpiry: m.max_session_expiry,
    maxTopicLevels: m.max_topic_levels,
    maxTopicLength: m.max_topic_length,
    maxClientIdLength: m.max_client_id_length,
    connectTimeout: m.connect_timeout,
    maximumQos: m.maximum_qos,
    retainAvailable: m.retain_available,
    wildcardSubscriptionAvailable: m.wildcard_subscription_available,
    subscriptionIdentifierAvailable: m.subscription_identifier_available,
    sharedSubscriptionAvailable: m.shared_subscription_available,
    responseInformation: m.response_information,
    writeHighWaterMark: m.write_buffer_limit,
    writeTimeout: m.write_timeout,
  };
}

/**
 * The composition root: config → broker + listeners (src/transport: tcp, tls, ws, wss, PROXY protocol).
 * `close()` stops accepting, disconnects clients (MQTT 5: DISCONNECT 0x8B) and waits for sockets to close.
 */
export class PetrelServer {
  readonly config: PetrelConfig;
  readonly broker: Broker;
  readonly logger: Logger;
  /** `$SYS` topics and client events (undefined when `sys_interval` is 0). */
  readonly sys: SysPublisher | undefined;
  /** The HTTP listener, made by `listen()` (its modules, Fastify and prom-client, load only when it is on). */
  private http: MetricsHttpServer | undefined;
  /** Authentication, ACL, limits and bans (src/auth); `security.reload()` re-reads password and acl files. */
  readonly security: Security;
  private readonly popts: ProtocolOptions;
  private readonly listening: Listener[] = [];
  private closing: Promise<void> | undefined;

  constructor(config: PetrelConfig = defaultConfig(), opts: ServerOptions = {}) {
    this.config = config;
    this.logger = opts.logger ?? createLogger(config.log.level);
    const m = config.mqtt;
    this.broker = new Broker(
      {
        maxQueuedMessages: m.max_queued_messages,
        maxQueuedBytes: m.max_queued_bytes,
        queueQos0Messages: m.queue_qos0_messages,
        queueDropPolicy: m.queue_drop_policy,
        retainAvailable: m.retain_available,
        maxRetainedMessages: m.max_retained_messages,
        maxRetainedPayload: m.max_retained_payload,
        sharedStrategy: m.shared_subscription_strategy,
        sharedGroups: m.shared_subscription_groups,
      },
      opts.clock ?? systemClock,
    );
    this.popts = protocolOptions(config);
    this.security = installSecurity(this.broker.hooks, config, this.logger);
    if (config.sys_interval > 0) this.sys = new SysPublisher(this.broker, { interval: config.sys_interval });
    const log = this.logger;
    this.broker.hooks.onError = (hook, err) => log.warn({ hook, err }, 'hook_failed');
    if (log.isLevelEnabled('debug')) {
      this.broker.hooks.on('client.connected', (c, present) =>
        log.debug(
          { clientId: c.clientId, remote: `${c.remoteAddress}:${c.remotePort}`, sessionPresent: present },
          'client_connected',
        ),
      );
      this.broker.hooks.on('client.disconnected', (c, reason) =>
        log.debug({ clientId: c.clientId, reason }, 'client_disconnected'),
      );
    }
  }

  /** Opens every configured listener; resolves when all are bound. */
  async listen(): Promise<ListenerAddress[]> {
    await this.openStorage();
    if (this.config.http !== null) {
      // Loaded only when the HTTP listener is on (Fastify and prom-client are most of a broker's start-up).
      const { MetricsHttpServer } = await import('../metrics/http-server.js');
      this.http = new MetricsHttpServer(this.broker);
    }
    for (let i = 0; i < this.config.listeners.length; i++) {
      const cfg = this.config.listeners[i]!;
      const l = new Listener(cfg, { broker: this.broker, opts: this.popts, logger: this.logger });
      await l.listen();
      l.server.on('error', (err) => this.logger.error({ err, listener: l.name }, 'listener_error'));
      this.listening.push(l);
    }
    const addrs = this.addresses();
    for (const a of addrs)
      this.logger.info(
        { listener: a.name, host: a.host, port: a.port },
        `listening on ${a.type} ${a.host}:${a.port}`,
      );
    if (this.http !== undefined && this.config.http !== null) {
      let h: HttpAddress;
      try {
        h = await this.http.listen(this.config.http.host, this.config.http.port);
      } catch (e) {
        await this.close(); // the MQTT listeners opened above must not stay open
        throw e;
      }
      this.logger.info(
        { listener: 'http', host: h.host, port: h.port },
        `metrics on http://${h.host}:${h.port}/metrics`,
      );
    }
    this.sys?.start();
    return addrs;
  }

  /** The bound address of the HTTP (metrics) listener, or undefined when it is off or not started. */
  httpAddress(): HttpAddress | undefined {
    return this.http?.address();
  }

  /** Opens the configured store and restores sessions and retained messages from it (before any listener). */
  private async openStorage(): Promise<void> {
    const st = this.config.storage;
    if (st.type !== 'embedded' || this.broker.persistence !== undefined) return;
    const { LmdbStore } = await import('../persistence/lmdb-store.js');
    const store = new LmdbStore({ dir: st.dir, durability: st.durability, batchMs: st.batch_ms });
    await this.broker.attachStore(store, st.durability, st.memory_queue);
    this.logger.info(
      {
        dir: st.dir,
        durability: st.durability,
        sessions: this.broker.sessions.size,
        retained: this.broker.retained.size,
      },
      'storage_opened',
    );
  }

  /** The bound addresses (the real port when the config said 0). */
  addresses(): ListenerAddress[] {
    return this.listening.map((l) => ({ name: l.name, type: l.cfg.type, host: l.cfg.host, port: l.port }));
  }

  /**
   * Re-reads the certificate, key and CA files of every tls / wss listener (the CLI calls it on SIGHUP).
   * New handshakes use the new files; open connections are not touched. Throws if a file cannot be read
   * (the listener keeps its previous certificates).
   */
  reloadTls(): number {
    let n = 0;
    for (const l of this.listening) if (l.reloadTls()) n++;
    if (n > 0) this.logger.info({ listeners: n }, 'tls_reloaded');
    return n;
  }

  /** Graceful stop. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    const closed = this.listening.map((l) => l.close());
    this.sys?.stop();
    this.security.close();
    const httpClosed = this.http?.close();
    const brokerClosed = this.broker.close();
    const sockets = this.listening.flatMap((l) => [...l.sockets]);
    await Promise.race([
      Promise.all(
        sockets.map((s) => (s.destroyed ? undefined : new Promise<void>((r) => s.once('close', () => r())))),
      ),
      new Promise<void>((r) => setTimeout(r, 2000).unref()),
    ]);
    for (const s of sockets) s.destroy();
    await Promise.all(closed);
    await brokerClosed;
    await httpClosed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
