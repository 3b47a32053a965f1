import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { Broker, type Clock, systemClock } from '../broker/broker.js';
import { defaultConfig, type ListenerConfig, type PetrelConfig } from '../config/index.js';
import type { ProtocolOptions } from '../protocol/options.js';
import { createLogger, type Logger } from './logger.js';
import { SocketConnection } from './socket-connection.js';

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
    maxClientIdLength: m.max_client_id_length,
    connectTimeout: m.connect_timeout,
    maximumQos: m.maximum_qos,
    retainAvailable: m.retain_available,
    wildcardSubscriptionAvailable: m.wildcard_subscription_available,
    subscriptionIdentifierAvailable: m.subscription_identifier_available,
    // Shared subscriptions are routed by the shared-subscription work; until then they are refused (0x9E).
    sharedSubscriptionAvailable: false,
    responseInformation: m.response_information,
    writeHighWaterMark: 1_048_576,
  };
}

interface Listening {
  cfg: ListenerConfig;
  name: string;
  server: NetServer;
  sockets: Set<Socket>;
}

/**
 * The composition root: config → broker + listeners. Each accepted stream gets a SocketConnection.
 * `close()` stops accepting, disconnects clients (MQTT 5: DISCONNECT 0x8B) and waits for sockets to close.
 */
export class PetrelServer {
  readonly config: PetrelConfig;
  readonly broker: Broker;
  readonly logger: Logger;
  private readonly popts: ProtocolOptions;
  private readonly listening: Listening[] = [];
  private closing: Promise<void> | undefined;

  constructor(config: PetrelConfig = defaultConfig(), opts: ServerOptions = {}) {
    this.config = config;
    this.logger = opts.logger ?? createLogger(config.log.level);
    const m = config.mqtt;
    this.broker = new Broker(
      {
        maxQueuedMessages: m.max_queued_messages,
        queueQos0Messages: m.queue_qos0_messages,
        queueDropPolicy: m.queue_drop_policy,
        retainAvailable: m.retain_available,
        maxRetainedMessages: m.max_retained_messages,
        maxRetainedPayload: m.max_retained_payload,
      },
      opts.clock ?? systemClock,
    );
    this.popts = protocolOptions(config);
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
    for (let i = 0; i < this.config.listeners.length; i++) {
      const cfg = this.config.listeners[i]!;
      const name = cfg.name ?? `${cfg.type}:${cfg.port}`;
      const l: Listening = { cfg, name, server: createServer(), sockets: new Set() };
      l.server.on('connection', (s) => this.accept(l, s));
      await new Promise<void>((resolve, reject) => {
        l.server.once('error', reject);
        l.server.listen({ host: cfg.host, port: cfg.port }, () => {
          l.server.off('error', reject);
          resolve();
        });
      });
      l.server.on('error', (err) => this.logger.error({ err, listener: name }, 'listener_error'));
      this.listening.push(l);
    }
    const addrs = this.addresses();
    for (const a of addrs)
      this.logger.info(
        { listener: a.name, host: a.host, port: a.port },
        `listening on ${a.type} ${a.host}:${a.port}`,
      );
    return addrs;
  }

  /** The bound addresses (the real port when the config said 0). */
  addresses(): ListenerAddress[] {
    return this.listening.map((l) => {
      const a = l.server.address();
      const port = a !== null && typeof a === 'object' ? a.port : l.cfg.port;
      return { name: l.name, type: l.cfg.type, host: l.cfg.host, port };
    });
  }

  private accept(l: Listening, socket: Socket): void {
    const max = l.cfg.max_connections;
    if (max > 0 && l.sockets.size >= max) {
      socket.destroy();
      return;
    }
    l.sockets.add(socket);
    socket.on('close', () => l.sockets.delete(socket));
    socket.on('error', () => {});
    new SocketConnection(
      socket,
      this.broker,
      { remoteAddress: socket.remoteAddress ?? '', remotePort: socket.remotePort ?? 0, listener: l.name },
      this.popts,
    );
  }

  /** Graceful stop. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    const closed = this.listening.map((l) => new Promise<void>((r) => l.server.close(() => r())));
    this.broker.close();
    const sockets = this.listening.flatMap((l) => [...l.sockets]);
    await Promise.race([
      Promise.all(
        sockets.map((s) => (s.destroyed ? undefined : new Promise<void>((r) => s.once('close', () => r())))),
      ),
      new Promise<void>((r) => setTimeout(r, 2000).unref()),
    ]);
    for (const s of sockets) s.destroy();
    await Promise.all(closed);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
