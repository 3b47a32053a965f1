/**
 * Maps between Petrel's packet shape and mqtt-packet's (the oracle in the differential tests and the
 * baseline in the codec benchmark), and normalises what the two represent differently.
 *
 * Known representation differences, normalised here rather than skipped:
 * - mqtt-packet keeps User Properties in an object keyed by name (a repeated name becomes an array of values),
 *   so the order of pairs with different names is not preserved; `normalise` sorts pairs by name (stably,
 *   so the order of values under one name, which both keep, is still checked).
 * - mqtt-packet decodes byte properties other than Maximum QoS as booleans and needs booleans to encode them.
 * - Property names: `maximumQoS` (ours `maximumQos`), `subscriptionIdentifiersAvailable` (ours
 *   `subscriptionIdentifierAvailable`), `subscriptionIdentifier` as a number or an array (ours always an
 *   array `subscriptionIdentifiers`).
 * - MQTT 3.x CONNACK: mqtt-packet has the raw `returnCode`; Petrel maps it to an MQTT 5 reason code.
 * - mqtt-packet has no reason code in 3.1.1 acks / DISCONNECT and no `reasonCodes` in a 3.1.1 UNSUBACK.
 *
 * A real mqtt-packet bug is modelled by `asMqttPacketParses`: its parser tests the value already stored for a
 * User Property name for truthiness, so a value '' is replaced by the next value with the same name (the pair
 * ["k", ""] followed by ["k", "x"] parses as just ["k", "x"]).
 */
import {
  connackReasonToV3,
  connackV3ToReason,
  type Packet,
  PacketType,
  type Properties,
  type ProtocolVersion,
  type UserProperty,
} from '../../src/codec/index.js';

// biome-ignore lint/suspicious/noExplicitAny: mqtt-packet's packets are loosely typed objects
export type MpPacket = Record<string, any>;

const CMD: Record<number, string> = {
  1: 'connect',
  2: 'connack',
  3: 'publish',
  4: 'puback',
  5: 'pubrec',
  6: 'pubrel',
  7: 'pubcomp',
  8: 'subscribe',
  9: 'suback',
  10: 'unsubscribe',
  11: 'unsuback',
  12: 'pingreq',
  13: 'pingresp',
  14: 'disconnect',
  15: 'auth',
};
const TYPE: Record<string, number> = Object.fromEntries(Object.entries(CMD).map(([k, v]) => [v, Number(k)]));

/** Byte properties mqtt-packet represents as booleans. */
const BOOL_PROPS = new Set([
  'payloadFormatIndicator',
  'requestProblemInformation',
  'requestResponseInformation',
  'retainAvailable',
  'wildcardSubscriptionAvailable',
  'subscriptionIdentifierAvailable',
  'sharedSubscriptionAvailable',
]);
const TO_MP_NAME: Record<string, string> = {
  maximumQos: 'maximumQoS',
  subscriptionIdentifierAvailable: 'subscriptionIdentifiersAvailable',
  subscriptionIdentifiers: 'subscriptionIdentifier',
};
const FROM_MP_NAME: Record<string, string> = Object.fromEntries(
  Object.entries(TO_MP_NAME).map(([k, v]) => [v, k]),
);

export function propsToMp(props: Properties | undefined): MpPacket | undefined {
  if (props === undefined) return undefined;
  const out: MpPacket = {};
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined) continue;
    const name = TO_MP_NAME[k] ?? k;
    if (k === 'userProperties') {
      const obj: Record<string, string | string[]> = {};
      for (const [n, val] of v as UserProperty[]) {
        const prev = obj[n];
        if (prev === undefined) obj[n] = val;
        else if (Array.isArray(prev)) prev.push(val);
        else obj[n] = [prev, val];
      }
      out[name] = obj;
    } else if (k === 'subscriptionIdentifiers') {
      const ids = v as number[];
      out[name] = ids.length === 1 ? ids[0] : ids;
    } else if (BOOL_PROPS.has(k)) {
      out[name] = v === 1;
    } else {
      out[name] = v;
    }
  }
  return out;
}

export function propsFromMp(mp: MpPacket | undefined): Properties | undefined {
  if (mp === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(mp)) {
    const name = FROM_MP_NAME[k] ?? k;
    if (k === 'userProperties') {
      const pairs: UserProperty[] = [];
      for (const [n, val] of Object.entries(v as Record<string, string | string[]>)) {
        for (const x of Array.isArray(val) ? val : [val]) pairs.push([n, x]);
      }
      out[name] = pairs;
    } else if (k === 'subscriptionIdentifier') {
      out[name] = Array.isArray(v) ? v : [v];
    } else if (BOOL_PROPS.has(name)) {
      out[name] = v ? 1 : 0;
    } else {
      out[name] = v;
    }
  }
  return Object.keys(out).length > 0 ? (out as Properties) : undefined;
}

function setProps(target: MpPacket, props: Properties | undefined): void {
  const mp = propsToMp(props);
  if (mp !== undefined) target.properties = mp;
}

/** Petrel packet -> the object mqtt-packet's `generate` takes. */
export function toMp(p: Packet, version: ProtocolVersion): MpPacket {
  const v5 = version === 5;
  const o: MpPacket = { cmd: CMD[p.type] };
  switch (p.type) {
    case PacketType.Connect:
      Object.assign(o, {
        protocolId: p.protocolName,
        protocolVersion: p.protocolVersion,
        clean: p.clean,
        keepalive: p.keepAlive,
        clientId: p.clientId,
      });
      if (p.username !== undefined) o.username = p.username;
      if (p.password !== undefined) o.password = p.password;
      if (p.will !== undefined) {
        o.will = { topic: p.will.topic, payload: p.will.payload, qos: p.will.qos, retain: p.will.retain };
        setProps(o.will, p.will.properties);
      }
      setProps(o, p.properties);
      return o;
    case PacketType.Connack:
      o.sessionPresent = p.sessionPresent;
      if (v5) o.reasonCode = p.reasonCode;
      else o.returnCode = connackReasonToV3(p.reasonCode);
      setProps(o, p.properties);
      return o;
    case PacketType.Publish:
      Object.assign(o, { topic: p.topic, payload: p.payload, qos: p.qos, retain: p.retain, dup: p.dup });
      if (p.packetId !== undefined) o.messageId = p.packetId;
      setProps(o, p.properties);
      return o;
    case PacketType.Puback:
    case PacketType.Pubrec:
    case PacketType.Pubrel:
    case PacketType.Pubcomp:
      o.messageId = p.packetId;
      o.reasonCode = p.reasonCode;
      setProps(o, p.properties);
      return o;
    case PacketType.Subscribe:
      o.messageId = p.packetId;
      o.subscriptions = p.subscriptions.map((s) => ({
        topic: s.topicFilter,
        qos: s.qos,
        nl: s.noLocal,
        rap: s.retainAsPublished,
        rh: s.retainHandling,
      }));
      setProps(o, p.properties);
      return o;
    case PacketType.Suback:
      o.messageId = p.packetId;
      o.granted = p.reasonCodes;
      setProps(o, p.properties);
      return o;
    case PacketType.Unsubscribe:
      o.messageId = p.packetId;
      o.unsubscriptions = p.topicFilters;
      setProps(o, p.properties);
      return o;
    case PacketType.Unsuback:
      o.messageId = p.packetId;
      if (v5) o.granted = p.reasonCodes;
      setProps(o, p.properties);
      return o;
    case PacketType.Pingreq:
    case PacketType.Pingresp:
      return o;
    case PacketType.Disconnect:
    case PacketType.Auth:
      o.reasonCode = p.reasonCode;
      setProps(o, p.properties);
      return o;
  }
}

/** A packet emitted by mqtt-packet's parser -> Petrel's shape. */
export function fromMp(m: MpPacket, version: ProtocolVersion): Packet {
  const type = TYPE[m.cmd as string];
  const v5 = version === 5;
  const props = propsFromMp(m.properties);
  const withProps = <T extends object>(p: T): T => {
    if (props !== undefined) (p as { properties?: Properties }).properties = props;
    return p;
  };
  switch (type) {
    case PacketType.Connect: {
      const p: Packet = {
        type,
        protocolName: m.protocolId,
        protocolVersion: m.protocolVersion,
        clean: m.clean,
        keepAlive: m.keepalive,
        clientId: m.clientId,
      };
      if (m.will !== undefined) {
        p.will = { topic: m.will.topic, payload: m.will.payload, qos: m.will.qos, retain: m.will.retain };
        const wp = propsFromMp(m.will.properties);
        if (wp !== undefined) p.will.properties = wp;
      }
      if (m.username !== undefined) p.username = m.username;
      if (m.password !== undefined) p.password = m.password;
      return withProps(p);
    }
    case PacketType.Connack:
      return withProps({
        type,
        sessionPresent: m.sessionPresent,
        reasonCode: v5 ? m.reasonCode : connackV3ToReason(m.returnCode),
      });
    case PacketType.Publish: {
      const p: Packet = {
        type,
        topic: m.topic,
        payload: m.payload,
        qos: m.qos,
        retain: m.retain,
        dup: m.dup,
      };
      if (m.qos > 0) p.packetId = m.messageId;
      return withProps(p);
    }
    case PacketType.Puback:
    case PacketType.Pubrec:
    case PacketType.Pubrel:
    case PacketType.Pubcomp:
      return withProps({ type, packetId: m.messageId, reasonCode: m.reasonCode ?? 0 });
    case PacketType.Subscribe:
      return withProps({
        type,
        packetId: m.messageId,
        subscriptions: (m.subscriptions as MpPacket[]).map((s) => ({
          topicFilter: s.topic,
          qos: s.qos,
          noLocal: s.nl ?? false,
          retainAsPublished: s.rap ?? false,
          retainHandling: s.rh ?? 0,
        })),
      });
    case PacketType.Suback:
      return withProps({ type, packetId: m.messageId, reasonCodes: m.granted });
    case PacketType.Unsubscribe:
      return withProps({ type, packetId: m.messageId, topicFilters: m.unsubscriptions });
    case PacketType.Unsuback:
      return withProps({ type, packetId: m.messageId, reasonCodes: m.granted ?? [] });
    case PacketType.Pingreq:
    case PacketType.Pingresp:
      return { type };
    case PacketType.Disconnect:
    case PacketType.Auth:
      return withProps({ type, reasonCode: m.reasonCode ?? 0 });
    default:
      throw new Error(`unknown mqtt-packet cmd ${m.cmd}`);
  }
}

function normaliseProps(props: Properties | undefined): Properties | undefined {
  if (props === undefined) return undefined;
  const out: Properties = { ...props };
  if (out.userProperties !== undefined) {
    // Stable sort by name: the order of values under one name is kept and still compared.
    out.userProperties = [...out.userProperties].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }
  return out;
}

/** A comparable copy: user properties sorted by name, Buffers as plain copies. */
export function normalise(p: Packet): Packet {
  const q = { ...p } as Packet & { properties?: Properties };
  if ('properties' in p && p.properties !== undefined) q.properties = normaliseProps(p.properties);
  if (q.type === PacketType.Connect && q.will !== undefined) {
    q.will = { ...q.will };
    if (q.will.properties !== undefined) q.will.properties = normaliseProps(q.will.properties);
  }
  return q;
}

/** `p` as mqtt-packet's parser would return it (see the header comment): empty user property values lost. */
export function asMqttPacketParses(p: Packet): Packet {
  const fix = (props: Properties | undefined): Properties | undefined => {
    if (props?.userProperties === undefined) return props;
    const state = new Map<string, string | string[]>();
    for (const [k, v] of props.userProperties) {
      const prev = state.get(k);
      if (!prev) state.set(k, v);
      else if (Array.isArray(prev)) prev.push(v);
      else state.set(k, [prev, v]);
    }
    const pairs: UserProperty[] = [];
    for (const [k, v] of state) for (const x of Array.isArray(v) ? v : [v]) pairs.push([k, x]);
    return { ...props, userProperties: pairs };
  };
  const q = { ...p } as Packet & { properties?: Properties };
  if ('properties' in p && p.properties !== undefined) q.properties = fix(p.properties);
  if (q.type === PacketType.Connect && q.will?.properties !== undefined) {
    q.will = { ...q.will, properties: fix(q.will.properties) };
  }
  return q;
}
