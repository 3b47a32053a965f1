import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type Packet,
  PacketType,
  type Properties,
  type PublishPacket,
  type QoS,
  ReasonCode,
  type Subscription,
} from '../../src/codec/index.js';
import { connectPacket, type RawClient, startBroker } from '../helpers/broker.js';
import { FakeClock } from '../helpers/clock.js';
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

/** Publishes a retained message and waits for its acknowledgement. */
function retain(
  r: RawClient,
  topic: string,
  payload: string,
  qos: QoS = 1,
  properties?: Properties,
): Promise<Packet[]> {
  return publish(r, topic, payload, qos, { retain: true, properties });
}

/** The PUBLISH packets among `ps` (asserting there is nothing else), as [topic, payload, qos, retain]. */
function summary(ps: Packet[]): [string, string, QoS, boolean][] {
  return ps.map((p) => {
    assert.equal(p.type, PacketType.Publish, `unexpected packet ${JSON.stringify(p)}`);
    const m = p as PublishPacket;
    return [m.topic, m.payload.toString(), m.qos, m.retain];
  });
}

/** Subscribes and returns the messages sent for the subscription (the retained ones). */
async function subscribeGet(r: RawClient, subs: Subscription[], packetId = 1): Promise<Packet[]> {
  await subscribe(r, subs, packetId);
  return settle(r);
}

describe('retained', () => {
  for (const v of [3, 4, 5] as const) {
    it(`retained - stored and sent to a new subscription with RETAIN=1 [MQTT-3.3.1-5] [MQTT-3.3.1-8 3.1.1] (${VERSION_NAME[v]})`, async () => {
      await using b = await startBroker();
      const p = await connected(b, v, 'pub');
      await retain(p, 'r/a', 'kept', 1);
      p.destroy(); // the retained message outlives its publisher
      const s = await connected(b, v, 'sub');
      const got = await subscribeGet(s, [opt('r/a', 2)]);
      assert.deepEqual(summary(got), [['r/a', 'kept', 1, true]]);
      assert.equal((got[0] as PublishPacket).dup, false);
    });
  }

  for (const v of [4, 5] as const) {
    it(`retained - a newer retained message replaces the old one, whatever its QoS [MQTT-3.3.1-5] [MQTT-3.3.1-7 3.1.1] (${VERSION_NAME[v]})`, async () => {
      await using b = await startBroker();
      const p = await connected(b, v, 'pub');
      await retain(p, 'r/a', 'one', 1);
      await retain(p, 'r/a', 'two', 2);
      await retain(p, 'r/a', 'three', 0);
      const s = await connected(b, v, 'sub');
      assert.deepEqual(summary(await subscribeGet(s, [opt('r/#', 2)])), [['r/a', 'three', 0, true]]);
    });

    it(`retained - a non-retained PUBLISH neither stores nor replaces [MQTT-3.3.1-12 3.1.1] [MQTT-3.3.1-8] (${VERSION_NAME[v]})`, async () => {
      await using b = await startBroker();
      const p = await connected(b, v, 'pub');
      await retain(p, 'r/a', 'kept', 1);
      await publish(p, 'r/a', 'live only', 1);
      await publish(p, 'r/b', 'live only', 1);
      const s = await connected(b, v, 'sub');
      assert.deepEqual(summary(await subscribeGet(s, [opt('r/+', 1)])), [['r/a', 'kept', 1, true]]);
    });

    it(`retained - an empty retained payload deletes it and is still forwarded [MQTT-3.3.1-10/11 3.1.1] [MQTT-3.3.1-6/7] (${VERSION_NAME[v]})`, async () => {
      await using b = await startBroker();
      const live = await connected(b, v, 'live');
      await subscribe(live, [opt('r/a', 1)]);
      const p = await connected(b, v, 'pub');
      await retain(p, 'r/a', 'kept', 1);
      await retain(p, 'r/a', '', 1);
      // The existing subscriber gets both, as normal messages (RETAIN=0 on an established subscription).
      assert.deepEqual(summary(await settle(live)), [
        ['r/a', 'kept', 1, false],
        ['r/a', '', 1, false],
      ]);
      const s = await connected(b, v, 'sub');
      assert.deepEqual(await subscribeGet(s, [opt('r/#', 1)]), []);
      assert.equal(b.broker.retained.size, 0);
    });

    it(`retained - live delivery of a retained PUBLISH has RETAIN=0 [MQTT-3.3.1-9 3.1.1] [MQTT-3.3.1-12] (${VERSION_NAME[v]})`, async () => {
      await using b = await startBroker();
      const s = await connected(b, v, 'sub');
      await subscribe(s, [opt('r/a', 1)]);
      const p = await connected(b, v, 'pub');
      await retain(p, 'r/a', 'x', 1);
      assert.deepEqual(summary(await settle(s)), [['r/a', 'x', 1, false]]);
    });

    it(`retained - QoS is the minimum of the retained message's and the subscription's (${VERSION_NAME[v]})`, async () => {
      await using b = await startBroker();
      const p = await connected(b, v, 'pub');
      await retain(p, 'q/0', 'zero', 0);
      await retain(p, 'q/1', 'one', 1);
      await retain(p, 'q/2', 'two', 2);
      const s1 = await connected(b, v, 's1');
      const got1 = summary(await subscribeGet(s1, [opt('q/+', 1)])).sort();
      assert.deepEqual(got1, [
        ['q/0', 'zero', 0, true],
        ['q/1', 'one', 1, true],
        ['q/2', 'two', 1, true],
      ]);
      const s2 = await connected(b, v, 's2');
      const got2 = summary(await subscribeGet(s2, [opt('q/+', 0)])).sort();
      assert.deepEqual(
        got2.map((m) => m[2]),
        [0, 0, 0],
      );
      const s3 = await connected(b, v, 's3');
      const got3 = summary(await subscribeGet(s3, [opt('q/+', 2)])).sort();
      assert.deepEqual(
        got3.map((m) => m[2]),
        [0, 1, 2],
      );
    });

    it(`retained - '#' gets every retained topic except '$' topics; '$SYS/#' gets those [MQTT-4.7.2-1] (${VERSION_NAME[v]})`, async () => {
      await using b = await startBroker();
      const p = await connected(b, v, 'pub');
      await retain(p, 'a', '1', 0);
      await retain(p, 'a/b', '2', 0);
      await retain(p, 'b/c/d', '3', 0);
      await retain(p, '$app/y', '4', 0);
      b.broker.publish(serverMessage('$SYS/x', '5', true));
      const all = await connected(b, v, 'all');
      assert.deepEqual(
        summary(await subscribeGet(all, [opt('#', 0)]))
          .map((m) => m[0])
          .sort(),
        ['a', 'a/b', 'b/c/d'],
      );
      const plus = await connected(b, v, 'plus');
      assert.deepEqual(
        summary(await subscribeGet(plus, [opt('+/#', 0)]))
          .map((m) => m[0])
          .sort(),
        ['a', 'a/b', 'b/c/d'],
      );
      const one = await connected(b, v, 'one');
      assert.deepEqual(summary(await subscribeGet(one, [opt('+', 0)])), [['a', '1', 0, true]]);
      const sys = await connected(b, v, 'sys');
      assert.deepEqual(summary(await subscribeGet(sys, [opt('$SYS/#', 0)])), [['$SYS/x', '5', 0, true]]);
      const app = await connected(b, v, 'app');
      assert.deepEqual(summary(await subscribeGet(app, [opt('$app/+', 0)])), [['$app/y', '4', 0, true]]);
    });

    it(`retained - on a repeated SUBSCRIBE the retained messages are sent again [MQTT-3.8.4-3 3.1.1] (${VERSION_NAME[v]})`, async () => {
      await using b = await startBroker();
      const p = await connected(b, v, 'pub');
      await retain(p, 'r/a', 'x', 1);
      const s = await connected(b, v, 'sub');
      assert.equal((await subscribeGet(s, [opt('r/a', 1)], 1)).length, 1);
      assert.deepEqual(summary(await subscribeGet(s, [opt('r/a', 1)], 2)), [['r/a', 'x', 1, true]]);
    });
  }

  it('retained - Retain As Published keeps RETAIN=1 on live delivery; without it RETAIN=0 [MQTT-3.3.1-12/13] (5.0)', async () => {
    await using b = await startBroker();
    const rap = await connected(b, 5, 'rap');
    await subscribe(rap, [opt('r/+', 1, { retainAsPublished: true })]);
    const plain = await connected(b, 5, 'plain');
    await subscribe(plain, [opt('r/+', 1)]);
    const p = await connected(b, 5, 'pub');
    await retain(p, 'r/a', 'retained', 1);
    await publish(p, 'r/b', 'not retained', 1);
    assert.deepEqual(summary(await settle(rap)), [
      ['r/a', 'retained', 1, true],
      ['r/b', 'not retained', 1, false],
    ]);
    assert.deepEqual(summary(await settle(plain)), [
      ['r/a', 'retained', 1, false],
      ['r/b', 'not retained', 1, false],
    ]);
  });

  it('retained - Retain Handling 0 sends on every SUBSCRIBE, 1 only for a new subscription, 2 never [MQTT-3.3.1-9/10/11] (5.0)', async () => {
    await using b = await startBroker();
    const p = await connected(b, 5, 'pub');
    await retain(p, 'rh/x', 'x', 1);
    const s = await connected(b, 5, 'sub');
    // Retain Handling 0: always (RETAIN=1 even without Retain As Published).
    assert.deepEqual(summary(await subscribeGet(s, [opt('rh/+', 1, { retainHandling: 0 })], 1)), [
      ['rh/x', 'x', 1, true],
    ]);
    assert.deepEqual(summary(await subscribeGet(s, [opt('rh/+', 1, { retainHandling: 0 })], 2)), [
      ['rh/x', 'x', 1, true],
    ]);
    // Retain Handling 1: the subscription to 'rh/#' is new, so it gets them; re-subscribing gets none.
    assert.deepEqual(summary(await subscribeGet(s, [opt('rh/#', 1, { retainHandling: 1 })], 3)), [
      ['rh/x', 'x', 1, true],
    ]);
    assert.deepEqual(await subscribeGet(s, [opt('rh/#', 1, { retainHandling: 1 })], 4), []);
    // Retain Handling 2: never, neither for a new nor for an existing subscription.
    assert.deepEqual(await subscribeGet(s, [opt('rh/x', 1, { retainHandling: 2 })], 5), []);
    assert.deepEqual(await subscribeGet(s, [opt('rh/x', 1, { retainHandling: 2 })], 6), []);
    // After UNSUBSCRIBE, Retain Handling 1 counts as new again.
    s.send({ type: PacketType.Unsubscribe, packetId: 7, topicFilters: ['rh/#'] });
    await expectPacket(s, PacketType.Unsuback);
    assert.deepEqual(summary(await subscribeGet(s, [opt('rh/#', 1, { retainHandling: 1 })], 8)), [
      ['rh/x', 'x', 1, true],
    ]);
  });

  it('retained - a retained message is not sent after its Message Expiry Interval [MQTT-3.3.2-5] (5.0 and 3.1.1)', async () => {
    const clock = new FakeClock();
    await using b = await startBroker({}, { clock });
    const p = await connected(b, 5, 'pub');
    await retain(p, 'e/short', 'short', 1, { messageExpiryInterval: 1 });
    await retain(p, 'e/long', 'long', 1, { messageExpiryInterval: 3600 });
    const early = await connected(b, 5, 'early');
    const got = (await subscribeGet(early, [opt('e/+', 1)])) as PublishPacket[];
    const byTopic = new Map(got.map((m) => [m.topic, m]));
    assert.deepEqual([...byTopic.keys()].sort(), ['e/long', 'e/short']);
    assert.equal(byTopic.get('e/short')!.properties?.messageExpiryInterval, 1);
    const longLeft = byTopic.get('e/long')!.properties?.messageExpiryInterval ?? 0;
    assert.ok(longLeft > 3590 && longLeft <= 3600, `remaining expiry ${longLeft}`);
    clock.advance(1100);
    const late5 = await connected(b, 5, 'late5');
    assert.deepEqual(
      summary(await subscribeGet(late5, [opt('e/+', 1)])).map((m) => m[0]),
      ['e/long'],
    );
    const late4 = await connected(b, 4, 'late4');
    assert.deepEqual(
      summary(await subscribeGet(late4, [opt('e/#', 1)])).map((m) => m[0]),
      ['e/long'],
    );
  });

  it('retained - max_retained_messages bounds the number of retained topics', async () => {
    await using b = await startBroker({ mqtt: { max_retained_messages: 2 } });
    const p = await connected(b, 4, 'pub');
    await retain(p, 'm/1', 'one', 0);
    await retain(p, 'm/2', 'two', 0);
    await retain(p, 'm/3', 'three', 0);
    await retain(p, 'm/4', 'four', 0);
    const s = await connected(b, 4, 'sub');
    const got = summary(await subscribeGet(s, [opt('#', 0)]));
    assert.equal(got.length, 2, `at most 2 retained, got ${JSON.stringify(got)}`);
    const sent = new Map([
      ['m/1', 'one'],
      ['m/2', 'two'],
      ['m/3', 'three'],
      ['m/4', 'four'],
    ]);
    for (const [topic, payload, , flag] of got) {
      assert.equal(sent.get(topic), payload);
      assert.equal(flag, true);
    }
    assert.ok(b.broker.retained.size <= 2);
  });

  it('retained - max_retained_payload: a larger retained message is not stored but still delivered', async () => {
    await using b = await startBroker({ mqtt: { max_retained_payload: 4 } });
    const live = await connected(b, 4, 'live');
    await subscribe(live, [opt('big', 0)]);
    const p = await connected(b, 4, 'pub');
    await retain(p, 'small', 'tiny', 0);
    await retain(p, 'big', 'too large', 0);
    assert.deepEqual(summary(await settle(live)), [['big', 'too large', 0, false]]);
    const s = await connected(b, 4, 'sub');
    assert.deepEqual(
      summary(await subscribeGet(s, [opt('#', 0)])).map((m) => m[0]),
      ['small'],
    );
  });

  it('retained - with retain_available false a retained PUBLISH gets DISCONNECT 0x9A (5.0)', async () => {
    await using b = await startBroker({ mqtt: { retain_available: false } });
    const r = await b.raw(5);
    r.send(connectPacket(5, { clientId: 'pub' }));
    const ack = await expectPacket(r, PacketType.Connack);
    assert.equal(ack.properties?.retainAvailable, 0);
    r.send({
      type: PacketType.Publish,
      topic: 'r',
      payload: Buffer.from('x'),
      qos: 0,
      retain: true,
      dup: false,
    });
    const d = await expectPacket(r, PacketType.Disconnect);
    assert.equal(d.reasonCode, ReasonCode.RetainNotSupported);
    assert.equal(await r.waitClosed(), true);
  });
});
