import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { Broker } from '../broker/broker.js';
import { Decoder, encode, type Packet, PacketType } from '../codec/index.js';
import type { ConnectionInfo } from '../core/client-info.js';
import type { Stats } from '../core/stats.js';
import type { ConnectionIO } from '../protocol/connection.js';
import type { ProtocolOptions } from '../protocol/options.js';
import { type PacketSink, sinkFor } from './sink.js';
import { feedChunk } from './socket-connection.js';

/**
 * MQTT over WebSocket: binary messages are fed to the decoder as a byte stream, so a packet may span
 * messages and a message may hold several packets. A text message closes the connection (1003). Packets
 * written within one event-loop turn go out as one binary message. `socket` is the stream under the
 * WebSocket (TCP or TLS); its `drain` resumes queued deliveries.
 */
export class WsConnection implements ConnectionIO {
  readonly ws: WebSocket;
  readonly protocol: PacketSink;
  private readonly decoder: Decoder;
  private readonly stats: Stats;
  private out: Buffer[] | undefined;
  private outBytes = 0;
  private closing = false;

  constructor(
    ws: WebSocket,
    socket: Socket,
    broker: Broker,
    info: ConnectionInfo,
    opts: ProtocolOptions,
    refuse?: number,
  ) {
    this.ws = ws;
    this.stats = broker.stats;
    this.decoder = new Decoder({ maxPacketSize: opts.maxPacketSize });
    this.protocol = sinkFor(broker, this, info, opts, refuse);
    socket.setNoDelay(true);
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(data, isBinary));
    socket.on('drain', () => this.protocol.onDrain());
    ws.on('error', (e) => this.protocol.onClose(`websocket error: ${e.message}`));
    ws.on('close', (code) => this.protocol.onClose(`websocket closed (${code})`));
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (this.closing) return;
    if (!isBinary) {
      // MQTT over WebSocket uses binary data frames only [MQTT-6.0.0-1].
      this.protocol.onClose('text frame received');
      this.closing = true;
      this.ws.close(1003, 'MQTT needs binary frames');
      this.killLater();
      return;
    }
    feedChunk(data, this.decoder, this.stats, this.protocol);
  }

  get writableLength(): number {
    return this.ws.bufferedAmount + this.outBytes;
  }

  send(p: Packet): void {
    if (this.closing) return;
    const buf = encode(p, this.protocol.protocolVersion);
    const stats = this.stats;
    stats.packetsSent[p.type]++;
    if (p.type === PacketType.Publish) stats.publishSent[p.qos]++;
    stats['bytes.sent'] += buf.length;
    this.outBytes += buf.length;
    if (this.out === undefined) {
      this.out = [buf];
      process.nextTick(this.flush);
    } else this.out.push(buf);
  }

  private readonly flush = (): void => {
    const out = this.out;
    if (out === undefined) return;
    this.out = undefined;
    this.outBytes = 0;
    if (this.ws.readyState !== 1) return;
    this.ws.send(out.length === 1 ? out[0]! : Buffer.concat(out), { binary: true });
  };

  close(): void {
    if (this.closing) return;
    this.flush();
    this.closing = true;
    this.ws.close(1000);
    this.killLater();
  }

  destroy(): void {
    this.closing = true;
    this.ws.terminate();
  }

  /** A peer that never answers the close handshake must not keep the socket open. */
  private killLater(): void {
    setTimeout(() => this.ws.terminate(), 5000).unref();
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    if (!this.closing) this.ws.resume();
  }
}
