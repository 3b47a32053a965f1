import { isUtf8 } from 'node:buffer';
import { MAX_VARINT } from './constants.js';
import { malformed } from './errors.js';

/**
 * A bounds-checked cursor over one packet's bytes. Every read checks the packet's end, so a length
 * field that disagrees with the content is a Malformed Packet, never an out-of-range read.
 */
export class Reader {
  buf: Buffer;
  pos: number;
  end: number;
  /** Whether Buffers handed out (payloads, binary data) must be copied out of `buf`. */
  copy: boolean;

  constructor(buf: Buffer, pos: number, end: number, copy: boolean) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    this.copy = copy;
  }

  remaining(): number {
    return this.end - this.pos;
  }

  need(n: number, what: string): void {
    if (this.end - this.pos < n) {
      throw malformed(`${what}: needs ${n} byte(s) but only ${this.end - this.pos} remain in the packet`);
    }
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const v = (this.buf[this.pos]! << 8) | this.buf[this.pos + 1]!;
    this.pos += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  varint(what: string): number {
    let value = 0;
    let mult = 1;
    for (let i = 0; i < 4; i++) {
      this.need(1, what);
      const b = this.buf[this.pos++]!;
      value += (b & 0x7f) * mult;
      if ((b & 0x80) === 0) {
        if (i > 0 && b === 0) throw malformed(`${what}: variable byte integer is not minimally encoded`);
        return value;
      }
      mult *= 128;
    }
    throw malformed(`${what}: variable byte integer longer than 4 bytes`);
  }

  bytes(n: number, what: string): Buffer {
    this.need(n, what);
    const start = this.pos;
    this.pos += n;
    return sliceOrCopy(this.buf, start, start + n, this.copy);
  }

  binary(what: string): Buffer {
    const n = this.u16(what);
    return this.bytes(n, what);
  }

  utf8(what: string): string {
    const n = this.u16(what);
    this.need(n, what);
    const start = this.pos;
    this.pos += n;
    return readUtf8(this.buf, start, start + n, what);
  }

  /** A PUBLISH Topic Name: a UTF-8 Encoded String, the same string as last time for a recent ASCII topic. */
  topic(what: string): string {
    const n = this.u16(what);
    this.need(n, what);
    const start = this.pos;
    this.pos += n;
    return readTopic(this.buf, start, start + n, what);
  }
}

/** Copies [start, end) of buf into its own memory when `copy` is set, so it does not pin `buf`. */
export function sliceOrCopy(buf: Buffer, start: number, end: number, copy: boolean): Buffer {
  if (!copy) return buf.subarray(start, end);
  const n = end - start;
  const out = Buffer.allocUnsafe(n);
  // Buffer#copy of part of a buffer makes a view object first: a small copy goes byte by byte instead.
  if (n <= 256) for (let i = 0; i < n; i++) out[i] = buf[start + i]!;
  else buf.copy(out, 0, start, end);
  return out;
}

/**
 * Decodes a UTF-8 Encoded String: well-formed UTF-8 (no surrogates, no overlong forms) and no U+0000
 * [MQTT-1.5.4-1] [MQTT-1.5.4-2].
 */
export function readUtf8(buf: Buffer, start: number, end: number, what: string): string {
  let ascii = true;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c === 0) throw malformed(`${what}: string contains U+0000 [MQTT-1.5.4-2]`);
    if (c >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return buf.latin1Slice(start, end);
  const view = buf.subarray(start, end);
  if (!isUtf8(view)) throw malformed(`${what}: string is not well-formed UTF-8 [MQTT-1.5.4-1]`);
  if (view.indexOf(0) !== -1) throw malformed(`${what}: string contains U+0000 [MQTT-1.5.4-2]`);
  return buf.utf8Slice(start, end);
}

/**
 * Recently decoded topic names, direct-mapped by a hash of their bytes. Most traffic repeats its topics: a hit
 * hands out the string decoded before instead of a new one (and the router finds its levels cached by it).
 * Only ASCII names of at most TOPIC_MAX bytes are kept, so the table holds at most TOPIC_SLOTS × TOPIC_MAX bytes.
 */
const TOPIC_SLOTS = 1024;
const TOPIC_MAX = 128;
const recentTopics: (string | undefined)[] = new Array<string | undefined>(TOPIC_SLOTS).fill(undefined);

export function readTopic(buf: Buffer, start: number, end: number, what: string): string {
  const n = end - start;
  if (n === 0 || n > TOPIC_MAX) return readUtf8(buf, start, end, what);
  // FNV-1a over the bytes; stops at the first byte that is not plain ASCII (or NUL, an error readUtf8 reports).
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c === 0 || c >= 0x80) return readUtf8(buf, start, end, what);
    h = Math.imul(h ^ c, 0x01000193);
  }
  const slot = h & (TOPIC_SLOTS - 1);
  const known = recentTopics[slot];
  if (known !== undefined && known.length === n) {
    let i = 0;
    while (i < n && known.charCodeAt(i) === buf[start + i]) i++;
    if (i === n) return known;
  }
  const topic = buf.latin1Slice(start, end);
  recentTopics[slot] = topic;
  return topic;
}

/** Whether a payload is well-formed UTF-8 (for Payload Format Indicator 1, [MQTT-3.3.2-6]). */
export function isValidUtf8(buf: Buffer): boolean {
  return isUtf8(buf);
}

export function varintSize(n: number): number {
  if (n < 128) return 1;
  if (n < 16_384) return 2;
  if (n < 2_097_152) return 3;
  return 4;
}

/** A cursor that writes into a Buffer allocated to the exact size computed beforehand. */
export class Writer {
  buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  u8(v: number): void {
    if (!(v >= 0 && v <= 0xff)) throw new RangeError(`byte out of range: ${v}`);
    this.buf[this.pos++] = v;
  }
  u16(v: number): void {
    // Also guards string and binary length prefixes: a 70,000-byte topic must not wrap to a 4,464-byte one.
    if (!(v >= 0 && v <= 0xffff)) throw new RangeError(`two byte integer out of range: ${v}`);
    this.buf[this.pos++] = v >>> 8;
    this.buf[this.pos++] = v & 0xff;
  }
  u32(v: number): void {
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }
  varint(v: number): void {
    if (v > MAX_VARINT || v < 0) throw new RangeError(`variable byte integer out of range: ${v}`);
    do {
      let b = v % 128;
      v = Math.floor(v / 128);
      if (v > 0) b |= 0x80;
      this.buf[this.pos++] = b;
    } while (v > 0);
  }
  /** A UTF-8 string whose byte length `len` was computed by the size pass. */
  utf8(s: string, len: number): void {
    this.u16(len);
    if (len > 0) this.pos += this.buf.utf8Write(s, this.pos, len);
  }
  binary(b: Buffer): void {
    this.u16(b.length);
    this.raw(b);
  }
  raw(b: Buffer): void {
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }
}

/** Byte length of a string as an MQTT UTF-8 Encoded String, length prefix excluded. */
export function utf8Length(s: string): number {
  // Fast path for ASCII strings, the common case for topics and client ids.
  const n = s.length;
  if (n < 64) {
    let i = 0;
    for (; i < n; i++) if (s.charCodeAt(i) >= 0x80) break;
    if (i === n) return n;
  }
  return Buffer.byteLength(s, 'utf8');
}

/** Node's Buffer has these fast paths on the prototype, but @types/node does not declare them. */
declare global {
  interface Buffer {
    latin1Slice(start: number, end: number): string;
    utf8Slice(start: number, end: number): string;
    utf8Write(s: string, offset: number, length: number): number;
  }
}
