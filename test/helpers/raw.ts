/**
 * Helpers for broker tests that speak MQTT through a {@link RawClient} (our codec, exact packets).
 *
 * Every helper that waits for a packet asserts its type (and, where it says so, its contents), so a test
 * fails at the first unexpected packet with the packet in the message, instead of on a later field access.
 */
import assert from 'node:assert/strict';
import {
  type ConnackPacket,
  type ConnectPacket,
  type Packet,
  PacketType,
  type Properties,
  type ProtocolVersion,
  type PublishPacket,
  type QoS,
  type SubackPacket,
  type Subscription,
} from '../../src/codec/index.js';
import type { Message } from '../../src/core/message.js';
import { connectPacket, type RawClient, type TestBroker } from './broker.js';

/** The protocol level's name, as test titles show it: `(3.1)`, `(3.1.1)`, `(5.0)`. */
export const VERSION_NAME: Record<ProtocolVersion, string> = { 3: '3.1', 4: '3.1.1', 5: '5.0' };

/** `{ v, name }` for each protocol level given, for loops that name the level in test titles. */
export function versions(...vs: ProtocolVersion[]): { v: ProtocolVersion; name: string }[] {
  return vs.map((v) => ({ v, name: VERSION_NAME[v] }));
}

/** Fields of a CONNECT to override the defaults of {@link connectPacket} with. */
export type ConnectOver = Omit<Partial<ConnectPacket>, 'type'>;

/** What the connect helpers take: a client id, overrides for {@link connectPacket}, or a whole CONNECT. */
export type ConnectSpec = string | ConnectOver | Packet;

/** The next packet, which must be of `type` (rejects after `ms` or when the connection closes first). */
export async function expectPacket<T extends Packet['type']>(
  r: RawClient,
  type: T,
  ms = 2000,
): Promise<Extract<Packet, { type: T }>> {
  const p = await r.next(ms);
  assert.equal(p.type, type, `expected packet type ${type}, got ${JSON.stringify(p)}`);
  return p as Extract<Packet, { type: T }>;
}

/**
 * Sends a CONNECT on an open raw client and returns the CONNACK, asserting it is a CONNACK with reason code
 * 0x00 (Success). `connect` is a client id, overrides for `connectPacket(r.version, …)`, or a whole packet
 * (sent as given, e.g. with another protocol level than the client decodes).
 */
export async function connectOk(r: RawClient, connect: ConnectSpec = {}): Promise<ConnackPacket> {
  r.send(toConnect(r.version, connect));
  const ack = await expectPacket(r, PacketType.Connack);
  assert.equal(ack.reasonCode, 0, `CONNACK refused: ${JSON.stringify(ack)}`);
  return ack;
}

/**
 * Opens a raw client of `version`, sends CONNECT and returns the CONNACK reason code (MQTT 3.x return codes come
 * back as their MQTT 5 equivalents). The connection stays open (it counts for per-IP limits) unless `close`.
 */
export async function connackCode(
  b: TestBroker,
  version: ProtocolVersion,
  connect: ConnectSpec,
  close = false,
): Promise<number> {
  const r = await b.raw(version);
  r.send(toConnect(version, connect));
  const ack = await expectPacket(r, PacketType.Connack);
  if (close) r.destroy();
  return ack.reasonCode;
}

/** Opens a raw client of `version`, connects it ({@link connectOk}) and returns it with its CONNACK. */
export async function rawConnect(
  b: TestBroker,
  version: ProtocolVersion,
  connect: ConnectSpec = {},
): Promise<{ r: RawClient; connack: ConnackPacket }> {
  const r = await b.raw(version);
  const connack = await connectOk(r, connect);
  return { r, connack };
}

/** {@link rawConnect} for callers that need only the client (the CONNACK is still checked). */
export async function connected(
  b: TestBroker,
  version: ProtocolVersion,
  connect: ConnectSpec = {},
): Promise<RawClient> {
  return (await rawConnect(b, version, connect)).r;
}

function toConnect(version: ProtocolVersion, connect: ConnectSpec): Packet {
  if (typeof connect === 'string') return connectPacket(version, { clientId: connect });
  if ('type' in connect) return connect as Packet;
  return connectPacket(version, connect);
}

/** Session Expiry Interval a v5 CONNECT needs for a session that outlives the connection. */
export const PERSIST: Properties = { sessionExpiryInterval: 60 };

/**
 * CONNECT overrides that keep the session: Clean Session 0 (3.x) / Clean Start 0 with `props`
 * (by default a Session Expiry Interval of 60 s) for 5.0.
 */
export function persistent(
  version: ProtocolVersion,
  clientId: string,
  props: Properties = PERSIST,
): ConnectOver {
  return { clientId, clean: false, properties: version === 5 ? props : undefined };
}

/** A subscription to `topicFilter` at `qos`, with the v5 options off unless `more` sets them. */
export function opt(topicFilter: string, qos: QoS, more: Partial<Subscription> = {}): Subscription {
  return { topicFilter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0, ...more };
}

/**
 * Sends SUBSCRIBE and returns the SUBACK, asserting its type and packet id. Two forms:
 * - `subscribe(r, filter, qos = 1, packetId = 1)`: one filter; also asserts the broker granted `qos`.
 * - `subscribe(r, subs, packetId = 1, properties?)`: any subscriptions (see {@link opt}); the caller checks
 *   the reason codes.
 */
export async function subscribe(
  r: RawClient,
  filter: string,
  qos?: QoS,
  packetId?: number,
): Promise<SubackPacket>;
export async function subscribe(
  r: RawClient,
  subs: Subscription[],
  packetId?: number,
  properties?: Properties,
): Promise<SubackPacket>;
export async function subscribe(
  r: RawClient,
  what: string | Subscription[],
  a?: number,
  b?: number | Properties,
): Promise<SubackPacket> {
  const single = typeof what === 'string';
  const subs = single ? [opt(what, (a ?? 1) as QoS)] : what;
  const packetId = (single ? (b as number | undefined) : a) ?? 1;
  const properties = single ? undefined : (b as Properties | undefined);
  r.send({ type: PacketType.Subscribe, packetId, subscriptions: subs, properties });
  const ack = await expectPacket(r, PacketType.Suback);
  assert.equal(ack.packetId, packetId);
  if (single) assert.deepEqual(ack.reasonCodes, [subs[0]!.qos]);
  return ack;
}

let nextPid = 100;
/**
 * Publishes from a raw client and waits for the acknowledgement (QoS 1: PUBACK; QoS 2: the whole flow;
 * QoS 0: a PINGRESP). Returns the other packets that arrived meanwhile (the publisher's own deliveries).
 */
export async function publish(
  r: RawClient,
  topic: string,
  payload: string,
  qos: QoS = 1,
  more: Partial<PublishPacket> = {},
): Promise<Packet[]> {
  const packetId = qos > 0 ? nextPid++ : undefined;
  r.send({
    type: PacketType.Publish,
    topic,
    payload: Buffer.from(payload),
    qos,
    retain: false,
    dup: false,
    packetId,
    ...more,
  });
  if (qos === 0) return settle(r);
  const other: Packet[] = [];
  const until = async (type: Packet['type']): Promise<void> => {
    for (;;) {
      const p = await r.next();
      if (p.type === type && 'packetId' in p && p.packetId === packetId) return;
      other.push(p);
    }
  };
  if (qos === 1) {
    await until(PacketType.Puback);
  } else {
    await until(PacketType.Pubrec);
    r.send({ type: PacketType.Pubrel, packetId: packetId!, reasonCode: 0 });
    await until(PacketType.Pubcomp);
  }
  return other;
}

/**
 * A latch instead of a sleep: PINGREQ, then every packet that arrives before PINGRESP. The broker handles a
 * connection's packets in order and writes in order, so whatever earlier work made it send is in the list.
 */
export async function settle(r: RawClient): Promise<Packet[]> {
  r.send({ type: PacketType.Pingreq });
  const got: Packet[] = [];
  for (;;) {
    const p = await r.next();
    if (p.type === PacketType.Pingresp) return got;
    got.push(p);
  }
}

/** Resolves once the broker has seen the connection of `clientId` end (for sockets destroyed by the client). */
export function disconnected(b: TestBroker, clientId: string, ms = 2000): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      off();
      reject(new Error(`broker did not notice ${clientId} disconnecting within ${ms} ms`));
    }, ms);
    const off = b.broker.hooks.on('client.disconnected', (c) => {
      if (c.clientId !== clientId) return;
      clearTimeout(t);
      off();
      resolve();
    });
  });
}

/** A QoS 0 message published by the broker itself (as `$SYS` does), to pass to `b.broker.publish`. */
export function serverMessage(topic: string, payload: string, retain = false): Message {
  return {
    topic,
    payload: Buffer.from(payload),
    qos: 0,
    retain,
    properties: undefined,
    expiresAt: 0,
    from: '',
    receivedAt: Date.now(),
  };
}
