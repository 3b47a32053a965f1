import {
  AllowedReasonCodes,
  connackV3ToReason,
  PacketType,
  type ProtocolVersion,
  type QoS,
  ReasonCode,
} from './constants.js';
import { CodecError, malformed, protocolError } from './errors.js';
import type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  PubAckLikePacket,
  PublishPacket,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
  Will,
} from './packets.js';
import { readProperties, WILL_PROPERTIES } from './properties.js';
import { Reader } from './wire.js';

/** The cursor of every packet: parsing is synchronous and nothing keeps it, so one serves all. */
const reader = new Reader(Buffer.alloc(0), 0, 0, false);

/**
 * Parses the body of one packet whose fixed header has already been read: `first` is the fixed header's
 * first byte and [start, end) the variable header + payload. `version` is the protocol level in force on
 * the connection (CONNECT carries its own). Throws CodecError on any violation.
 */
export function parsePacket(
  first: number,
  buf: Buffer,
  start: number,
  end: number,
  version: ProtocolVersion,
  copy: boolean,
): Packet {
  const type = first >> 4;
  const flags = first & 0x0f;
  const r = reader;
  r.buf = buf;
  r.pos = start;
  r.end = end;
  r.copy = copy;
  switch (type) {
    case PacketType.Publish:
      return parsePublish(r, flags, version);
    case PacketType.Puback:
    case PacketType.Pubrec:
    case PacketType.Pubcomp:
      checkFlags(type, flags, 0, version);
      return parseAckLike(r, type, version);
    case PacketType.Pubrel:
      checkFlags(type, flags, 0b0010, version);
      return parseAckLike(r, type, version);
    case PacketType.Connect:
      checkFlags(type, flags, 0, version);
      return parseConnect(r);
    case PacketType.Connack:
      checkFlags(type, flags, 0, version);
      return parseConnack(r, version);
    case PacketType.Subscribe:
      checkFlags(type, flags, 0b0010, version);
      return parseSubscribe(r, version);
    case PacketType.Suback:
      checkFlags(type, flags, 0, version);
      return parseSuback(r, version);
    case PacketType.Unsubscribe:
      checkFlags(type, flags, 0b0010, version);
      return parseUnsubscribe(r, version);
    case PacketType.Unsuback:
      checkFlags(type, flags, 0, version);
      return parseUnsuback(r, version);
    case PacketType.Pingreq:
    case PacketType.Pingresp:
      checkFlags(type, flags, 0, version);
      if (r.remaining() !== 0) throw malformed(`${name(type)} must have a remaining length of 0`);
      return { type } as Packet;
    case PacketType.Disconnect:
      checkFlags(type, flags, 0, version);
      return parseDisconnect(r, version);
    case PacketType.Auth:
      if (version !== 5) throw malformed('AUTH packets exist only in MQTT 5.0 (packet type 15 is reserved)');
      checkFlags(type, flags, 0, version);
      return parseAuth(r);
    default:
      throw malformed('packet type 0 is reserved [MQTT-2.1.2]');
  }
}

function name(type: number): string {
  return [
    '',
    'CONNECT',
    'CONNACK',
    'PUBLISH',
    'PUBACK',
    'PUBREC',
    'PUBREL',
    'PUBCOMP',
    'SUBSCRIBE',
    'SUBACK',
    'UNSUBSCRIBE',
    'UNSUBACK',
    'PINGREQ',
    'PINGRESP',
    'DISCONNECT',
    'AUTH',
  ][type]!;
}

/**
 * The fixed-header flag rule of MQTT 3.1.1 and 5.0 [MQTT-2.2.2-1] [MQTT-2.2.2-2]. MQTT 3.1 (level 3) has no such
 * rule: its DUP / QoS / RETAIN bits exist on every packet and a retried PUBREL, SUBSCRIBE or UNSUBSCRIBE carries
 * DUP (MQTT 3.1 §2.1, e.g. `6a 02 00 01`), so level 3 packets are not checked (as Mosquitto does).
 */
function checkFlags(type: number, flags: number, expected: number, version: ProtocolVersion): void {
  if (flags !== expected && version !== 3) {
    throw malformed(
      `${name(type)} fixed header flags must be 0b${expected.toString(2).padStart(4, '0')}, got 0b${flags
        .toString(2)
        .padStart(4, '0')} [MQTT-2.2.2-1] [MQTT-2.2.2-2]`,
    );
  }
}

function packetId(r: Reader, type: number): number {
  const id = r.u16(`${name(type)} packet identifier`);
  if (id === 0) throw protocolError(`${name(type)} packet identifier must be non-zero [MQTT-2.2.1-3]`);
  return id;
}

function checkReason(type: PacketType, rc: number): number {
  const allowed = AllowedReasonCodes[type];
  if (allowed !== undefined && !allowed.has(rc)) {
    throw protocolError(`reason code 0x${rc.toString(16).padStart(2, '0')} is not valid in ${name(type)}`);
  }
  return rc;
}

function parsePublish(r: Reader, flags: number, version: ProtocolVersion): PublishPacket {
  const qos = (flags >> 1) & 3;
  if (qos === 3) throw malformed('PUBLISH QoS bits must not both be 1 [MQTT-3.3.1-4]');
  const dup = (flags & 8) !== 0;
  if (dup && qos === 0) throw malformed('PUBLISH with QoS 0 must have DUP 0 [MQTT-3.3.1-2]');
  const topic = r.topic('PUBLISH topic name');
  const p: PublishPacket = {
    type: PacketType.Publish,
    topic,
    payload: EMPTY,
    qos: qos as QoS,
    retain: (flags & 1) !== 0,
    dup,
  };
  if (qos > 0) p.packetId = packetId(r, PacketType.Publish);
  if (version === 5) {
    const props = readProperties(r, PacketType.Publish);
    if (props !== undefined) p.properties = props;
  }
  const n = r.remaining();
  if (n > 0) p.payload = r.bytes(n, 'PUBLISH payload');
  return p;
}

const EMPTY = Buffer.alloc(0);

function parseAckLike(r: Reader, type: PubAckLikePacket['type'], version: ProtocolVersion): PubAckLikePacket {
  const id = packetId(r, type);
  const p = { type, packetId: id, reasonCode: 0 } as PubAckLikePacket;
  if (version === 5) {
    if (r.remaining() > 0) p.reasonCode = checkReason(type, r.u8(`${name(type)} reason code`));
    if (r.remaining() > 0) {
      const props = readProperties(r, type);
      if (props !== undefined) p.properties = props;
    }
  }
  if (r.remaining() !== 0) throw malformed(`${name(type)} has ${r.remaining()} unexpected trailing byte(s)`);
  return p;
}

function parseConnect(r: Reader): ConnectPacket {
  const protocolName = r.utf8('CONNECT protocol name');
  const level = r.u8('CONNECT protocol level');
  if (level !== 3 && level !== 4 && level !== 5) {
    throw new CodecError(
      ReasonCode.UnsupportedProtocolVersion,
      `unsupported protocol level ${level} (Petrel speaks 3 = MQTT 3.1, 4 = MQTT 3.1.1, 5 = MQTT 5.0)`,
    );
  }
  const expectedName = level === 3 ? 'MQIsdp' : 'MQTT';
  if (protocolName !== expectedName) {
    throw new CodecError(
      ReasonCode.UnsupportedProtocolVersion,
      `protocol name "${protocolName}" does not match level ${level} (expected "${expectedName}") [MQTT-3.1.2-1]`,
    );
  }
  const version = level as ProtocolVersion;
  const flags = r.u8('CONNECT flags');
  if (flags & 1) throw malformed('CONNECT reserved flag bit 0 must be 0 [MQTT-3.1.2-3]');
  const clean = (flags & 0x02) !== 0;
  const willFlag = (flags & 0x04) !== 0;
  const willQos = (flags >> 3) & 3;
  const willRetain = (flags & 0x20) !== 0;
  const hasPassword = (flags & 0x40) !== 0;
  const hasUsername = (flags & 0x80) !== 0;
  if (!willFlag && (willQos !== 0 || willRetain)) {
    throw malformed(
      'CONNECT Will QoS and Will Retain must be 0 when the Will Flag is 0 [MQTT-3.1.2-11] [MQTT-3.1.2-13]',
    );
  }
  if (willQos === 3) throw malformed('CONNECT Will QoS must not be 3 [MQTT-3.1.2-12]');
  if (version !== 5 && hasPassword && !hasUsername) {
    throw malformed('CONNECT Password Flag set without the User Name Flag [MQTT-3.1.2-22]');
  }
  const keepAlive = r.u16('CONNECT keep alive');
  const p: ConnectPacket = {
    type: PacketType.Connect,
    protocolName,
    protocolVersion: version,
    clean,
    keepAlive,
    clientId: '',
  };
  if (version === 5) {
    const props = readProperties(r, PacketType.Connect);
    if (props !== undefined) p.properties = props;
  }
  p.clientId = r.utf8('CONNECT client identifier');
  if (willFlag) {
    let willProps: ConnectPacket['properties'];
    if (version === 5) willProps = readProperties(r, WILL_PROPERTIES);
    const topic = r.utf8('CONNECT will topic');
    const payload = r.binary('CONNECT will payload');
    const will: Will = { topic, payload, qos: willQos as QoS, retain: willRetain };
    if (willProps !== undefined) will.properties = willProps;
    p.will = will;
  }
  if (hasUsername) p.username = r.utf8('CONNECT user name');
  if (hasPassword) p.password = r.binary('CONNECT password');
  if (r.remaining() !== 0) throw malformed(`CONNECT has ${r.remaining()} unexpected trailing byte(s)`);
  return p;
}

function parseConnack(r: Reader, version: ProtocolVersion): ConnackPacket {
  const ack = r.u8('CONNACK acknowledge flags');
  if (ack & 0xfe)
    throw malformed('CONNACK acknowledge flags bits 7-1 are reserved and must be 0 [MQTT-3.2.2-1]');
  const code = r.u8('CONNACK reason code');
  const p: ConnackPacket = { type: PacketType.Connack, sessionPresent: (ack & 1) === 1, reasonCode: code };
  if (version === 5) {
    checkReason(PacketType.Connack, code);
    const props = readProperties(r, PacketType.Connack);
    if (props !== undefined) p.properties = props;
  } else {
    const rc = connackV3ToReason(code);
    if (rc < 0) throw protocolError(`CONNACK return code ${code} is reserved in MQTT 3.x`);
    p.reasonCode = rc;
  }
  if (r.remaining() !== 0) throw malformed(`CONNACK has ${r.remaining()} unexpected trailing byte(s)`);
  return p;
}

function parseSubscribe(r: Reader, version: ProtocolVersion): SubscribePacket {
  const id = packetId(r, PacketType.Subscribe);
  const p: SubscribePacket = { type: PacketType.Subscribe, packetId: id, subscriptions: [] };
  if (version === 5) {
    const props = readProperties(r, PacketType.Subscribe);
    if (props !== undefined) {
      if (props.subscriptionIdentifiers !== undefined && props.subscriptionIdentifiers.length > 1) {
        throw protocolError('SUBSCRIBE may carry only one Subscription Identifier');
      }
      p.properties = props;
    }
  }
  while (r.remaining() > 0) {
    const topicFilter = r.utf8('SUBSCRIBE topic filter');
    const o = r.u8('SUBSCRIBE options');
    const qos = o & 3;
    if (qos === 3) throw malformed(`SUBSCRIBE requested QoS 3 for "${topicFilter}" [MQTT-3.8.3-4]`);
    let sub: Subscription;
    if (version === 5) {
      if (o & 0xc0) throw malformed('SUBSCRIBE options bits 7-6 are reserved and must be 0 [MQTT-3.8.3-5]');
      const rh = (o >> 4) & 3;
      if (rh === 3) throw protocolError('SUBSCRIBE Retain Handling 3 is reserved [MQTT-3.8.3-5]');
      sub = {
        topicFilter,
        qos: qos as QoS,
        noLocal: (o & 4) !== 0,
        retainAsPublished: (o & 8) !== 0,
        retainHandling: rh as 0 | 1 | 2,
      };
    } else {
      if (o & 0xfc)
        throw malformed('SUBSCRIBE requested QoS bits 7-2 are reserved and must be 0 [MQTT-3-8.3-4]');
      sub = { topicFilter, qos: qos as QoS, noLocal: false, retainAsPublished: false, retainHandling: 0 };
    }
    p.subscriptions.push(sub);
  }
  if (p.subscriptions.length === 0)
    throw protocolError('SUBSCRIBE must contain at least one topic filter [MQTT-3.8.3-3]');
  return p;
}

function parseSuback(r: Reader, version: ProtocolVersion): SubackPacket {
  const id = packetId(r, PacketType.Suback);
  const p: SubackPacket = { type: PacketType.Suback, packetId: id, reasonCodes: [] };
  if (version === 5) {
    const props = readProperties(r, PacketType.Suback);
    if (props !== undefined) p.properties = props;
  }
  while (r.remaining() > 0) {
    const rc = r.u8('SUBACK return code');
    if (version === 5) checkReason(PacketType.Suback, rc);
    else if (rc > 2 && rc !== 0x80)
      throw protocolError(`SUBACK return code 0x${rc.toString(16)} is reserved in MQTT 3.x`);
    p.reasonCodes.push(rc);
  }
  if (p.reasonCodes.length === 0) throw protocolError('SUBACK must contain at least one return code');
  return p;
}

function parseUnsubscribe(r: Reader, version: ProtocolVersion): UnsubscribePacket {
  const id = packetId(r, PacketType.Unsubscribe);
  const p: UnsubscribePacket = { type: PacketType.Unsubscribe, packetId: id, topicFilters: [] };
  if (version === 5) {
    const props = readProperties(r, PacketType.Unsubscribe);
    if (props !== undefined) p.properties = props;
  }
  while (r.remaining() > 0) p.topicFilters.push(r.utf8('UNSUBSCRIBE topic filter'));
  if (p.topicFilters.length === 0) {
    throw protocolError('UNSUBSCRIBE must contain at least one topic filter [MQTT-3.10.3-2]');
  }
  return p;
}

function parseUnsuback(r: Reader, version: ProtocolVersion): UnsubackPacket {
  const id = packetId(r, PacketType.Unsuback);
  const p: UnsubackPacket = { type: PacketType.Unsuback, packetId: id, reasonCodes: [] };
  if (version === 5) {
    const props = readProperties(r, PacketType.Unsuback);
    if (props !== undefined) p.properties = props;
    while (r.remaining() > 0)
      p.reasonCodes.push(checkReason(PacketType.Unsuback, r.u8('UNSUBACK reason code')));
    if (p.reasonCodes.length === 0) throw protocolError('UNSUBACK must contain at least one reason code');
  } else if (r.remaining() !== 0) {
    throw malformed('MQTT 3.x UNSUBACK must have a remaining length of 2');
  }
  return p;
}

function parseDisconnect(r: Reader, version: ProtocolVersion): DisconnectPacket {
  const p: DisconnectPacket = { type: PacketType.Disconnect, reasonCode: 0 };
  if (version === 5) {
    if (r.remaining() > 0) p.reasonCode = checkReason(PacketType.Disconnect, r.u8('DISCONNECT reason code'));
    if (r.remaining() > 0) {
      const props = readProperties(r, PacketType.Disconnect);
      if (props !== undefined) p.properties = props;
    }
  }
  if (r.remaining() !== 0) throw malformed(`DISCONNECT has ${r.remaining()} unexpected trailing byte(s)`);
  return p;
}

function parseAuth(r: Reader): AuthPacket {
  const p: AuthPacket = { type: PacketType.Auth, reasonCode: 0 };
  if (r.remaining() > 0) p.reasonCode = checkReason(PacketType.Auth, r.u8('AUTH reason code'));
  if (r.remaining() > 0) {
    const props = readProperties(r, PacketType.Auth);
    if (props !== undefined) p.properties = props;
  }
  if (r.remaining() !== 0) throw malformed(`AUTH has ${r.remaining()} unexpected trailing byte(s)`);
  return p;
}
