import { MAX_VARINT, PacketType, ReasonCode } from './constants.js';
import { CodecError, malformed, protocolError } from './errors.js';
import type { Properties, UserProperty } from './packets.js';
import { type Reader, utf8Length, varintSize, type Writer } from './wire.js';

/** Will Properties live in the CONNECT payload; this pseudo packet type names them in the table. */
export const WILL_PROPERTIES = 0;

export type PropertyWireType = 'byte' | 'u16' | 'u32' | 'varint' | 'utf8' | 'binary' | 'pair';

export interface PropertyDef {
  id: number;
  key: keyof Properties;
  /** The spec's name, e.g. "Session Expiry Interval". */
  name: string;
  wire: PropertyWireType;
  /** Packet types (and WILL_PROPERTIES) the property may appear in (MQTT 5.0 §2.2.2.2). */
  packets: ReadonlySet<number>;
}

const P = PacketType;
const ACKS = [P.Puback, P.Pubrec, P.Pubrel, P.Pubcomp];
const ALL_WITH_PROPS = [
  P.Connect,
  P.Connack,
  P.Publish,
  WILL_PROPERTIES,
  ...ACKS,
  P.Subscribe,
  P.Suback,
  P.Unsubscribe,
  P.Unsuback,
  P.Disconnect,
  P.Auth,
];

function def(
  id: number,
  key: keyof Properties,
  name: string,
  wire: PropertyWireType,
  packets: number[],
): PropertyDef {
  return { id, key, name, wire, packets: new Set(packets) };
}

/** Every MQTT 5.0 property, with its identifier, wire type and the packets it may appear in. */
export const PROPERTY_TABLE: readonly PropertyDef[] = [
  def(0x01, 'payloadFormatIndicator', 'Payload Format Indicator', 'byte', [P.Publish, WILL_PROPERTIES]),
  def(0x02, 'messageExpiryInterval', 'Message Expiry Interval', 'u32', [P.Publish, WILL_PROPERTIES]),
  def(0x03, 'contentType', 'Content Type', 'utf8', [P.Publish, WILL_PROPERTIES]),
  def(0x08, 'responseTopic', 'Response Topic', 'utf8', [P.Publish, WILL_PROPERTIES]),
  def(0x09, 'correlationData', 'Correlation Data', 'binary', [P.Publish, WILL_PROPERTIES]),
  def(0x0b, 'subscriptionIdentifiers', 'Subscription Identifier', 'varint', [P.Publish, P.Subscribe]),
  def(0x11, 'sessionExpiryInterval', 'Session Expiry Interval', 'u32', [P.Connect, P.Connack, P.Disconnect]),
  def(0x12, 'assignedClientIdentifier', 'Assigned Client Identifier', 'utf8', [P.Connack]),
  def(0x13, 'serverKeepAlive', 'Server Keep Alive', 'u16', [P.Connack]),
  def(0x15, 'authenticationMethod', 'Authentication Method', 'utf8', [P.Connect, P.Connack, P.Auth]),
  def(0x16, 'authenticationData', 'Authentication Data', 'binary', [P.Connect, P.Connack, P.Auth]),
  def(0x17, 'requestProblemInformation', 'Request Problem Information', 'byte', [P.Connect]),
  def(0x18, 'willDelayInterval', 'Will Delay Interval', 'u32', [WILL_PROPERTIES]),
  def(0x19, 'requestResponseInformation', 'Request Response Information', 'byte', [P.Connect]),
  def(0x1a, 'responseInformation', 'Response Information', 'utf8', [P.Connack]),
  def(0x1c, 'serverReference', 'Server Reference', 'utf8', [P.Connack, P.Disconnect]),
  def(0x1f, 'reasonString', 'Reason String', 'utf8', [
    P.Connack,
    ...ACKS,
    P.Suback,
    P.Unsuback,
    P.Disconnect,
    P.Auth,
  ]),
  def(0x21, 'receiveMaximum', 'Receive Maximum', 'u16', [P.Connect, P.Connack]),
  def(0x22, 'topicAliasMaximum', 'Topic Alias Maximum', 'u16', [P.Connect, P.Connack]),
  def(0x23, 'topicAlias', 'Topic Alias', 'u16', [P.Publish]),
  def(0x24, 'maximumQos', 'Maximum QoS', 'byte', [P.Connack]),
  def(0x25, 'retainAvailable', 'Retain Available', 'byte', [P.Connack]),
  def(0x26, 'userProperties', 'User Property', 'pair', ALL_WITH_PROPS),
  def(0x27, 'maximumPacketSize', 'Maximum Packet Size', 'u32', [P.Connect, P.Connack]),
  def(0x28, 'wildcardSubscriptionAvailable', 'Wildcard Subscription Available', 'byte', [P.Connack]),
  def(0x29, 'subscriptionIdentifierAvailable', 'Subscription Identifier Available', 'byte', [P.Connack]),
  def(0x2a, 'sharedSubscriptionAvailable', 'Shared Subscription Available', 'byte', [P.Connack]),
];

const BY_ID: (PropertyDef | undefined)[] = [];
for (const d of PROPERTY_TABLE) BY_ID[d.id] = d;
export const PROPERTY_BY_KEY: ReadonlyMap<string, PropertyDef> = new Map(
  PROPERTY_TABLE.map((d) => [d.key, d]),
);

/** Byte-valued properties whose only legal values are 0 and 1. */
const BOOLEAN_BYTE = new Set([0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2a]);

function where(ptype: number): string {
  return ptype === WILL_PROPERTIES ? 'Will Properties' : `${packetName(ptype)} properties`;
}

function packetName(ptype: number): string {
  return (
    [
      'WILL',
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
    ][ptype] ?? `packet type ${ptype}`
  );
}

/**
 * Reads a property block (length + properties) for packet type `ptype`. Checks: the block fits the packet,
 * every identifier is known and allowed in this packet (Malformed Packet), no property other than User
 * Property (and Subscription Identifier in PUBLISH) appears twice (Protocol Error), values in range.
 */
export function readProperties(r: Reader, ptype: number): Properties | undefined {
  const len = r.varint(`${where(ptype)} length`);
  if (len === 0) return undefined;
  r.need(len, `${where(ptype)}`);
  const outerEnd = r.end;
  const end = r.pos + len;
  r.end = end;
  const props: Properties = {};
  const seen: number[] = [];
  while (r.pos < end) {
    const id = r.varint('property identifier');
    const d = BY_ID[id];
    if (d === undefined) throw malformed(`${where(ptype)}: unknown property identifier 0x${id.toString(16)}`);
    if (!d.packets.has(ptype)) throw malformed(`${where(ptype)}: ${d.name} is not allowed here`);
    if (id !== 0x26 && !(id === 0x0b && ptype === P.Publish)) {
      if (seen.includes(id)) throw protocolError(`${where(ptype)}: ${d.name} included more than once`);
      seen.push(id);
    }
    switch (d.wire) {
      case 'byte': {
        const v = r.u8(d.name);
        if (BOOLEAN_BYTE.has(id) && v > 1) throw protocolError(`${d.name} must be 0 or 1, got ${v}`);
        (props as Record<string, unknown>)[d.key] = v;
        break;
      }
      case 'u16': {
        const v = r.u16(d.name);
        if (v === 0 && id === 0x21) throw protocolError(`${d.name} must not be 0`);
        // Topic Alias 0 is not permitted [MQTT-3.3.2-8]: answered with 0x94 Topic Alias invalid, as Mosquitto does.
        if (v === 0 && id === 0x23)
          throw new CodecError(ReasonCode.TopicAliasInvalid, `${d.name} must not be 0`);
        (props as Record<string, unknown>)[d.key] = v;
        break;
      }
      case 'u32': {
        const v = r.u32(d.name);
        if (v === 0 && id === 0x27) throw protocolError(`${d.name} must not be 0`);
        (props as Record<string, unknown>)[d.key] = v;
        break;
      }
      case 'varint': {
        const v = r.varint(d.name);
        if (v === 0) throw protocolError(`${d.name} must not be 0`);
        if (props.subscriptionIdentifiers === undefined) props.subscriptionIdentifiers = [v];
        else props.subscriptionIdentifiers.push(v);
        break;
      }
      case 'utf8':
        (props as Record<string, unknown>)[d.key] = r.utf8(d.name);
        break;
      case 'binary':
        (props as Record<string, unknown>)[d.key] = r.binary(d.name);
        break;
      case 'pair': {
        const k = r.utf8('User Property name');
        const v = r.utf8('User Property value');
        const pair: UserProperty = [k, v];
        if (props.userProperties === undefined) props.userProperties = [pair];
        else props.userProperties.push(pair);
        break;
      }
    }
  }
  if (r.pos !== end) throw malformed(`${where(ptype)}: property overruns the property length`);
  r.end = outerEnd;
  return props;
}

/**
 * Size in bytes of the properties' content, without the length prefix. Properties not allowed in `ptype`
 * are a programming error and throw.
 */
export function propertiesLength(props: Properties | undefined, ptype: number): number {
  if (props === undefined) return 0;
  let n = 0;
  for (const key in props) {
    const v = (props as Record<string, unknown>)[key];
    if (v === undefined) continue;
    const d = PROPERTY_BY_KEY.get(key);
    if (d === undefined) throw new TypeError(`unknown MQTT property "${key}"`);
    if (!d.packets.has(ptype)) throw new TypeError(`${d.name} is not allowed in ${where(ptype)}`);
    switch (d.wire) {
      case 'byte':
        n += 2;
        break;
      case 'u16':
        n += 3;
        break;
      case 'u32':
        n += 5;
        break;
      case 'varint':
        for (const id of v as number[]) {
          if (!Number.isInteger(id) || id < 1 || id > MAX_VARINT) {
            throw new RangeError(`Subscription Identifier out of range: ${id}`);
          }
          n += 1 + varintSize(id);
        }
        break;
      case 'utf8':
        n += 3 + utf8Length(v as string);
        break;
      case 'binary':
        n += 3 + (v as Buffer).length;
        break;
      case 'pair':
        for (const [k, val] of v as UserProperty[]) n += 5 + utf8Length(k) + utf8Length(val);
        break;
    }
  }
  return n;
}

/** Writes the property block: length prefix, then the properties (length computed by propertiesLength). */
export function writeProperties(w: Writer, props: Properties | undefined, len: number): void {
  w.varint(len);
  if (props === undefined || len === 0) return;
  for (const key in props) {
    const v = (props as Record<string, unknown>)[key];
    if (v === undefined) continue;
    const d = PROPERTY_BY_KEY.get(key)!;
    switch (d.wire) {
      case 'byte':
        w.u8(d.id);
        w.u8(v as number);
        break;
      case 'u16':
        w.u8(d.id);
        w.u16(v as number);
        break;
      case 'u32':
        w.u8(d.id);
        w.u32(v as number);
        break;
      case 'varint':
        for (const id of v as number[]) {
          w.u8(d.id);
          w.varint(id);
        }
        break;
      case 'utf8':
        w.u8(d.id);
        w.utf8(v as string, utf8Length(v as string));
        break;
      case 'binary':
        w.u8(d.id);
        w.binary(v as Buffer);
        break;
      case 'pair':
        for (const [k, val] of v as UserProperty[]) {
          w.u8(d.id);
          w.utf8(k, utf8Length(k));
          w.utf8(val, utf8Length(val));
        }
        break;
    }
  }
}
