import type { Duplex } from 'node:stream';
import {
  type ConnackPacket,
  type ConnectPacket,
  connackV3ToReason,
  Decoder,
  type DisconnectPacket,
  encode,
  type Packet,
  PacketType,
  type Properties,
  type ProtocolVersion,
  type PublishPacket,
  type QoS,
  reasonCodeName,
  type Subscription,
  type Will,
} from '../codec/index.js';
import { type Endpoint, openTransport, type TlsOptions, whenDrained, where } from './transport.js';

export interface ConnectOptions extends Endpoint {
  version: ProtocolVersion;
  clientId: string;
  /** Clean Session (3.x) / Clean Start (5). Default true. */
  clean?: boolean;
  /** Seconds; 0 = no keep alive. Default 60. */
  keepAlive?: number;
  username?: string;
  password?: Buffer;
  will?: Will;
  /** MQTT 5 CONNECT properties. */
  properties?: Properties;
  tls?: TlsOptions;
  /** Milliseconds to wait for the connection and CONNACK. Default 10,000. */
  timeoutMs?: number;
}

/** Why a connection attempt or an established connection failed. `reasonCode` is MQTT 5's, when there is one. */
export class ClientError extends Error {
  constructor(
    message: string,
    readonly reasonCode?: number,
  ) {
    super(message);
    this.name = 'ClientError';
  }
}

/** "Not authorized (0x87)". */
export function reasonText(rc: number): string {
  return `${reasonCodeName(rc)} (0x${rc.toString(16).padStart(2, '0')})`;
}

interface Pending {
  qos: QoS;
  /** Called with the reason code of the PUBACK / PUBREC (failure) / PUBCOMP, or -1 when the connection ends. */
  done?: (rc: number) => void;
}

/**
 * A small MQTT 3.1 / 3.1.1 / 5.0 client built on Petrel's codec, for the command-line tools and the load
 * generator. One connection, no reconnect. Incoming QoS 1 and 2 are acknowledged after `onMessage` returns;
 * QoS 2 is delivered once per packet id (a DUP re-send before PUBREL is not delivered again).
 */
export class MqttClient {
  readonly version: ProtocolVersion;
  readonly connack: ConnackPacket;
  /** Called for every PUBLISH the broker sends (not for a QoS 2 re-send before PUBREL). */
  onMessage: (p: PublishPacket) => void = () => {};
  /** Called once when the connection ends; `err` is undefined after our own `disconnect()`. */
  onClose: (err: ClientError | undefined) => void = () => {};
  /** Low-level hook: every acknowledgement of an outgoing QoS 1/2 message (PUBACK, or PUBCOMP / failed PUBREC). */
  onAck: ((packetId: number, rc: number) => void) | undefined;
  /** Outgoing QoS 1/2 messages not yet acknowledged. */
  inflight = 0;
  closed = false;

  private readonly stream: Duplex;
  private readonly decoder: Decoder;
  private readonly pending = new Map<number, Pending>();
  private readonly replies = new Map<number, (p: Packet) => void>();
  private readonly qos2In = new Set<number>();
  private nextId = 1;
  private closing = false;
  private keepAliveTimer: NodeJS.Timeout | undefined;
  private lastSend = Date.now();
  private pingOutstanding = false;
  private readonly batch: Packet[] = [];
  private corked = false;

  private constructor(stream: Duplex, decoder: Decoder, version: ProtocolVersion, connack: ConnackPacket) {
    this.stream = stream;
    this.decoder = decoder;
    this.version = version;
    this.connack = connack;
  }

  /** Connects and waits for CONNACK; rejects with a ClientError naming the reason code when refused. */
  static async connect(o: ConnectOptions): Promise<MqttClient> {
    const timeoutMs = o.timeoutMs ?? 10_000;
    const stream = await openTransport(o, o.tls, timeoutMs);
    const decoder = new Decoder({ protocolVersion: o.version });
    const packet: ConnectPacket = {
      type: PacketType.Connect,
      protocolName: o.version === 3 ? 'MQIsdp' : 'MQTT',
      protocolVersion: o.version,
      clean: o.clean ?? true,
      keepAlive: o.keepAlive ?? 60,
      clientId: o.clientId,
    };
    if (o.username !== undefined) packet.username = o.username;
    if (o.password !== undefined) packet.password = o.password;
    if (o.will !== undefined) packet.will = o.will;
    if (o.version === 5 && o.properties !== undefined) packet.properties = o.properties;
    const connack = await new Promise<{ ack: ConnackPacket; rest: Packet[] }>((resolve, reject) => {
      const out: Packet[] = [];
      const timer = setTimeout(
        () => finish(new ClientError(`no CONNACK from ${where(o)} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const onData = (chunk: Buffer): void => {
        const err = decoder.feed(chunk, out);
        const first = out[0];
        if (err) finish(new ClientError(`malformed reply from the broker: ${err.message}`));
        else if (first === undefined) return;
        else if (first.type === PacketType.Connack) finish(undefined, first, out.slice(1));
        else if (first.type === PacketType.Disconnect) {
          finish(
            new ClientError(`the broker disconnected: ${reasonText(first.reasonCode)}`, first.reasonCode),
          );
        } else finish(new ClientError(`expected CONNACK, got packet type ${first.type}`));
      };
      const onClose = (): void => finish(new ClientError(`${where(o)} closed the connection before CONNACK`));
      const onError = (e: Error): void => finish(new ClientError(`${where(o)}: ${e.message}`));
      function finish(e: ClientError | undefined, ack?: ConnackPacket, rest: Packet[] = []): void {
        clearTimeout(timer);
        stream.off('data', onData);
        stream.off('close', onClose);
        stream.off('error', onError);
        if (e !== undefined) {
          stream.destroy();
          reject(e);
        } else resolve({ ack: ack!, rest });
      }
      stream.on('data', onData);
      stream.on('close', onClose);
      stream.on('error', onError);
      stream.write(encode(packet, o.version));
    });
    const ack = connack.ack;
    // The decoder already gives 3.x return codes as MQTT 5 reason codes; map any raw one that is left.
    if (o.version !== 5 && ack.reasonCode > 0 && ack.reasonCode < 0x80)
      ack.reasonCode = connackV3ToReason(ack.reasonCode);
    if (ack.reasonCode !== 0) {
      stream.destroy();
      const reason = ack.properties?.reasonString ? ` — ${ack.properties.reasonString}` : '';
      throw new ClientError(`connection refused: ${reasonText(ack.reasonCode)}${reason}`, ack.reasonCode);
    }
    const c = new MqttClient(stream, decoder, o.version, ack);
    c.start(ack.properties?.serverKeepAlive ?? packet.keepAlive);
    if (connack.rest.length > 0) c.handleAll(connack.rest);
    return c;
  }

  private start(keepAlive: number): void {
    this.stream.on('data', (chunk: Buffer) => {
      const err = this.decoder.feed(chunk, this.batch);
      this.handleAll(this.batch);
      this.batch.length = 0;
      if (err) this.fail(new ClientError(`malformed packet from the broker: ${err.message}`, err.reasonCode));
    });
    this.stream.on('error', (e: Error) => this.fail(new ClientError(e.message)));
    this.stream.on('close', () =>
      this.fail(this.closing ? undefined : new ClientError('the broker closed the connection')),
    );
    if (keepAlive > 0) {
      const ms = keepAlive * 1000;
      this.keepAliveTimer = setInterval(
        () => {
          if (this.pingOutstanding) {
            this.fail(new ClientError(`no PINGRESP within the keep alive (${keepAlive} s)`));
            this.stream.destroy();
          } else if (Date.now() - this.lastSend >= ms / 2) {
            this.pingOutstanding = true;
            this.write(encode({ type: PacketType.Pingreq }, this.version));
          }
        },
        Math.max(250, ms / 2),
      );
      this.keepAliveTimer.unref();
    }
  }

  private handleAll(packets: Packet[]): void {
    this.cork();
    for (const p of packets) this.handle(p);
  }

  private handle(p: Packet): void {
    switch (p.type) {
      case PacketType.Publish: {
        const id = p.packetId ?? 0;
        if (p.qos === 2) {
          if (!this.qos2In.has(id)) {
            this.qos2In.add(id);
            this.onMessage(p);
          }
          this.ack(PacketType.Pubrec, id);
        } else {
          this.onMessage(p);
          if (p.qos === 1) this.ack(PacketType.Puback, id);
        }
        return;
      }
      case PacketType.Puback:
      case PacketType.Pubcomp:
        this.complete(p.packetId, p.reasonCode);
        return;
      case PacketType.Pubrec:
        if (p.reasonCode >= 0x80) this.complete(p.packetId, p.reasonCode);
        else this.ack(PacketType.Pubrel, p.packetId);
        return;
      case PacketType.Pubrel:
        this.qos2In.delete(p.packetId);
        this.ack(PacketType.Pubcomp, p.packetId);
        return;
      case PacketType.Suback:
      case PacketType.Unsuback: {
        const r = this.replies.get(p.packetId);
        this.replies.delete(p.packetId);
        r?.(p);
        return;
      }
      case PacketType.Pingresp:
        this.pingOutstanding = false;
        return;
      case PacketType.Disconnect:
        this.fail(
          new ClientError(
            `the broker disconnected: ${reasonText(p.reasonCode)}${p.properties?.reasonString ? ` — ${p.properties.reasonString}` : ''}`,
            p.reasonCode,
          ),
        );
        this.stream.destroy();
        return;
      default:
        this.fail(new ClientError(`unexpected packet type ${p.type} from the broker`));
        this.stream.destroy();
    }
  }

  /** Writes a 4-byte acknowledgement (MQTT 5 allows omitting a Success reason code). */
  private ack(type: number, id: number): void {
    const b = Buffer.allocUnsafe(4);
    b[0] = (type << 4) | (type === PacketType.Pubrel ? 2 : 0);
    b[1] = 2;
    b[2] = id >> 8;
    b[3] = id & 0xff;
    this.write(b);
  }

  private complete(id: number, rc: number): void {
    const e = this.pending.get(id);
    if (e === undefined) return;
    this.pending.delete(id);
    this.inflight--;
    e.done?.(rc);
    this.onAck?.(id, rc);
  }

  /** Corks the stream until the next tick so replies to one chunk go out in one write. */
  private cork(): void {
    if (this.corked) return;
    this.corked = true;
    this.stream.cork();
    process.nextTick(() => {
      this.corked = false;
      this.stream.uncork();
    });
  }

  /** Writes bytes as they are; false when the stream's buffer is full (wait for `drained()`). */
  write(b: Buffer): boolean {
    if (this.closed) return false;
    this.lastSend = Date.now();
    return this.stream.write(b);
  }

  /** Resolves when the stream's write buffer has drained (or at once if it is not full). */
  drained(): Promise<void> {
    return whenDrained(this.stream, this.closed);
  }

  /** A free packet identifier (1..65535), registered as pending until acknowledged. */
  allocId(qos: QoS, done?: (rc: number) => void): number {
    for (let i = 0; i < 65535; i++) {
      const id = this.nextId;
      this.nextId = id === 65535 ? 1 : id + 1;
      if (!this.pending.has(id) && !this.replies.has(id)) {
        if (qos > 0) {
          this.pending.set(id, done === undefined ? { qos } : { qos, done });
          this.inflight++;
        }
        return id;
      }
    }
    throw new ClientError('no free packet identifier (65,535 in flight)');
  }

  /**
   * Publishes; resolves when the flow completes (at once for QoS 0) with the final reason code
   * (MQTT 5: ≥ 0x80 is a refusal; 3.x acks carry none, so 0).
   */
  publish(
    topic: string,
    payload: Buffer,
    opts: { qos?: QoS; retain?: boolean; properties?: Properties } = {},
  ): Promise<number> {
    const qos = opts.qos ?? 0;
    const p: PublishPacket = {
      type: PacketType.Publish,
      topic,
      payload,
      qos,
      retain: opts.retain ?? false,
      dup: false,
    };
    if (this.version === 5 && opts.properties !== undefined) p.properties = opts.properties;
    if (this.closed) return Promise.reject(new ClientError('not connected'));
    if (qos === 0) {
      this.write(encode(p, this.version));
      return Promise.resolve(0);
    }
    return new Promise((resolve, reject) => {
      p.packetId = this.allocId(qos, (rc) =>
        rc < 0 ? reject(new ClientError('the connection ended before the broker acknowledged')) : resolve(rc),
      );
      this.write(encode(p, this.version));
    });
  }

  /** Subscribes; resolves with one reason code per subscription (MQTT 5 codes; 3.x failure is 0x80). */
  subscribe(subs: Subscription[], properties?: Properties): Promise<number[]> {
    const packetId = this.allocId(0);
    const p: Packet = { type: PacketType.Subscribe, packetId, subscriptions: subs };
    if (this.version === 5 && properties !== undefined) p.properties = properties;
    return this.request(p, packetId).then((r) => (r.type === PacketType.Suback ? r.reasonCodes : []));
  }

  /** Unsubscribes; resolves with the reason codes (MQTT 5) or an empty list (3.x). */
  unsubscribe(filters: string[], properties?: Properties): Promise<number[]> {
    const packetId = this.allocId(0);
    const p: Packet = { type: PacketType.Unsubscribe, packetId, topicFilters: filters };
    if (this.version === 5 && properties !== undefined) p.properties = properties;
    return this.request(p, packetId).then((r) => (r.type === PacketType.Unsuback ? r.reasonCodes : []));
  }

  private request(p: Packet, packetId: number): Promise<Packet> {
    if (this.closed) return Promise.reject(new ClientError('not connected'));
    return new Promise((resolve, reject) => {
      this.replies.set(packetId, (r) =>
        r.type === PacketType.Disconnect ? reject(new ClientError('the connection ended')) : resolve(r),
      );
      this.write(encode(p, this.version));
    });
  }

  /** Sends DISCONNECT (MQTT 5: with `reasonCode` and properties) and closes; resolves when closed. */
  async disconnect(reasonCode = 0, properties?: Properties): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    const d: DisconnectPacket = { type: PacketType.Disconnect, reasonCode };
    if (this.version === 5 && properties !== undefined) d.properties = properties;
    const closed = new Promise<void>((r) => this.stream.once('close', () => r()));
    this.stream.end(encode(d, this.version));
    const t = setTimeout(() => this.stream.destroy(), 2000);
    await closed;
    clearTimeout(t);
  }

  /**
   * Hands the open byte stream over to the caller (the load generator's raw reader) and retires this client:
   * its listeners and keep-alive timer are removed. Throws if anything is still outstanding or buffered.
   */
  detach(): Duplex {
    if (this.closed) throw new ClientError('not connected');
    if (this.pending.size > 0 || this.replies.size > 0 || this.decoder.buffered > 0)
      throw new ClientError('cannot detach with requests or bytes outstanding');
    this.closed = true;
    clearInterval(this.keepAliveTimer);
    this.stream.removeAllListeners('data');
    this.stream.removeAllListeners('error');
    this.stream.removeAllListeners('close');
    return this.stream;
  }

  /** Closes the connection without DISCONNECT (the broker publishes the will, if any). */
  destroy(): void {
    this.closing = true;
    this.stream.destroy();
  }

  private fail(err: ClientError | undefined): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepAliveTimer);
    for (const e of this.pending.values()) e.done?.(-1);
    this.pending.clear();
    const ended: Packet = { type: PacketType.Disconnect, reasonCode: 0x80 };
    for (const r of this.replies.values()) r(ended);
    this.replies.clear();
    this.onClose(err);
  }
}
