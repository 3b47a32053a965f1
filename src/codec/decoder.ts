import { MAX_VARINT, PacketType, type ProtocolVersion, ReasonCode } from './constants.js';
import { CodecError, malformed } from './errors.js';
import type { Packet } from './packets.js';
import { parsePacket } from './parse.js';

export interface DecoderOptions {
  /** Largest whole packet (fixed header included) accepted, in bytes. Default 268,435,460 (the protocol's). */
  maxPacketSize?: number;
  /** Protocol level of the packets to expect. Default 4; a decoded CONNECT switches it to its own level. */
  protocolVersion?: ProtocolVersion;
}

/** The largest packet the protocol can express: 1 + 4 + 268,435,455 bytes. */
export const PROTOCOL_MAX_PACKET_SIZE = 1 + 4 + MAX_VARINT;

/**
 * An incremental MQTT decoder. Feed it socket chunks of any size; it returns the whole packets they
 * complete. The remaining length is checked against `maxPacketSize` as soon as the fixed header is read,
 * before any of the body is buffered, so no allocation is ever made from an unchecked length.
 *
 * Payloads and binary fields of packets that share a chunk with other data are copied, so a packet that
 * outlives the chunk never pins it; a packet that fills its own buffer is handed out as views into it.
 *
 * After an error the decoder stays failed: the connection must be closed.
 */
export class Decoder {
  version: ProtocolVersion;
  maxPacketSize: number;
  /** The error that stopped this decoder, if any. */
  error: CodecError | undefined;
  /** Bytes of an incomplete fixed header (at most 4). */
  private head: Buffer | undefined;
  /** A packet whose fixed header is known, being filled. */
  private body: Buffer | undefined;
  private filled = 0;

  constructor(opts: DecoderOptions = {}) {
    this.version = opts.protocolVersion ?? 4;
    this.maxPacketSize = opts.maxPacketSize ?? PROTOCOL_MAX_PACKET_SIZE;
  }

  /** Bytes held for an incomplete packet. */
  get buffered(): number {
    return this.body !== undefined ? this.filled : (this.head?.length ?? 0);
  }

  /**
   * Decodes what `chunk` completes, appending whole packets to `out`. Returns undefined, or the CodecError
   * that ended decoding (packets decoded before it are still in `out`).
   */
  feed(chunk: Buffer, out: Packet[]): CodecError | undefined {
    if (this.error !== undefined) return this.error;
    try {
      this.run(chunk, out);
      return undefined;
    } catch (e) {
      this.head = undefined;
      this.body = undefined;
      this.error =
        e instanceof CodecError
          ? e
          : malformed(`undecodable packet (${e instanceof Error ? e.message : String(e)})`);
      return this.error;
    }
  }

  private run(chunk: Buffer, out: Packet[]): void {
    let pos = 0;
    if (this.body !== undefined) {
      const body = this.body;
      const take = Math.min(body.length - this.filled, chunk.length);
      chunk.copy(body, this.filled, 0, take);
      this.filled += take;
      pos = take;
      if (this.filled < body.length) return;
      this.body = undefined;
      this.emit(body, 0, body.length, false, out);
    } else if (this.head !== undefined) {
      chunk = Buffer.concat([this.head, chunk]);
      this.head = undefined;
    }
    const len = chunk.length;
    while (pos < len) {
      const first = chunk[pos]!;
      const type = first >> 4;
      if (type === 0) throw malformed('packet type 0 is reserved');
      if (type === PacketType.Auth && this.version !== 5) {
        throw malformed('packet type 15 (AUTH) is reserved before MQTT 5.0');
      }
      // Remaining Length: a Variable Byte Integer of at most 4 bytes [MQTT-1.5.5].
      let rl = 0;
      let mult = 1;
      let i = pos + 1;
      let done = false;
      for (let k = 0; k < 4 && i < len; k++) {
        const b = chunk[i++]!;
        rl += (b & 0x7f) * mult;
        if ((b & 0x80) === 0) {
          if (k > 0 && b === 0) throw malformed('remaining length is not minimally encoded [MQTT-1.5.5-1]');
          done = true;
          break;
        }
        mult *= 128;
      }
      if (!done) {
        if (i - pos - 1 >= 4) throw malformed('remaining length is longer than 4 bytes [MQTT-1.5.5]');
        this.head = Buffer.from(chunk.subarray(pos));
        return;
      }
      const total = i - pos + rl;
      if (total > this.maxPacketSize) {
        throw new CodecError(
          ReasonCode.PacketTooLarge,
          `packet of ${total} bytes exceeds the maximum packet size of ${this.maxPacketSize} bytes`,
        );
      }
      if (pos + total <= len) {
        // Views are safe only when the packet is the whole chunk; otherwise copy what outlives it.
        this.emit(chunk, pos, pos + total, !(pos === 0 && total === len), out, i);
        pos += total;
      } else {
        const body = Buffer.allocUnsafe(total);
        chunk.copy(body, 0, pos, len);
        this.body = body;
        this.filled = len - pos;
        return;
      }
    }
  }

  private emit(buf: Buffer, start: number, end: number, copy: boolean, out: Packet[], bodyStart = -1): void {
    if (bodyStart < 0) {
      bodyStart = start + 1;
      while (buf[bodyStart]! & 0x80) bodyStart++;
      bodyStart++;
    }
    const p = parsePacket(buf[start]!, buf, bodyStart, end, this.version, copy);
    if (p.type === PacketType.Connect) this.version = p.protocolVersion;
    out.push(p);
  }
}

/** Decodes a buffer that holds whole packets only; throws CodecError on any error or a trailing fragment. */
export function decodeAll(buf: Buffer, opts: DecoderOptions = {}): Packet[] {
  const d = new Decoder(opts);
  const out: Packet[] = [];
  const err = d.feed(buf, out);
  if (err !== undefined) throw err;
  if (d.buffered > 0) throw malformed(`incomplete packet: ${d.buffered} trailing byte(s)`);
  return out;
}
