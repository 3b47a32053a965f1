import type { Socket } from 'node:net';
import type { Broker } from '../broker/broker.js';
import { Decoder, encode, encodePublishHeader, type Packet, PacketType } from '../codec/index.js';
import { type ConnectionInfo, type ConnectionIO, ProtocolConnection } from '../protocol/connection.js';
import type { ProtocolOptions } from '../protocol/options.js';

/**
 * Binds one stream (TCP now; TLS and WebSocket streams later) to a decoder, a protocol state machine and
 * the encoder. Writes within one event-loop turn are coalesced: the socket is corked at the first write
 * and uncorked on the next tick, so a batch of packets goes out in one syscall.
 */
export class SocketConnection implements ConnectionIO {
  readonly socket: Socket;
  readonly protocol: ProtocolConnection;
  private readonly decoder: Decoder;
  private readonly batch: Packet[] = [];
  private corked = false;
  private closing = false;

  constructor(socket: Socket, broker: Broker, info: ConnectionInfo, opts: ProtocolOptions) {
    this.socket = socket;
    this.decoder = new Decoder({ maxPacketSize: opts.maxPacketSize });
    this.protocol = new ProtocolConnection(broker, this, info, opts);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.protocol.onDrain());
    socket.on('error', (e) => this.protocol.onClose(`socket error: ${e.message}`));
    socket.on('close', () => this.protocol.onClose());
    socket.on('end', () => {
      // The client half-closed: we are done too.
      this.protocol.onClose('connection closed by client');
      socket.end();
    });
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    const batch = this.batch;
    const err = this.decoder.feed(chunk, batch);
    if (batch.length > 0) {
      this.protocol.handle(batch);
      batch.length = 0;
    }
    if (err !== undefined) this.protocol.onCodecError(err);
  }

  get writableLength(): number {
    return this.socket.writableLength;
  }

  send(p: Packet): void {
    if (this.closing || this.socket.destroyed) return;
    const v = this.protocol.protocolVersion;
    this.cork();
    if (p.type === PacketType.Publish && p.payload.length >= 1024) {
      // Large payloads are written as-is after their header: no copy per subscriber.
      this.socket.write(encodePublishHeader(p, v));
      this.socket.write(p.payload);
    } else {
      this.socket.write(encode(p, v));
    }
  }

  private cork(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    process.nextTick(this.uncork);
  }

  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };

  close(): void {
    if (this.closing) return;
    this.closing = true;
    if (this.corked) this.uncork();
    this.socket.end();
    // A peer that never reads must not keep the socket open forever.
    setTimeout(() => this.socket.destroy(), 5000).unref();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    if (!this.closing) this.socket.resume();
  }
}
