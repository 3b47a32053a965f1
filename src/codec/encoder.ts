import { connackReasonToV3, MAX_VARINT, PacketType, type ProtocolVersion } from './constants.js';
import { assertNever, type Packet, type Properties, type PublishPacket } from './packets.js';
import { propertiesLength, WILL_PROPERTIES, writeProperties } from './properties.js';
import { utf8Length, varintSize, Writer } from './wire.js';

/*
 * The encoder produces minimal encodings in two passes: a size pass (which also serves `encodedSize`,
 * so a server can honour a client's Maximum Packet Size without encoding) and a write pass into a buffer
 * of exactly that size. PUBLISH can be encoded as a header plus the shared payload buffer, so one message
 * goes to many subscribers without copying its payload for each.
 */

/** Sizes computed by the size pass and reused by the write pass. */
interface Plan {
  remaining: number;
  props: number;
  willProps: number;
}
const plan: Plan = { remaining: 0, props: 0, willProps: 0 };

function propsBlock(len: number): number {
  return varintSize(len) + len;
}

function ackHasTail(p: { reasonCode: number; properties?: object }, propsLen: number): 0 | 1 | 2 {
  if (propsLen > 0) return 2;
  return p.reasonCode !== 0 ? 1 : 0;
}

/** Computes the remaining length of `p` for `version` into `plan`. */
function measure(p: Packet, version: ProtocolVersion): number {
  const v5 = version === 5;
  plan.props = 0;
  plan.willProps = 0;
  let n: number;
  switch (p.type) {
    case PacketType.Connect: {
      const name = p.protocolName || (version === 3 ? 'MQIsdp' : 'MQTT');
      n = 2 + utf8Length(name) + 1 + 1 + 2;
      if (v5) {
        plan.props = propertiesLength(p.properties, PacketType.Connect);
        n += propsBlock(plan.props);
      }
      n += 2 + utf8Length(p.clientId);
      if (p.will !== undefined) {
        if (v5) {
          plan.willProps = propertiesLength(p.will.properties, WILL_PROPERTIES);
          n += propsBlock(plan.willProps);
        }
        n += 2 + utf8Length(p.will.topic) + 2 + p.will.payload.length;
      }
      if (p.username !== undefined) n += 2 + utf8Length(p.username);
      if (p.password !== undefined) n += 2 + p.password.length;
      break;
    }
    case PacketType.Connack:
      n = 2;
      if (v5) {
        plan.props = propertiesLength(p.properties, PacketType.Connack);
        n += propsBlock(plan.props);
      }
      break;
    case PacketType.Publish:
      n = 2 + utf8Length(p.topic) + (p.qos > 0 ? 2 : 0) + p.payload.length;
      if (v5) {
        plan.props = propertiesLength(p.properties, PacketType.Publish);
        n += propsBlock(plan.props);
      }
      break;
    case PacketType.Puback:
    case PacketType.Pubrec:
    case PacketType.Pubrel:
    case PacketType.Pubcomp:
      n = 2;
      if (v5) {
        plan.props = propertiesLength(p.properties, p.type);
        const tail = ackHasTail(p, plan.props);
        if (tail >= 1) n += 1;
        if (tail === 2) n += propsBlock(plan.props);
      }
      break;
    case PacketType.Subscribe:
      n = 2;
      if (v5) {
        plan.props = propertiesLength(p.properties, PacketType.Subscribe);
        n += propsBlock(plan.props);
      }
      for (const s of p.subscriptions) n += 3 + utf8Length(s.topicFilter);
      break;
    case PacketType.Suback:
      n = 2 + p.reasonCodes.length;
      if (v5) {
        plan.props = propertiesLength(p.properties, PacketType.Suback);
        n += propsBlock(plan.props);
      }
      break;
    case PacketType.Unsubscribe:
      n = 2;
      if (v5) {
        plan.props = propertiesLength(p.properties, PacketType.Unsubscribe);
        n += propsBlock(plan.props);
      }
      for (const f of p.topicFilters) n += 2 + utf8Length(f);
      break;
    case PacketType.Unsuback:
      n = 2;
      if (v5) {
        plan.props = propertiesLength(p.properties, PacketType.Unsuback);
        n += propsBlock(plan.props) + p.reasonCodes.length;
      }
      break;
    case PacketType.Pingreq:
    case PacketType.Pingresp:
      n = 0;
      break;
    case PacketType.Disconnect:
    case PacketType.Auth:
      if (p.type === PacketType.Auth && !v5) throw new TypeError('AUTH packets exist only in MQTT 5.0');
      n = 0;
      if (v5) {
        plan.props = propertiesLength(p.properties, p.type);
        const tail = ackHasTail(p, plan.props);
        if (tail >= 1) n += 1;
        if (tail === 2) n += propsBlock(plan.props);
      }
      break;
    default:
      return assertNever(p);
  }
  if (n > MAX_VARINT) throw new RangeError(`packet too large to encode: remaining length ${n}`);
  plan.remaining = n;
  return n;
}

/** The exact number of bytes `encode(p, version)` produces. */
export function encodedSize(p: Packet, version: ProtocolVersion): number {
  const n = measure(p, version);
  return 1 + varintSize(n) + n;
}

function firstByte(p: Packet): number {
  switch (p.type) {
    case PacketType.Publish:
      return 0x30 | (p.dup ? 8 : 0) | (p.qos << 1) | (p.retain ? 1 : 0);
    case PacketType.Pubrel:
    case PacketType.Subscribe:
    case PacketType.Unsubscribe:
      return (p.type << 4) | 0b0010;
    default:
      return p.type << 4;
  }
}

/** Encodes one packet for a peer speaking `version`. Reason codes are MQTT 5's; mapped for 3.x here. */
export function encode(p: Packet, version: ProtocolVersion): Buffer {
  const rl = measure(p, version);
  const w = new Writer(1 + varintSize(rl) + rl);
  w.u8(firstByte(p));
  w.varint(rl);
  writeBody(w, p, version, true);
  return w.buf;
}

/**
 * Encodes a PUBLISH without its payload: write `[header, packet.payload]` (e.g. with writev) to send it.
 * The payload buffer is shared, never copied, however many subscribers receive it.
 */
export function encodePublishHeader(p: PublishPacket, version: ProtocolVersion): Buffer {
  const rl = measure(p, version);
  const headerLen = 1 + varintSize(rl) + rl - p.payload.length;
  const w = new Writer(headerLen);
  w.u8(firstByte(p));
  w.varint(rl);
  writeBody(w, p, version, false);
  return w.buf;
}

/** The last PUBLISH encoded by `encodePublishShared`: what its bytes were made from, and the bytes. */
const shared = {
  topic: '',
  payload: undefined as Buffer | undefined,
  properties: undefined as Properties | undefined,
  v5: false,
  first: -1,
  bytes: undefined as Buffer | undefined,
  /** Offset of the packet identifier in `bytes` (QoS 1/2), found on first reuse; 0 = not yet. */
  idAt: 0,
};

/**
 * Encodes a PUBLISH, reusing the bytes of the previous call when they were made from the same topic,
 * payload and properties objects and the same flags, which is what a fan-out does: the broker hands the
 * subscribers of one message one PublishPacket each, built from the message's fields. QoS 0 gets the very
 * same buffer (never modify it); QoS 1/2 a copy with its own packet identifier. MQTT 3.1 and 3.1.1 PUBLISHes
 * are the same bytes.
 */
export function encodePublishShared(p: PublishPacket, version: ProtocolVersion): Buffer {
  const c = shared;
  const first = firstByte(p);
  const v5 = version === 5;
  if (
    c.bytes !== undefined &&
    c.payload === p.payload &&
    c.topic === p.topic &&
    c.properties === p.properties &&
    c.first === first &&
    c.v5 === v5
  ) {
    if (p.qos === 0) return c.bytes;
    if (c.idAt === 0) {
      // After the fixed header's remaining length and the topic.
      let i = 1;
      while (c.bytes[i]! & 0x80) i++;
      c.idAt = i + 1 + 2 + utf8Length(p.topic);
    }
    const b = Buffer.allocUnsafe(c.bytes.length);
    c.bytes.copy(b);
    const id = p.packetId!;
    b[c.idAt] = id >> 8;
    b[c.idAt + 1] = id & 0xff;
    return b;
  }
  const bytes = encode(p, version);
  c.topic = p.topic;
  c.payload = p.payload;
  c.properties = p.properties;
  c.first = first;
  c.v5 = v5;
  c.bytes = bytes;
  c.idAt = 0;
  return bytes;
}

function writeBody(w: Writer, p: Packet, version: ProtocolVersion, withPayload: boolean): void {
  const v5 = version === 5;
  switch (p.type) {
    case PacketType.Connect: {
      const name = p.protocolName || (version === 3 ? 'MQIsdp' : 'MQTT');
      w.utf8(name, utf8Length(name));
      w.u8(version);
      let flags = 0;
      if (p.username !== undefined) flags |= 0x80;
      if (p.password !== undefined) flags |= 0x40;
      if (p.will !== undefined) {
        flags |= 0x04 | (p.will.qos << 3);
        if (p.will.retain) flags |= 0x20;
      }
      if (p.clean) flags |= 0x02;
      w.u8(flags);
      w.u16(p.keepAlive);
      if (v5) writeProperties(w, p.properties, plan.props);
      w.utf8(p.clientId, utf8Length(p.clientId));
      if (p.will !== undefined) {
        if (v5) writeProperties(w, p.will.properties, plan.willProps);
        w.utf8(p.will.topic, utf8Length(p.will.topic));
        w.binary(p.will.payload);
      }
      if (p.username !== undefined) w.utf8(p.username, utf8Length(p.username));
      if (p.password !== undefined) w.binary(p.password);
      return;
    }
    case PacketType.Connack:
      w.u8(p.sessionPresent ? 1 : 0);
      w.u8(v5 ? p.reasonCode : connackReasonToV3(p.reasonCode));
      if (v5) writeProperties(w, p.properties, plan.props);
      return;
    case PacketType.Publish:
      w.utf8(p.topic, utf8Length(p.topic));
      if (p.qos > 0) w.u16(p.packetId ?? 0);
      if (v5) writeProperties(w, p.properties, plan.props);
      if (withPayload) w.raw(p.payload);
      return;
    case PacketType.Puback:
    case PacketType.Pubrec:
    case PacketType.Pubrel:
    case PacketType.Pubcomp: {
      w.u16(p.packetId);
      if (v5) writeReasonTail(w, p, plan.props);
      return;
    }
    case PacketType.Subscribe:
      w.u16(p.packetId);
      if (v5) writeProperties(w, p.properties, plan.props);
      for (const s of p.subscriptions) {
        w.utf8(s.topicFilter, utf8Length(s.topicFilter));
        let o = s.qos;
        if (v5) {
          if (s.noLocal) o |= 4;
          if (s.retainAsPublished) o |= 8;
          o |= s.retainHandling << 4;
        }
        w.u8(o);
      }
      return;
    case PacketType.Suback:
      w.u16(p.packetId);
      if (v5) writeProperties(w, p.properties, plan.props);
      for (const rc of p.reasonCodes) w.u8(v5 || rc < 0x80 ? rc : 0x80);
      return;
    case PacketType.Unsubscribe:
      w.u16(p.packetId);
      if (v5) writeProperties(w, p.properties, plan.props);
      for (const f of p.topicFilters) w.utf8(f, utf8Length(f));
      return;
    case PacketType.Unsuback:
      w.u16(p.packetId);
      if (v5) {
        writeProperties(w, p.properties, plan.props);
        for (const rc of p.reasonCodes) w.u8(rc);
      }
      return;
    case PacketType.Pingreq:
    case PacketType.Pingresp:
      return;
    case PacketType.Disconnect:
    case PacketType.Auth:
      if (v5) writeReasonTail(w, p, plan.props);
      return;
    default:
      assertNever(p);
  }
}

function writeReasonTail(
  w: Writer,
  p: { reasonCode: number; properties?: Properties },
  propsLen: number,
): void {
  const tail = ackHasTail(p, propsLen);
  if (tail >= 1) w.u8(p.reasonCode);
  if (tail === 2) writeProperties(w, p.properties, propsLen);
}
