import type { Socket } from 'node:net';
import type { Broker } from '../broker/broker.js';
import {
  Decoder,
  encode,
  encodePublishHeader,
  encodePublishShared,
  type Packet,
  PacketType,
} from '../codec/index.js';
import type { ConnectionInfo } from '../core/client-info.js';
import type { Stats } from '../core/stats.js';
import type { ConnectionIO } from '../protocol/connection.js';
import type { ProtocolOptions } from '../protocol/options.js';
import { type PacketSink, sinkFor } from './sink.js';

/** The connection a socket belongs to, for the socket's shared event handlers below. */
const kConn = Symbol('petrel.connection');
type Tagged = Socket & { [kConn]: SocketConnection };

// One set of event handlers for every socket (`this` is the socket): no closures per connection.
function onSocketData(this: Tagged, chunk: Buffer): void {
  this[kConn].onData(chunk);
}
function onSocketDrain(this: Tagged): void {
  this[kConn].protocol.onDrain();
}
function onSocketError(this: Tagged, e: Error): void {
  this[kConn].protocol.onClose(`socket error: ${e.message}`);
}
function onSocketClose(this: Tagged): void {
  this[kConn].protocol.onClose();
}

/**
 * For an owner that already listens to the socket's 'close' (the listener, for its connection count): hands
 * the event on, so the socket keeps one 'close' listener instead of an array of two.
 */
export function socketClosed(socket: Socket): void {
  (socket as Partial<Tagged>)[kConn]?.protocol.onClose();
}

function onSocketEnd(this: Tagged): void {
  // The client half-closed: we are done too.
  this[kConn].protocol.onClose('connection closed by client');
  this.end();
}
/**
 * Connections that queued output in this event-loop turn. One nextTick flushes them all, instead of one
 * nextTick per connection per turn. A connection that queues while the list is being flushed is appended and
 * flushed in the same pass.
 */
const unflushed: SocketConnection[] = [];

function flushAll(): void {
  let i = 0;
  try {
    for (; i < unflushed.length; i++) unflushed[i]!.flush();
  } finally {
    if (i >= unflushed.length) unflushed.length = 0;
    else {
      // A flush threw: the connections after it still go out, on the next tick.
      unflushed.splice(0, i + 1);
      process.nextTick(flushAll);
    }
  }
}

/** A turn's packets up to this many bytes are copied into one buffer; larger batches go out with writev. */
const COPY_LIMIT = 16 * 1024;

/**
 * Binds one byte stream — a TCP socket or a TLS socket — to a decoder, a protocol state machine and the
 * encoder. Writes within one event-loop turn are coalesced: packets are held until the next tick, then go out
 * in one socket write (copied into one buffer when small, else one writev), so a batch is one syscall.
 * `refuse` (a reason code) makes the connection answer its CONNECT with that refusal instead (a listener past
 * `max_connections`). `closeForwarded`: the owner already listens to 'close' and calls `socketClosed`.
 * Per connection it holds this object, the decoder and the protocol state machine; the socket's event
 * handlers are shared functions, one per event, and the array packets are decoded into is shared too.
 */
export class SocketConnection implements ConnectionIO {
  readonly socket: Socket;
  readonly protocol: PacketSink;
  private readonly decoder: Decoder;
  /** Transport counters (bytes, packets by type, PUBLISH by QoS): plain increments, read on scrape. */
  private readonly stats: Stats;
  /** Packets written in this event-loop turn, sent together at its end: one Buffer, or several in an array. */
  private out: Buffer | Buffer[] | undefined;
  private outBytes = 0;
  private closing = false;

  constructor(
    socket: Socket,
    broker: Broker,
    info: ConnectionInfo,
    opts: ProtocolOptions,
    refuse?: number,
    closeForwarded = false,
  ) {
    this.socket = socket;
    this.stats = broker.stats;
    this.decoder = new Decoder({ maxPacketSize: opts.maxPacketSize });
    this.protocol = sinkFor(broker, this, info, opts, refuse);
    socket.setNoDelay(true);
    (socket as Tagged)[kConn] = this;
    socket.on('data', onSocketData);
    socket.on('drain', onSocketDrain);
    socket.on('error', onSocketError);
    if (!closeForwarded) socket.on('close', onSocketClose);
    socket.on('end', onSocketEnd);
  }

  onData(chunk: Buffer): void {
    if (this.closing) return;
    feedChunk(chunk, this.decoder, this.stats, this.protocol);
  }

  get writableLength(): number {
    return this.socket.writableLength + this.outBytes;
  }

  send(p: Packet): void {
    if (this.closing || this.socket.destroyed) return;
    const v = this.protocol.protocolVersion;
    const stats = this.stats;
    stats.packetsSent[p.type]++;
    if (p.type === PacketType.Publish) {
      stats.publishSent[p.qos]++;
      if (p.payload.length >= 1024) {
        // Large payloads are written as-is after their header: no copy per subscriber.
        const header = encodePublishHeader(p, v);
        stats['bytes.sent'] += header.length + p.payload.length;
        this.queue(header);
        this.queue(p.payload);
        return;
      }
      // Encoded once per message for all its subscribers (QoS 0 shares the buffer).
      const bytes = encodePublishShared(p, v);
      stats['bytes.sent'] += bytes.length;
      this.queue(bytes);
      return;
    }
    const bytes = encode(p, v);
    stats['bytes.sent'] += bytes.length;
    this.queue(bytes);
  }

  /** Holds `b` until the end of this event-loop turn; then everything goes out in one write. */
  private queue(b: Buffer): void {
    this.outBytes += b.length;
    const out = this.out;
    if (out === undefined) {
      this.out = b;
      if (unflushed.push(this) === 1) process.nextTick(flushAll);
    } else if (Array.isArray(out)) out.push(b);
    else this.out = [out, b];
  }

  flush(): void {
    const out = this.out;
    if (out === undefined) return;
    const n = this.outBytes;
    this.out = undefined;
    this.outBytes = 0;
    if (this.socket.destroyed) return;
    if (!Array.isArray(out)) this.socket.write(out);
    else if (n <= COPY_LIMIT) this.socket.write(Buffer.concat(out, n));
    else {
      // Large batches: one writev, no copy.
      this.socket.cork();
      for (let i = 0; i < out.length; i++) this.socket.write(out[i]!);
      this.socket.uncork();
    }
  }

  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.flush();
    this.socket.end();
    // A peer that never reads must not keep the socket open forever.
    setTimeout(() => this.socket.destroy(), 5000).unref();
  }

  destroy(): void {
    this.closing = true;
    this.out = undefined;
    this.outBytes = 0;
    this.socket.destroy();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    if (!this.closing) this.socket.resume();
  }
}

/**
 * The array every connection decodes a chunk into: the protocol handles a batch synchronously and keeps no
 * reference to it, so one array serves all connections. Taken while in use (never so far: handling a batch
 * does not read another socket), a fresh one is made.
 */
let sharedBatch: Packet[] | undefined = [];

/**
 * One inbound chunk, whatever the transport: decode every whole packet in it, count them, hand the batch to the
 * protocol state machine, then report a decoding error (after the packets that preceded it).
 */
export function feedChunk(chunk: Buffer, decoder: Decoder, stats: Stats, protocol: PacketSink): void {
  const batch = sharedBatch ?? [];
  sharedBatch = undefined;
  stats['bytes.received'] += chunk.length;
  const err = decoder.feed(chunk, batch);
  if (batch.length > 0) {
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      stats.packetsReceived[p.type]++;
      if (p.type === PacketType.Publish) stats.publishReceived[p.qos]++;
    }
    protocol.handle(batch);
    batch.length = 0;
  }
  sharedBatch = batch;
  if (err !== undefined) protocol.onCodecError(err);
}
