/**
 * MQTT 5.0 flows that span several packets: Topic Alias in both directions, Maximum Packet Size towards the
 * client (drop and count), Message Expiry counted down and enforced on queues, and the retained quota
 * (PUBACK / PUBREC 0x97). Raw v5 clients with exact packets, plus mqtt.js where it resolves aliases itself.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  encodedSize,
  type Packet,
  PacketType,
  type Properties,
  type PublishPacket,
  ReasonCode,
} from '../../src/codec/index.js';
import { collect, type RawClient, startBroker, type TestBroker } from '../helpers/broker.js';
import { FakeClock } from '../helpers/clock.js';
import {
  connected,
  disconnected,
  expectPacket,
  opt,
  persistent,
  publish,
  rawConnect,
  settle,
  subscribe,
} from '../helpers/raw.js';

/** A PUBLISH from a raw client, not waiting for anything. */
function pub(
  topic: string,
  payload: string,
  qos: 0 | 1 | 2 = 0,
  packetId?: number,
  properties?: Properties,
): PublishPacket {
  return {
    type: PacketType.Publish,
    topic,
    payload: Buffer.from(payload),
    qos,
    retain: false,
    dup: false,
    packetId,
    properties,
  };
}

/** The PUBLISH packets among `ps` (asserting nothing else came) as [topic, payload, topicAlias]. */
function aliased(ps: Packet[]): [string, string, number | undefined][] {
  return ps.map((p) => {
    assert.equal(p.type, PacketType.Publish, `unexpected packet ${JSON.stringify(p)}`);
    const m = p as PublishPacket;
    return [m.topic, m.payload.toString(), m.properties?.topicAlias];
  });
}

function payloads(ps: Packet[]): string[] {
  return ps.map((p) => {
    assert.equal(p.type, PacketType.Publish, `unexpected packet ${JSON.stringify(p)}`);
    return (p as PublishPacket).payload.toString();
  });
}

/** Ends a raw client with DISCONNECT 0x00 and waits until the broker has detached its session. */
async function leave(b: TestBroker, r: RawClient, clientId: string): Promise<void> {
  const gone = disconnected(b, clientId);
  r.send({ type: PacketType.Disconnect, reasonCode: 0 });
  await gone;
}

describe('mqtt5 flow', { concurrency: true }, () => {
  // ---- Topic Alias, server → client ------------------------------------------------------------------

  it("topic alias out - within the client's Topic Alias Maximum: first PUBLISH carries topic + alias, later ones only the alias; none when all are in use [MQTT-3.3.2-11] [MQTT-3.1.2-26] (5.0)", async () => {
    await using b = await startBroker();
    const sub = await connected(b, 5, { clientId: 'sub', properties: { topicAliasMaximum: 2 } });
    await subscribe(sub, '#', 0);
    const p = await connected(b, 5, 'pub');
    for (const [t, x] of [
      ['a/long/topic', '1'],
      ['b', '2'],
      ['c', '3'],
      ['a/long/topic', '4'],
      ['b', '5'],
      ['c', '6'],
    ] as const) {
      await publish(p, t, x, 0);
    }
    const got = await settle(sub);
    assert.deepEqual(aliased(got), [
      ['a/long/topic', '1', 1],
      ['b', '2', 2],
      ['c', '3', undefined],
      ['', '4', 1],
      ['', '5', 2],
      ['c', '6', undefined],
    ]);
    // Exactly: the alias is the only property, and never above the client's maximum.
    for (const m of got as PublishPacket[]) {
      if (m.properties !== undefined) assert.deepEqual(Object.keys(m.properties), ['topicAlias']);
    }
  });

  it('topic alias out - absent or 0 Topic Alias Maximum: the broker sends no Topic Alias [MQTT-3.1.2-27] (5.0)', async () => {
    await using b = await startBroker();
    const none = await connected(b, 5, 'none');
    const zero = await connected(b, 5, { clientId: 'zero', properties: { topicAliasMaximum: 0 } });
    await subscribe(none, 't/#', 1);
    await subscribe(zero, 't/#', 1);
    const p = await connected(b, 5, 'pub');
    for (let i = 0; i < 3; i++) await publish(p, 't/x', String(i), i % 2 === 0 ? 0 : 1);
    for (const r of [none, zero]) {
      const got = (await settle(r)) as PublishPacket[];
      assert.deepEqual(
        got.map((m) => [m.topic, m.properties?.topicAlias]),
        [
          ['t/x', undefined],
          ['t/x', undefined],
          ['t/x', undefined],
        ],
      );
      for (const m of got)
        if (m.qos === 1) r.send({ type: PacketType.Puback, packetId: m.packetId!, reasonCode: 0 });
    }
  });

  it('topic alias out - aliases last one connection: after a reconnect the first PUBLISH carries the topic again [MQTT-3.3.2-7] (5.0)', async () => {
    await using b = await startBroker();
    const conn = persistent(5, 'sub', { sessionExpiryInterval: 60, topicAliasMaximum: 5 });
    const sub = await connected(b, 5, conn);
    await subscribe(sub, 't', 1);
    const p = await connected(b, 5, 'pub');
    await publish(p, 't', 'one', 0);
    await publish(p, 't', 'two', 0);
    assert.deepEqual(aliased(await settle(sub)), [
      ['t', 'one', 1],
      ['', 'two', 1],
    ]);
    await leave(b, sub, 'sub');
    const again = await connected(b, 5, conn);
    await publish(p, 't', 'three', 0);
    assert.deepEqual(aliased(await settle(again)), [['t', 'three', 1]]);
  });

  it('topic alias out - an alias is not taken by a PUBLISH dropped as too large for the client (5.0)', async () => {
    await using b = await startBroker();
    const sub = await connected(b, 5, {
      clientId: 'sub',
      properties: { topicAliasMaximum: 1, maximumPacketSize: 64 },
    });
    await subscribe(sub, 't', 0);
    const p = await connected(b, 5, 'pub');
    await publish(p, 't', 'x'.repeat(100), 0);
    await publish(p, 't', 'small', 0);
    await publish(p, 't', 'again', 0);
    assert.deepEqual(aliased(await settle(sub)), [
      ['t', 'small', 1],
      ['', 'again', 1],
    ]);
    assert.equal(b.broker.stats['messages.dropped.too_large'], 1);
  });

  it("topic alias out - an mqtt.js client with topicAliasMaximum resolves the broker's aliases to the right topics (5.0)", async () => {
    await using b = await startBroker();
    const sub = await b.client({ protocolVersion: 5, clientId: 'js', properties: { topicAliasMaximum: 2 } });
    await sub.subscribeAsync('#', { qos: 1 });
    const got = collect(sub, 6);
    const p = await connected(b, 5, 'pub');
    for (const t of ['x/1', 'x/2', 'x/3', 'x/1', 'x/2', 'x/3']) await publish(p, t, t, 1);
    const msgs = await got;
    assert.deepEqual(
      msgs.map((m) => [m.topic, m.payload.toString()]),
      ['x/1', 'x/2', 'x/3', 'x/1', 'x/2', 'x/3'].map((t) => [t, t]),
    );
    assert.deepEqual(
      msgs.map((m) => m.packet.properties?.topicAlias),
      [1, 2, undefined, 1, 2, undefined],
    );
  });

  // ---- Topic Alias, client → server ------------------------------------------------------------------

  it('topic alias in - set with topic + alias, reused with an empty topic, remapped by a new topic [MQTT-3.3.2-12] (5.0)', async () => {
    await using b = await startBroker({ mqtt: { topic_alias_maximum: 3 } });
    const sub = await connected(b, 5, 'sub');
    await subscribe(sub, 'x/#', 1);
    const { r: p, connack } = await rawConnect(b, 5, 'pub');
    assert.equal(connack.properties?.topicAliasMaximum, 3);
    await publish(p, 'x/y', 'set', 1, { properties: { topicAlias: 3 } });
    await publish(p, '', 'reuse', 1, { properties: { topicAlias: 3 } });
    await publish(p, 'x/z', 'remap', 1, { properties: { topicAlias: 3 } });
    await publish(p, '', 'reuse remapped', 0, { properties: { topicAlias: 3 } });
    const got = (await settle(sub)) as PublishPacket[];
    assert.deepEqual(
      got.map((m) => [m.topic, m.payload.toString(), m.properties?.topicAlias]),
      [
        ['x/y', 'set', undefined],
        ['x/y', 'reuse', undefined],
        ['x/z', 'remap', undefined],
        ['x/z', 'reuse remapped', undefined],
      ],
    );
  });

  it('topic alias in - an alias above our Topic Alias Maximum gets DISCONNECT 0x94 [MQTT-3.3.2-9] (5.0)', async () => {
    await using b = await startBroker({ mqtt: { topic_alias_maximum: 2 } });
    const p = await connected(b, 5, 'pub');
    await publish(p, 'ok', 'alias 2 is fine', 0, { properties: { topicAlias: 2 } });
    p.send(pub('t', 'x', 0, undefined, { topicAlias: 3 }));
    const d = await expectPacket(p, PacketType.Disconnect);
    assert.equal(d.reasonCode, ReasonCode.TopicAliasInvalid);
    assert.equal(await p.waitClosed(), true);
  });

  it('topic alias in - with topic_alias_maximum 0 CONNACK announces none and any alias gets DISCONNECT 0x94 [MQTT-3.2.2-17] (5.0)', async () => {
    await using b = await startBroker({ mqtt: { topic_alias_maximum: 0 } });
    const { r: p, connack } = await rawConnect(b, 5, 'pub');
    assert.equal(connack.properties?.topicAliasMaximum, undefined);
    p.send(pub('t', 'x', 1, 1, { topicAlias: 1 }));
    const d = await expectPacket(p, PacketType.Disconnect);
    assert.equal(d.reasonCode, ReasonCode.TopicAliasInvalid);
  });

  it('topic alias in - Topic Alias 0 gets DISCONNECT 0x94 (Topic Alias invalid) and is not routed [MQTT-3.3.2-8] (5.0)', async () => {
    await using b = await startBroker();
    const sub = await connected(b, 5, 'sub');
    await subscribe(sub, 't', 0);
    const p = await connected(b, 5, 'pub');
    p.send(pub('t', 'x', 0, undefined, { topicAlias: 0 }));
    const d = await expectPacket(p, PacketType.Disconnect);
    assert.equal(d.reasonCode, ReasonCode.TopicAliasInvalid);
    assert.equal(await p.waitClosed(), true);
    assert.deepEqual(await settle(sub), []);
  });

  it('topic alias in - an unknown alias with an empty topic gets DISCONNECT 0x82 (5.0)', async () => {
    await using b = await startBroker();
    const p = await connected(b, 5, 'pub');
    p.send(pub('', 'x', 1, 1, { topicAlias: 4 }));
    const d = await expectPacket(p, PacketType.Disconnect);
    assert.equal(d.reasonCode, ReasonCode.ProtocolError);
    assert.equal(await p.waitClosed(), true);
  });

  it('topic alias in - an alias set on an earlier connection is unknown on the next one: DISCONNECT 0x82 [MQTT-3.3.2-7] (5.0)', async () => {
    await using b = await startBroker();
    const p = await connected(b, 5, 'pub');
    await publish(p, 'a', 'x', 0, { properties: { topicAlias: 1 } });
    await leave(b, p, 'pub');
    const q = await connected(b, 5, 'pub');
    q.send(pub('', 'x', 0, undefined, { topicAlias: 1 }));
    assert.equal((await expectPacket(q, PacketType.Disconnect)).reasonCode, ReasonCode.ProtocolError);
  });

  it('topic alias in - an empty topic without an alias gets DISCONNECT 0x82 (§3.3.2.3.4) (5.0)', async () => {
    await using b = await startBroker();
    const p = await connected(b, 5, 'pub');
    p.send(pub('', 'x', 0));
    const d = await expectPacket(p, PacketType.Disconnect);
    assert.equal(d.reasonCode, ReasonCode.ProtocolError);
    assert.equal(await p.waitClosed(), true);
  });

  // ---- Maximum Packet Size towards the client --------------------------------------------------------

  it("packet size out - a PUBLISH larger than the client's Maximum Packet Size is not sent but counted; exactly the maximum is sent [MQTT-3.1.2-24] [MQTT-3.1.2-25] (5.0)", async () => {
    await using b = await startBroker();
    const sub = await connected(b, 5, { clientId: 'small', properties: { maximumPacketSize: 100 } });
    await subscribe(sub, 't', 0);
    // Fixed header 2 + topic "t" 3 + property length 1 + payload: 94 bytes of payload make exactly 100.
    const fits = pub('t', 'f'.repeat(94));
    assert.equal(encodedSize(fits, 5), 100);
    const p = await connected(b, 5, 'pub');
    await publish(p, 't', 'x'.repeat(95), 0);
    await publish(p, 't', 'f'.repeat(94), 0);
    await publish(p, 't', 'next', 0);
    assert.deepEqual(payloads(await settle(sub)), ['f'.repeat(94), 'next']);
    assert.equal(b.broker.stats['messages.dropped.too_large'], 1);
  });

  it("packet size out - a too-large QoS 1 message does not take a slot of the client's Receive Maximum; the next one is sent (5.0)", async () => {
    await using b = await startBroker();
    const sub = await connected(b, 5, {
      clientId: 'small',
      properties: { maximumPacketSize: 64, receiveMaximum: 1 },
    });
    await subscribe(sub, 't', 1);
    const p = await connected(b, 5, 'pub');
    await publish(p, 't', 'x'.repeat(200), 1);
    await publish(p, 't', 'small', 1);
    const [m, ...rest] = (await settle(sub)) as PublishPacket[];
    assert.equal(rest.length, 0);
    assert.equal(m!.payload.toString(), 'small');
    assert.equal(m!.qos, 1);
    assert.equal(b.broker.stats['messages.dropped.too_large'], 1);
    sub.send({ type: PacketType.Puback, packetId: m!.packetId!, reasonCode: 0 });
    assert.deepEqual(await settle(sub), []);
    assert.equal(b.broker.sessions.get('small')?.inflight.size, 0);
  });

  it('packet size out - queued messages too large for the reconnecting client are dropped and counted, the rest delivered (5.0)', async () => {
    await using b = await startBroker();
    const sub = await connected(b, 5, persistent(5, 'q'));
    await subscribe(sub, 't', 1);
    await leave(b, sub, 'q');
    const p = await connected(b, 5, 'pub');
    await publish(p, 't', 'big '.repeat(50), 1);
    await publish(p, 't', 'fits', 1);
    const again = await connected(b, 5, {
      ...persistent(5, 'q'),
      properties: { sessionExpiryInterval: 60, maximumPacketSize: 64 },
    });
    assert.deepEqual(payloads(await settle(again)), ['fits']);
    assert.equal(b.broker.stats['messages.dropped.too_large'], 1);
  });

  // ---- Message Expiry --------------------------------------------------------------------------------

  it('message expiry - counted down while queued for an offline subscriber; expired ones are dropped and counted [MQTT-3.3.2-5] [MQTT-3.3.2-6] (5.0)', async () => {
    const clock = new FakeClock();
    await using b = await startBroker({}, { clock });
    const sub = await connected(b, 5, persistent(5, 'offline'));
    await subscribe(sub, 'e', 1);
    await leave(b, sub, 'offline');
    const p = await connected(b, 5, 'pub');
    await publish(p, 'e', 'ten', 1, { properties: { messageExpiryInterval: 10 } });
    await publish(p, 'e', 'one', 1, { properties: { messageExpiryInterval: 1 } });
    await publish(p, 'e', 'forever', 1);
    clock.advance(1100);
    const again = await connected(b, 5, persistent(5, 'offline'));
    const got = (await settle(again)) as PublishPacket[];
    assert.deepEqual(payloads(got), ['ten', 'forever']);
    const left = got[0]!.properties?.messageExpiryInterval;
    assert.equal(left, 9, 'Message Expiry Interval counted down: 10 s less 1.1 s, rounded up');
    assert.equal(got[1]!.properties?.messageExpiryInterval, undefined);
    assert.equal(b.broker.stats['messages.dropped.expired'], 1);
  });

  it('message expiry - a message that expires while waiting for a full Receive Maximum window is dropped, not sent (5.0)', async () => {
    const clock = new FakeClock();
    await using b = await startBroker({}, { clock });
    const sub = await connected(b, 5, { clientId: 'slow', properties: { receiveMaximum: 1 } });
    await subscribe(sub, 'e', 1);
    const p = await connected(b, 5, 'pub');
    await publish(p, 'e', 'first', 1);
    await publish(p, 'e', 'short', 1, { properties: { messageExpiryInterval: 1 } });
    await publish(p, 'e', 'last', 1);
    const [first, ...rest] = (await settle(sub)) as PublishPacket[];
    assert.equal(rest.length, 0, 'window of 1');
    clock.advance(1100);
    sub.send({ type: PacketType.Puback, packetId: first!.packetId!, reasonCode: 0 });
    const next = (await settle(sub)) as PublishPacket[];
    assert.deepEqual(payloads(next), ['last']);
    assert.equal(b.broker.stats['messages.dropped.expired'], 1);
  });

  it('message expiry - an unacknowledged QoS 1 message that expired while the client was away is not re-sent (5.0)', async () => {
    const clock = new FakeClock();
    await using b = await startBroker({}, { clock });
    const sub = await connected(b, 5, persistent(5, 'flaky'));
    await subscribe(sub, 'e', 1);
    const p = await connected(b, 5, 'pub');
    await publish(p, 'e', 'short', 1, { properties: { messageExpiryInterval: 1 } });
    await publish(p, 'e', 'long', 1, { properties: { messageExpiryInterval: 60 } });
    assert.deepEqual(payloads(await settle(sub)), ['short', 'long']); // never acknowledged
    await leave(b, sub, 'flaky');
    clock.advance(1100);
    const again = await connected(b, 5, persistent(5, 'flaky'));
    const got = (await settle(again)) as PublishPacket[];
    assert.deepEqual(
      got.map((m) => [m.payload.toString(), m.dup]),
      [['long', true]],
    );
    assert.equal(b.broker.stats['messages.dropped.expired'], 1);
  });

  // ---- Retained quota: 0x97 ----------------------------------------------------------------------------

  it('reason codes - a retained message over max_retained_messages gets PUBACK 0x97 and is not forwarded; replacing or deleting stays possible (5.0)', async () => {
    // sys_interval 0: the broker's own retained $SYS topics would take the one slot.
    await using b = await startBroker({ mqtt: { max_retained_messages: 1 }, sys_interval: 0 });
    const live = await connected(b, 5, 'live');
    await subscribe(live, 'r/#', 1);
    const p = await connected(b, 5, 'pub');
    await publish(p, 'r/1', 'first', 1, { retain: true });
    p.send({ ...pub('r/2', 'second', 1, 7), retain: true });
    const a = await expectPacket(p, PacketType.Puback);
    assert.equal(a.packetId, 7);
    assert.equal(a.reasonCode, ReasonCode.QuotaExceeded);
    assert.ok((a.properties?.reasonString ?? '').length > 0, 'Reason String when problem information is on');
    await publish(p, 'r/1', 'replaced', 1, { retain: true });
    assert.deepEqual(payloads(await settle(live)), ['first', 'replaced']);
    assert.equal(b.broker.retained.size, 1);
    // Deleting frees the slot.
    await publish(p, 'r/1', '', 1, { retain: true });
    await publish(p, 'r/2', 'now fits', 1, { retain: true });
    assert.equal(b.broker.retained.get('r/2')?.payload.toString(), 'now fits');
  });

  it('reason codes - a retained QoS 2 message over max_retained_payload gets PUBREC 0x97 and the flow ends there (5.0)', async () => {
    await using b = await startBroker({ mqtt: { max_retained_payload: 4 } });
    const p = await connected(b, 5, 'pub');
    p.send({ ...pub('big', 'too large', 2, 3), retain: true });
    const rec = await expectPacket(p, PacketType.Pubrec);
    assert.equal(rec.reasonCode, ReasonCode.QuotaExceeded);
    // No QoS 2 state was kept: PUBREL for that id is unknown.
    p.send({ type: PacketType.Pubrel, packetId: 3, reasonCode: 0 });
    assert.deepEqual(await p.next(), {
      type: PacketType.Pubcomp,
      packetId: 3,
      reasonCode: ReasonCode.PacketIdentifierNotFound,
    });
    assert.equal(b.broker.retained.get('big'), undefined);
    await publish(p, 'small', 'tiny', 2, { retain: true });
    assert.equal(b.broker.retained.get('small')?.payload.toString(), 'tiny');
  });

  it('reason codes - a 3.1.1 publisher over the retained quota gets a plain PUBACK (no way to say 0x97)', async () => {
    await using b = await startBroker({ mqtt: { max_retained_payload: 4 } });
    const p = await connected(b, 4, 'pub');
    p.send({ ...pub('big', 'too large', 1, 3), retain: true });
    assert.deepEqual(await p.next(), { type: PacketType.Puback, packetId: 3, reasonCode: 0 });
    assert.equal(b.broker.retained.get('big'), undefined);
  });

  it('reason codes - SUBACK mixes granted QoS and failure codes per filter, one per filter in order [MQTT-3.9.3-1] (5.0)', async () => {
    await using b = await startBroker({ mqtt: { shared_subscription_available: false } });
    const r = await connected(b, 5, 's');
    const ack = await subscribe(r, [opt('a', 2), opt('$share/g/a', 1), opt('bad/#/x', 0), opt('b', 0)]);
    assert.deepEqual(ack.reasonCodes, [
      ReasonCode.GrantedQoS2,
      ReasonCode.SharedSubscriptionsNotSupported,
      ReasonCode.TopicFilterInvalid,
      ReasonCode.GrantedQoS0,
    ]);
  });
});
