import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Packet, PacketType, type PublishPacket, ReasonCode } from '../../src/codec/index.js';
import { collect, startBroker } from '../helpers/broker.js';
import {
  connected,
  expectPacket,
  opt,
  publish,
  serverMessage,
  settle,
  subscribe,
  VERSION_NAME,
} from '../helpers/raw.js';

/** Topics of the PUBLISH packets among `ps` (and checks there is nothing else). */
function topics(ps: Packet[]): string[] {
  return ps.map((p) => {
    assert.equal(p.type, PacketType.Publish, `unexpected packet ${JSON.stringify(p)}`);
    return (p as PublishPacket).topic;
  });
}

describe('pubsub', () => {
  for (const v of [3, 4, 5] as const) {
    it(`pubsub - a subscriber receives topic, payload and QoS of a matching publish (${VERSION_NAME[v]})`, async () => {
      await using b = await startBroker();
      const sub = await connected(b, v, `sub${v}`);
      assert.deepEqual((await subscribe(sub, [opt('x/y', 1)])).reasonCodes, [1]);
      const pub = await connected(b, v, `pub${v}`);
      await publish(pub, 'x/y', 'hello', 1);
      const m = await expectPacket(sub, PacketType.Publish);
      assert.equal(m.topic, 'x/y');
      assert.equal(m.payload.toString(), 'hello');
      assert.equal(m.qos, 1);
      assert.equal(m.retain, false);
      assert.equal(m.dup, false);
      assert.ok(m.packetId !== undefined && m.packetId > 0);
    });
  }

  for (const v of [4, 5] as const) {
    it(`topics - '+' matches exactly one level, including an empty one [MQTT-4.7.1-3] (${VERSION_NAME[v]})`, async () => {
      await using b = await startBroker();
      const sub = await connected(b, v, 'sub');
      await subscribe(sub, [opt('a/+/c', 0), opt('+/+', 0)]);
      const pub = await connected(b, v, 'pub');
      for (const t of ['a/b/c', 'a//c', 'a/b/c/d', 'a/c', 'x/b/c', 'a/b', '/finance', 'solo', 'a/b/']) {
        await publish(pub, t, t, 1);
      }
      // 'a/+/c' matches 'a/b/c' and 'a//c'; '+/+' matches 'a/c', 'a/b' and '/finance'.
      assert.deepEqual(topics(await settle(sub)), ['a/b/c', 'a//c', 'a/c', 'a/b', '/finance']);
    });

    it(`topics - '#' matches the parent level and every level below [MQTT-4.7.1-2] (${VERSION_NAME[v]})`, async () => {
      await using b = await startBroker();
      const sub = await connected(b, v, 'sub');
      await subscribe(sub, [opt('a/#', 0)]);
      const pub = await connected(b, v, 'pub');
      for (const t of ['a', 'a/b', 'a/b/c', 'ab', 'b/a', 'a/', '/a']) await publish(pub, t, t, 1);
      assert.deepEqual(topics(await settle(sub)), ['a', 'a/b', 'a/b/c', 'a/']);
    });

    it(`topics - '$' topics are not matched by '#' or '+/...' but by explicit '$SYS/...' filters [MQTT-4.7.2-1] (${VERSION_NAME[v]})`, async () => {
      await using b = await startBroker();
      const wild = await connected(b, v, 'wild');
      await subscribe(wild, [opt('#', 0), opt('+/info', 0), opt('+/#', 0), opt('+', 0)]);
      const sys = await connected(b, v, 'sys');
      await subscribe(sys, [opt('$SYS/#', 0), opt('$SYS/+', 0), opt('$app/info', 0)]);
      const pub = await connected(b, v, 'pub');
      b.broker.publish(serverMessage('$SYS/info', 'sys'));
      await publish(pub, '$app/info', 'app', 1);
      await publish(pub, 'x/info', 'normal', 1);
      // One copy of x/info although four filters match it (overlapping subscriptions).
      assert.deepEqual(topics(await settle(wild)), ['x/info']);
      assert.deepEqual(topics(await settle(sys)), ['$SYS/info', '$app/info']);
    });

    it(`topics - invalid filters are refused in SUBACK while the valid ones are granted [MQTT-3.9.3] (${VERSION_NAME[v]})`, async () => {
      await using b = await startBroker();
      const sub = await connected(b, v, 'sub');
      const fail = v === 5 ? ReasonCode.TopicFilterInvalid : 0x80;
      const ack = await subscribe(sub, [
        opt('ok/+', 1),
        opt('a/#/b', 1),
        opt('a+/b', 2),
        opt('sport#', 0),
        opt('ok2/#', 2),
      ]);
      assert.deepEqual(ack.reasonCodes, [1, fail, fail, fail, 2]);
      const pub = await connected(b, v, 'pub');
      await publish(pub, 'ok/1', 'one', 1);
      await publish(pub, 'ok2/x/y', 'two', 2);
      const got = (await settle(sub)) as PublishPacket[];
      assert.deepEqual(
        got.map((p) => [p.topic, p.qos]),
        [
          ['ok/1', 1],
          ['ok2/x/y', 2],
        ],
      );
    });

    it(`topics - UNSUBSCRIBE stops delivery on that filter only [MQTT-3.10.4-2] (${VERSION_NAME[v]})`, async () => {
      await using b = await startBroker();
      const sub = await connected(b, v, 'sub');
      await subscribe(sub, [opt('a/b', 0), opt('keep/#', 0)]);
      const pub = await connected(b, v, 'pub');
      await publish(pub, 'a/b', 'before', 1);
      assert.deepEqual(topics(await settle(sub)), ['a/b']);
      sub.send({ type: PacketType.Unsubscribe, packetId: 9, topicFilters: ['a/b'] });
      const ack = await expectPacket(sub, PacketType.Unsuback);
      assert.equal(ack.packetId, 9);
      await publish(pub, 'a/b', 'after', 1);
      await publish(pub, 'keep/1', 'kept', 1);
      assert.deepEqual(topics(await settle(sub)), ['keep/1']);
    });

    it(`topics - overlapping subscriptions deliver one copy at the highest QoS [MQTT-3.3.5-1] (${VERSION_NAME[v]})`, async () => {
      await using b = await startBroker();
      const sub = await connected(b, v, 'sub');
      const ack = await subscribe(sub, [
        opt('a/#', 2),
        opt('a/+', 1),
        opt('b/#', 1),
        opt('b/+', 2),
        opt('b/x', 0),
      ]);
      assert.deepEqual(ack.reasonCodes, [2, 1, 1, 2, 0]);
      const pub = await connected(b, v, 'pub');
      await publish(pub, 'a/x', 'a', 2);
      await publish(pub, 'b/x', 'b', 2);
      const got = (await settle(sub)) as PublishPacket[];
      assert.deepEqual(
        got.map((m) => [m.topic, m.qos]),
        [
          ['a/x', 2],
          ['b/x', 2],
        ],
      );
    });

    it(`qos - delivery QoS is the minimum of the message's and the subscription's [MQTT-3.8.4-8] (${VERSION_NAME[v]})`, async () => {
      await using b = await startBroker();
      const sub = await connected(b, v, 'sub');
      await subscribe(sub, [opt('q1', 1), opt('q2', 2), opt('q0', 0)]);
      const pub = await connected(b, v, 'pub');
      await publish(pub, 'q1', 'a', 2); // downgraded to 1
      await publish(pub, 'q2', 'b', 1); // never upgraded
      await publish(pub, 'q0', 'c', 2); // downgraded to 0
      await publish(pub, 'q2', 'd', 0);
      const got = (await settle(sub)) as PublishPacket[];
      assert.deepEqual(
        got.map((p) => [p.topic, p.qos, p.packetId === undefined]),
        [
          ['q1', 1, false],
          ['q2', 1, false],
          ['q0', 0, true],
          ['q2', 0, true],
        ],
      );
    });

    it(`pubsub - 500 QoS 1 messages from one publisher arrive in order [MQTT-4.6.0-5] (${VERSION_NAME[v]})`, async () => {
      await using b = await startBroker();
      const sub = await b.client({ protocolVersion: v, clientId: 'sub' });
      await sub.subscribeAsync('order/#', { qos: 1 });
      const pub = await b.client({ protocolVersion: v, clientId: 'pub' });
      const got = collect(sub, 500, 10_000);
      const sent: Promise<unknown>[] = [];
      for (let i = 0; i < 500; i++) sent.push(pub.publishAsync(`order/${i % 7}`, String(i), { qos: 1 }));
      await Promise.all(sent);
      const msgs = await got;
      assert.deepEqual(
        msgs.map((m) => Number(m.payload.toString())),
        Array.from({ length: 500 }, (_, i) => i),
      );
      assert.ok(msgs.every((m) => m.packet.qos === 1));
    });
  }

  it('topics - UNSUBACK reason codes: 0x00 Success and 0x11 No subscription existed [MQTT-3.11.3] (5.0)', async () => {
    await using b = await startBroker();
    const sub = await connected(b, 5, 'sub');
    await subscribe(sub, [opt('a/b', 1), opt('c/#', 0)]);
    sub.send({
      type: PacketType.Unsubscribe,
      packetId: 3,
      topicFilters: ['a/b', 'never/subscribed', 'c/#', 'a/b'],
    });
    const ack = await expectPacket(sub, PacketType.Unsuback);
    assert.equal(ack.packetId, 3);
    assert.deepEqual(ack.reasonCodes, [0x00, 0x11, 0x00, 0x11]);
  });

  it('topics - overlapping subscriptions carry every matching Subscription Identifier in one copy [MQTT-3.3.4-4] (5.0)', async () => {
    await using b = await startBroker();
    const sub = await connected(b, 5, 'sub');
    await subscribe(sub, [opt('a/#', 2)], 1, { subscriptionIdentifiers: [11] });
    await subscribe(sub, [opt('a/+', 1)], 2, { subscriptionIdentifiers: [22] });
    await subscribe(sub, [opt('other', 0)], 3); // no identifier
    const pub = await connected(b, 5, 'pub');
    await publish(pub, 'a/b', 'both', 2);
    await publish(pub, 'a', 'hash only', 1);
    await publish(pub, 'other', 'none', 1);
    const got = (await settle(sub)) as PublishPacket[];
    assert.deepEqual(topics(got), ['a/b', 'a', 'other']);
    assert.equal(got[0]!.qos, 2);
    assert.deepEqual([...(got[0]!.properties?.subscriptionIdentifiers ?? [])].sort(), [11, 22]);
    assert.deepEqual(got[1]!.properties?.subscriptionIdentifiers, [11]);
    assert.equal(got[2]!.properties?.subscriptionIdentifiers, undefined);
  });

  it('topics - No Local does not send a client its own messages [MQTT-3.8.3-3] (5.0)', async () => {
    await using b = await startBroker();
    const a = await connected(b, 5, 'a');
    await subscribe(a, [opt('chat', 1, { noLocal: true }), opt('echo', 1)]);
    const other = await connected(b, 5, 'other');
    await subscribe(other, [opt('chat', 1)]);
    const own = await publish(a, 'chat', 'from a', 1);
    own.push(...(await publish(a, 'echo', 'from a', 1))); // No Local only on 'chat': this one comes back
    own.push(...(await settle(a)));
    assert.deepEqual(topics(own), ['echo']);
    assert.deepEqual(topics(await settle(other)), ['chat']);
    await publish(other, 'chat', 'from other', 1);
    const got = (await settle(a)) as PublishPacket[];
    assert.deepEqual(
      got.map((p) => [p.topic, p.payload.toString()]),
      [['chat', 'from other']],
    );
  });

  it('topics - without No Local a client receives its own messages (3.1.1)', async () => {
    await using b = await startBroker();
    const a = await connected(b, 4, 'a');
    await subscribe(a, [opt('chat', 1)]);
    a.send({
      type: PacketType.Publish,
      topic: 'chat',
      payload: Buffer.from('me'),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 5,
    });
    const got = await settle(a);
    // The PUBACK for our publish and our own message, in either order.
    assert.deepEqual(got.map((p) => p.type).sort(), [PacketType.Publish, PacketType.Puback]);
  });
});
