import type { Broker, ClientHandle } from '../broker/broker.js';
import {
  type CodecError,
  encodedSize,
  type Packet,
  PacketType,
  type Properties,
  type ProtocolVersion,
  type PublishPacket,
  ReasonCode,
  reasonCodeName,
  type Will,
} from '../codec/index.js';
import type { ConnectionInfo } from '../core/client-info.js';
import type { Delivery, Outlet, Session } from '../session/session.js';
import { handlePuback, handlePubcomp, handlePubrec, handlePubrel } from './ack.js';
import { handleAuth } from './auth.js';
import { handleConnect } from './connect.js';
import { handleDisconnect } from './disconnect.js';
import { keepAliveSweeper } from './keepalive.js';
import type { ProtocolOptions } from './options.js';
import { handlePublish } from './publish.js';
import { type Conn, type ConnectionIO, type PendingAuth, State } from './state.js';
import { handleSubscribe, handleUnsubscribe } from './subscribe.js';

export type { ConnectionIO } from './state.js';

type Step = void | Promise<void>;

/**
 * One client connection's protocol state machine, sans I/O: packets in (`handle`), packets out through
 * `ConnectionIO.send`. The per-packet-family logic lives in connect.ts, publish.ts, subscribe.ts, ack.ts and
 * disconnect.ts. It is the session's `Outlet` while connected and the broker's `ClientHandle`.
 */
export class ProtocolConnection implements Outlet, ClientHandle, Conn {
  readonly broker: Broker;
  readonly io: ConnectionIO;
  readonly opts: ProtocolOptions;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly listener: string;
  readonly certCommonName: string | undefined;
  readonly usernameFromCert: boolean;
  state: State = State.AwaitingConnect;
  protocolVersion: ProtocolVersion = 4;
  clientId = '';
  username: string | undefined;
  session: Session | undefined;
  will: Will | undefined;
  keepAlive = 0;
  /** Clean Start (MQTT 5) / Clean Session (3.x) flag of the CONNECT. */
  cleanStart = false;
  /** MQTT 5 values the client announced in CONNECT. */
  clientReceiveMaximum = 65_535;
  clientMaxPacketSize = 0;
  clientTopicAliasMaximum = 0;
  requestProblemInformation = true;
  /** Session Expiry Interval the client set in CONNECT (to check DISCONNECT's change of it). */
  connectSessionExpiry = 0;
  /** Inbound topic aliases (MQTT 5). */
  aliases: Map<number, string> | undefined;
  /** Outbound topic aliases: topic → alias, up to the client's Topic Alias Maximum (MQTT 5). */
  outAliases: Map<string, number> | undefined;
  /** Acks waiting for durable storage, sent in order through one promise chain. */
  private ackChain: Promise<void> | undefined;
  private acksWaiting = 0;
  /** MQTT 5 enhanced authentication: the CONNECT's method, and the exchange in progress. */
  authMethod: string | undefined;
  auth: PendingAuth | undefined;
  /** Inbound QoS 1 publishes not yet acknowledged (while an asynchronous authorization runs). */
  pendingQos1 = 0;
  /** Why the connection ended, for logs and hooks. */
  closeReason = '';
  /** Whether the will is published when the connection ends (cleared by DISCONNECT 0x00). */
  publishWillOnClose = true;
  lastActivity: number;
  private writeTimer: ReturnType<typeof setTimeout> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  /** Packets that arrived while an asynchronous step was running, in order. */
  private backlog: Packet[] | undefined;

  constructor(broker: Broker, io: ConnectionIO, info: ConnectionInfo, opts: ProtocolOptions) {
    this.broker = broker;
    this.io = io;
    this.opts = opts;
    this.remoteAddress = info.remoteAddress;
    this.remotePort = info.remotePort;
    this.listener = info.listener;
    this.certCommonName = info.certCommonName;
    this.usernameFromCert = info.usernameFromCert === true;
    this.lastActivity = broker.clock.now();
    this.connectTimer = broker.clock.setTimeout(() => {
      this.connectTimer = undefined;
      if (this.state === State.AwaitingConnect || this.state === State.Connecting)
        this.abort('connect timeout');
    }, opts.connectTimeout * 1000);
  }

  get sendWindow(): number {
    return this.clientReceiveMaximum < this.opts.maxInflight
      ? this.clientReceiveMaximum
      : this.opts.maxInflight;
  }

  get congested(): boolean {
    return this.io.writableLength > this.opts.writeHighWaterMark;
  }

  get isV5(): boolean {
    return this.protocolVersion === 5;
  }

  /** Handles a batch of decoded packets in order. */
  handle(packets: Packet[]): void {
    this.lastActivity = this.broker.clock.now();
    for (let i = 0; i < packets.length; i++) {
      if (this.state === State.Closed) return;
      if (this.backlog !== undefined) {
        this.backlog.push(packets[i]!);
        continue;
      }
      const r = this.dispatch(packets[i]!);
      if (r !== undefined) this.wait(r);
    }
  }

  /** Runs an asynchronous step: later packets wait in order, reading pauses until it settles. */
  private wait(p: Promise<void>): void {
    this.backlog = [];
    this.io.pause();
    p.then(
      () => this.resumeBacklog(),
      (e: unknown) => {
        this.backlog = undefined;
        this.closeWith(
          ReasonCode.UnspecifiedError,
          `internal error: ${e instanceof Error ? e.message : String(e)}`,
        );
      },
    );
  }

  private resumeBacklog(): void {
    const list = this.backlog;
    this.backlog = undefined;
    if (this.state === State.Closed) return;
    this.io.resume();
    if (list !== undefined && list.length > 0) this.handle(list);
  }

  private dispatch(p: Packet): Step {
    if (this.state === State.AwaitingConnect) {
      if (p.type !== PacketType.Connect) {
        // The first packet from a client MUST be CONNECT [MQTT-3.1.0-1].
        return this.abort(`first packet was ${p.type} instead of CONNECT`);
      }
      return handleConnect(this, p);
    }
    if (this.state === State.Connecting) {
      // Before CONNACK only AUTH may come, to continue enhanced authentication (MQTT 5.0 §4.12).
      if (p.type === PacketType.Auth) return handleAuth(this, p);
      this.io.send({ type: PacketType.Connack, sessionPresent: false, reasonCode: ReasonCode.ProtocolError });
      return this.abort(`packet type ${p.type} before CONNACK`);
    }
    switch (p.type) {
      case PacketType.Publish:
        return handlePublish(this, p);
      case PacketType.Puback:
        return handlePuback(this, p);
      case PacketType.Pubrec:
        return handlePubrec(this, p);
      case PacketType.Pubrel:
        return handlePubrel(this, p);
      case PacketType.Pubcomp:
        return handlePubcomp(this, p);
      case PacketType.Subscribe:
        return handleSubscribe(this, p);
      case PacketType.Unsubscribe:
        return handleUnsubscribe(this, p);
      case PacketType.Pingreq:
        this.io.send({ type: PacketType.Pingresp });
        return;
      case PacketType.Disconnect:
        return handleDisconnect(this, p);
      case PacketType.Auth:
        return handleAuth(this, p);
      case PacketType.Connect:
        // A second CONNECT is a Protocol Error [MQTT-3.1.0-2].
        return this.closeWith(ReasonCode.ProtocolError, 'second CONNECT on one connection');
      default:
        // Packets only a server sends (CONNACK, SUBACK, …) are a Protocol Error from a client.
        return this.closeWith(ReasonCode.ProtocolError, `unexpected packet type ${p.type} from a client`);
    }
  }

  /** The decoder failed: answer as the spec asks, then close. */
  onCodecError(err: CodecError): void {
    if (this.state === State.Closed) return;
    if (this.state === State.AwaitingConnect) {
      if (err.reasonCode === ReasonCode.UnsupportedProtocolVersion) {
        // CONNACK 0x01 (3.x) / 0x84 (5.0), then close [MQTT-3.1.2-2].
        this.io.send({ type: PacketType.Connack, sessionPresent: false, reasonCode: err.reasonCode });
      }
      this.abort(err.message);
      return;
    }
    this.closeWith(err.reasonCode, err.message);
  }

  /**
   * Ends the connection from the server side: an MQTT 5 client gets DISCONNECT with `reasonCode` (and the
   * reason as Reason String if it did not refuse problem information) [MQTT-4.13.2-1].
   */
  closeWith(reasonCode: number, reason: string): void {
    if (this.state === State.Closed) return;
    if (this.state === State.Connected && this.isV5) {
      const props: Properties | undefined = this.requestProblemInformation
        ? { reasonString: reason }
        : undefined;
      this.io.send({ type: PacketType.Disconnect, reasonCode, properties: props });
    }
    this.closeReason = `${reasonCodeName(reasonCode)}: ${reason}`;
    this.finish();
    this.io.close();
  }

  /** Closes without sending anything (before CONNECT was accepted, or for MQTT 3.x). */
  abort(reason: string): void {
    if (this.state === State.Closed) return;
    this.closeReason = reason;
    this.finish();
    this.io.close();
  }

  /** ClientHandle: the broker takes this connection over or shuts it down. */
  disconnect(reasonCode: number, reason: string): void {
    if (reasonCode === ReasonCode.ServerShuttingDown) this.publishWillOnClose = false;
    this.closeWith(reasonCode, reason);
  }

  /** The transport closed (by either side). Idempotent. */
  onClose(reason?: string): void {
    if (this.state === State.Closed) return;
    this.closeReason = reason ?? 'connection closed';
    this.finish();
  }

  /** Leaves the session to the broker: will, expiry. Runs once, when the connection ends for any reason. */
  private finish(): void {
    const wasConnected = this.state === State.Connected;
    this.state = State.Closed;
    this.backlog = undefined;
    const clock = this.broker.clock;
    if (this.connectTimer !== undefined) clock.clearTimeout(this.connectTimer);
    if (wasConnected && this.keepAlive > 0) keepAliveSweeper(this.broker).unwatch(this);
    if (this.writeTimer !== undefined) clock.clearTimeout(this.writeTimer);
    this.writeTimer = undefined;
    this.connectTimer = undefined;
    const session = this.session;
    if (session !== undefined) {
      this.session = undefined;
      if (session.outlet === this) session.outlet = undefined;
      this.broker.closeConnection(session, this, this.publishWillOnClose ? this.will : undefined, this);
    }
    if (wasConnected && this.broker.hooks.has('client.disconnected')) {
      this.broker.hooks.emit('client.disconnected', this, this.closeReason);
    }
  }

  /**
   * The CONNECT was accepted (CONNACK sent): the connect timeout ends, and keep-alive supervision starts
   * (1.5 × Keep Alive without a packet closes the connection [MQTT-3.1.2-24]) through the broker's shared
   * sweeper, not a timer per connection.
   */
  accepted(): void {
    if (this.connectTimer !== undefined) this.broker.clock.clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    if (this.keepAlive > 0 && this.state === State.Connected) keepAliveSweeper(this.broker).watch(this);
  }

  /** The keep-alive sweeper found this connection silent for too long. */
  keepAliveExpired(idleMs: number): void {
    if (this.state !== State.Connected) return;
    this.closeWith(
      ReasonCode.KeepAliveTimeout,
      `no packet for ${idleMs} ms (keep alive ${this.keepAlive} s)`,
    );
  }

  /** Outlet: sends one delivery as a PUBLISH. False if it exceeds the client's Maximum Packet Size. */
  sendPublish(d: Delivery, packetId: number, dup: boolean): boolean {
    const msg = d.msg;
    const read = this.broker.hooks.readFilter;
    if (read !== undefined && !read(this, msg)) return false; // not readable by this client: dropped
    const pkt: PublishPacket = {
      type: PacketType.Publish,
      topic: msg.topic,
      payload: msg.payload,
      qos: d.qos,
      retain: d.retain,
      dup,
      packetId: d.qos > 0 ? packetId : undefined,
      properties: undefined,
    };
    if (this.isV5) {
      let props = msg.properties;
      const expiry = msg.expiresAt !== 0;
      let alias = 0;
      let fresh = false;
      if (this.clientTopicAliasMaximum > 0) {
        // Topic Alias towards the client, within its Topic Alias Maximum [MQTT-3.3.2-8]: the first PUBLISH
        // of a topic carries topic and alias, later ones only the alias. When all are in use, no alias.
        const aliases = (this.outAliases ??= new Map());
        alias = aliases.get(msg.topic) ?? 0;
        if (alias !== 0) pkt.topic = '';
        else if (aliases.size < this.clientTopicAliasMaximum) {
          alias = aliases.size + 1;
          aliases.set(msg.topic, alias);
          fresh = true;
        }
      }
      if (expiry || d.subscriptionIds !== undefined || alias !== 0) {
        props = props === undefined ? {} : { ...props };
        if (expiry) {
          props.messageExpiryInterval = Math.max(
            1,
            Math.ceil((msg.expiresAt - this.broker.clock.now()) / 1000),
          );
        }
        if (d.subscriptionIds !== undefined) props.subscriptionIdentifiers = d.subscriptionIds;
        if (alias !== 0) props.topicAlias = alias;
      }
      pkt.properties = props;
      // Never send more than the client accepts [MQTT-3.1.2-24].
      if (this.clientMaxPacketSize > 0 && encodedSize(pkt, 5) > this.clientMaxPacketSize) {
        if (fresh) this.outAliases!.delete(msg.topic); // the client never learnt this alias
        return false;
      }
    }
    this.io.send(pkt);
    if (this.writeTimer === undefined && this.opts.writeTimeout > 0 && this.congested) this.startWriteTimer();
    return true;
  }

  /**
   * Sends a PUBACK / PUBREC for an inbound PUBLISH. With `durability: sync` it waits until what the PUBLISH
   * wrote is durable (a message Petrel acknowledged is never lost); acks leave in the order their PUBLISHes
   * came [MQTT-4.6.0-2], so one waiting ack holds back later ones.
   */
  sendAck(p: Packet): void {
    const persistence = this.broker.persistence;
    const wait = persistence?.mustWait === true;
    if (!wait && this.acksWaiting === 0) {
      this.io.send(p);
      return;
    }
    // The flush promise is taken now, so it covers this PUBLISH's writes; the chain keeps acks in order.
    const durable = wait ? persistence?.store.flush() : undefined;
    this.acksWaiting++;
    this.ackChain = (this.ackChain ?? Promise.resolve())
      .then(() => durable)
      .then(
        () => {
          this.acksWaiting--;
          if (this.state !== State.Closed) this.io.send(p);
        },
        (e: unknown) => {
          this.acksWaiting--;
          this.closeWith(
            ReasonCode.UnspecifiedError,
            `storage failed: ${e instanceof Error ? e.message : String(e)}`,
          );
        },
      );
  }

  sendPubrel(packetId: number): void {
    this.io.send({ type: PacketType.Pubrel, packetId, reasonCode: 0 });
  }

  /** Called by the transport when its write buffer drained: resume queued deliveries. */
  onDrain(): void {
    if (this.writeTimer !== undefined && !this.congested) {
      this.broker.clock.clearTimeout(this.writeTimer);
      this.writeTimer = undefined;
    }
    if (this.state === State.Connected && this.session !== undefined) this.session.pump();
  }

  /**
   * A consumer that stops reading: its socket buffer stays over the high-water mark. If it has not drained
   * within `write_timeout` seconds the connection is closed (its will is published, its session keeps the
   * rest queued, bounded): a frozen client never holds broker memory without bound.
   */
  private startWriteTimer(): void {
    this.writeTimer = this.broker.clock.setTimeout(() => {
      this.writeTimer = undefined;
      if (this.state === State.Closed) return;
      if (!this.congested) return;
      this.closeReason = `write timeout: ${this.io.writableLength} bytes unread for ${this.opts.writeTimeout} s`;
      this.finish();
      this.io.destroy();
    }, this.opts.writeTimeout * 1000);
  }

  /** Reason String for a v5 ack, only when the client did not refuse problem information [MQTT-3.1.2-29]. */
  reasonProps(reason: string): Properties | undefined {
    return this.isV5 && this.requestProblemInformation ? { reasonString: reason } : undefined;
  }
}
