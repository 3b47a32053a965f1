// The load generator's connection once CONNECT and SUBSCRIBE are done: it reads raw socket chunks and parses
// only what the bench needs (fixed header, topic length, packet id, the payload's offset), with no per-packet
// objects, and writes the acknowledgements for one chunk in one write. The codec and MqttClient are too
// general (and allocate per packet) to keep the generator well below one core against a broker that sends one
// small segment per message.
import type { Duplex } from 'node:stream';
import { whenDrained } from '../../client/transport.js';
import type { ProtocolVersion } from '../../codec/index.js';

const PUBLISH = 3;
const PUBACK = 4;
const PUBREC = 5;
const PUBREL = 6;
const PUBCOMP = 7;
const PINGRESP = 13;
const DISCONNECT = 14;

export interface RawHandlers {
  /** A PUBLISH arrived: its payload is `buf[start, end)`, valid only during the call. */
  onPublish(buf: Buffer, start: number, end: number): void;
  /** An outgoing QoS 1/2 message completed (PUBACK, PUBCOMP, or a failed PUBREC) with reason code `rc`. */
  onAck(rc: number): void;
  /** Called once after each chunk's packets were handled. */
  onChunk(): void;
  /** The connection ended; `err` is undefined after `disconnect()`. */
  onClose(err: Error | undefined): void;
}

export class RawConn {
  /** Outgoing QoS 1/2 messages not yet acknowledged. */
  inflight = 0;
  closed = false;
  private readonly stream: Duplex;
  private readonly v5: boolean;
  private readonly h: RawHandlers;
  /** Packet ids in use by outgoing QoS 1/2 messages. */
  private readonly used = new Uint8Array(65536);
  /** Incoming QoS 2 packet ids between PUBREC and PUBREL (delivered once). */
  private readonly q2 = new Uint8Array(65536);
  private nextId = 1;
  /** A packet split across chunks. */
  private part = Buffer.allocUnsafe(256);
  private partLen = 0;
  /** Acknowledgements for the current chunk. */
  private acks = Buffer.allocUnsafe(4096);
  private ackLen = 0;
  private closing = false;
  private readonly pinger: NodeJS.Timeout | undefined;

  constructor(stream: Duplex, version: ProtocolVersion, keepAliveS: number, h: RawHandlers) {
    this.stream = stream;
    this.v5 = version === 5;
    this.h = h;
    stream.on('data', (c: Buffer) => this.feed(c));
    stream.on('error', (e: Error) => this.end(e));
    stream.on('close', () =>
      this.end(this.closing ? undefined : new Error('the broker closed the connection')),
    );
    if (keepAliveS > 0) {
      this.pinger = setInterval(() => this.stream.write(Buffer.from([0xc0, 0])), (keepAliveS * 1000) / 2);
      this.pinger.unref();
    }
  }

  /** A free packet id, marked in use until acknowledged. */
  allocId(): number {
    for (let i = 0; i < 65535; i++) {
      const id = this.nextId;
      this.nextId = id === 65535 ? 1 : id + 1;
      if (this.used[id] === 0) {
        this.used[id] = 1;
        this.inflight++;
        return id;
      }
    }
    throw new Error('no free packet identifier');
  }

  write(b: Buffer): boolean {
    return this.closed ? false : this.stream.write(b);
  }

  /** Resolves when the write buffer has drained (at once if it is not full). */
  drained(): Promise<void> {
    return whenDrained(this.stream, this.closed);
  }

  /** Sends DISCONNECT and closes; resolves when closed. */
  async disconnect(): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    const closed = new Promise<void>((r) => this.stream.once('close', () => r()));
    this.stream.end(Buffer.from([0xe0, 0]));
    const t = setTimeout(() => this.stream.destroy(), 2000);
    await closed;
    clearTimeout(t);
  }

  private end(err: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pinger);
    this.h.onClose(err);
  }

  private fail(msg: string): void {
    this.end(new Error(msg));
    this.stream.destroy();
  }

  private feed(chunk: Buffer): void {
    let off = 0;
    if (this.partLen > 0) {
      off = this.completePart(chunk);
      if (off < 0) return;
    }
    const end = chunk.length;
    while (off < end && !this.closed) {
      // Fixed header: type and flags, then the remaining length (at most 4 bytes).
      let i = off + 1;
      let len = 0;
      let mul = 1;
      let b = 0x80;
      while (b & 0x80 && i < end && i - off <= 4) {
        b = chunk[i++]!;
        len += (b & 0x7f) * mul;
        mul *= 128;
      }
      if (b & 0x80 || i + len > end) break;
      this.packet(chunk, off, i, i + len);
      off = i + len;
    }
    if (off < end) this.keep(chunk, off, end);
    this.flush();
  }

  /** Stores `buf[from, to)`, the start of a packet that the next chunk completes. */
  private keep(buf: Buffer, from: number, to: number): void {
    const n = to - from;
    if (this.partLen + n > this.part.length) {
      const next = Buffer.allocUnsafe(Math.max(this.part.length * 2, this.partLen + n));
      this.part.copy(next, 0, 0, this.partLen);
      this.part = next;
    }
    buf.copy(this.part, this.partLen, from, to);
    this.partLen += n;
  }

  /** Completes the split packet from the start of `chunk`; returns the offset after it, or -1 if still short. */
  private completePart(chunk: Buffer): number {
    // Take at most the 5 header bytes first, to learn the packet's length.
    let taken = Math.min(chunk.length, Math.max(0, 5 - this.partLen));
    this.keep(chunk, 0, taken);
    const p = this.part;
    let i = 1;
    let len = 0;
    let mul = 1;
    let b = 0x80;
    while (b & 0x80 && i < this.partLen && i <= 4) {
      b = p[i++]!;
      len += (b & 0x7f) * mul;
      mul *= 128;
    }
    if (b & 0x80) {
      if (this.partLen >= 5) this.fail('malformed remaining length from the broker');
      return -1;
    }
    const total = i + len;
    if (this.partLen > total) {
      // The header bytes taken overran this packet: give the extra back to the chunk.
      taken -= this.partLen - total;
      this.partLen = total;
    } else if (this.partLen < total) {
      const more = Math.min(total - this.partLen, chunk.length - taken);
      this.keep(chunk, taken, taken + more);
      taken += more;
      if (this.partLen < total) return -1;
    }
    this.partLen = 0;
    this.packet(this.part, 0, i, total);
    return taken;
  }

  /** One whole packet: `buf[start]` is its first byte, `buf[body, end)` its body. */
  private packet(buf: Buffer, start: number, body: number, end: number): void {
    const first = buf[start]!;
    const type = first >> 4;
    switch (type) {
      case PUBLISH: {
        const qos = (first >> 1) & 3;
        let p = body + 2 + ((buf[body]! << 8) | buf[body + 1]!);
        let id = 0;
        if (qos > 0) {
          id = (buf[p]! << 8) | buf[p + 1]!;
          p += 2;
        }
        if (this.v5) {
          let plen = 0;
          let mul = 1;
          let b = 0x80;
          while (b & 0x80) {
            b = buf[p++]!;
            plen += (b & 0x7f) * mul;
            mul *= 128;
          }
          p += plen;
        }
        if (p > end) {
          this.fail('malformed PUBLISH from the broker');
          return;
        }
        if (qos === 2) {
          if (this.q2[id] === 0) {
            this.q2[id] = 1;
            this.h.onPublish(buf, p, end);
          }
          this.ack(PUBREC, id);
        } else {
          this.h.onPublish(buf, p, end);
          if (qos === 1) this.ack(PUBACK, id);
        }
        return;
      }
      case PUBACK:
      case PUBCOMP:
        this.complete(buf, body, end);
        return;
      case PUBREC:
        if (end - body > 2 && buf[body + 2]! >= 0x80) this.complete(buf, body, end);
        else this.ack(PUBREL, (buf[body]! << 8) | buf[body + 1]!);
        return;
      case PUBREL: {
        const id = (buf[body]! << 8) | buf[body + 1]!;
        this.q2[id] = 0;
        this.ack(PUBCOMP, id);
        return;
      }
      case PINGRESP:
        return;
      case DISCONNECT:
        this.fail(`the broker disconnected (reason 0x${(end > body ? buf[body]! : 0).toString(16)})`);
        return;
      default:
        this.fail(`unexpected packet type ${type} from the broker`);
    }
  }

  private complete(buf: Buffer, body: number, end: number): void {
    const id = (buf[body]! << 8) | buf[body + 1]!;
    if (this.used[id] === 0) return;
    this.used[id] = 0;
    this.inflight--;
    this.h.onAck(end - body > 2 ? buf[body + 2]! : 0);
  }

  private ack(type: number, id: number): void {
    if (this.ackLen + 4 > this.acks.length) {
      const next = Buffer.allocUnsafe(this.acks.length * 2);
      this.acks.copy(next, 0, 0, this.ackLen);
      this.acks = next;
    }
    const a = this.acks;
    const n = this.ackLen;
    a[n] = (type << 4) | (type === PUBREL ? 2 : 0);
    a[n + 1] = 2;
    a[n + 2] = id >> 8;
    a[n + 3] = id & 0xff;
    this.ackLen = n + 4;
  }

  private flush(): void {
    this.h.onChunk();
    if (this.ackLen === 0 || this.closed) return;
    const out = Buffer.allocUnsafe(this.ackLen);
    this.acks.copy(out, 0, 0, this.ackLen);
    this.ackLen = 0;
    this.stream.write(out);
  }
}
