import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { PacketType, type PublishPacket } from '../../src/codec/index.js';
import { collect, collectFor, startBroker, type TestBroker } from '../helpers/broker.js';
import { connected, expectPacket, subscribe } from '../helpers/raw.js';

/** Connects `n` mqtt.js members subscribed to `filter` and counts what each receives. */
async function members(b: TestBroker, n: number, filter: string, version: 4 | 5 = 5) {
  const list: { c: MqttClient; got: string[] }[] = [];
  for (let i = 0; i < n; i++) {
    const c = await b.client({ protocolVersion: version, clientId: `m${i}-${filter}` });
    const m = { c, got: [] as string[] };
    c.on('message', (_t, p) => m.got.push(p.toString()));
    await c.subscribeAsync(filter, { qos: 1 });
    list.push(m);
  }
  return list;
}

/** Publishes `count` QoS 1 messages (awaiting each PUBACK) from a new client. */
async function publishMany(
  b: TestBroker,
  clientId: string,
  count: number,
  topic: (i: number) => string = () => 'jobs/x',
) {
  const p = await b.client({ protocolVersion: 5, clientId });
  for (let i = 0; i < count; i++) await p.publishAsync(topic(i), `${clientId}:${i}`, { qos: 1 });
  return p;
}

/** Waits until the members together received `total` messages. */
async function untilTotal(list: { got: string[] }[], total: number, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (list.reduce((n, m) => n + m.got.length, 0) < total) {
    if (Date.now() > end)
      throw new Error(`only ${list.reduce((n, m) => n + m.got.length, 0)} of ${total} arrived`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('shared subscriptions', () => {
  for (const version of [4, 5] as const) {
    it(`round_robin - 3 members × 300 messages give 100 each (MQTT ${version === 5 ? '5.0' : '3.1.1'}) [MQTT-4.8.2]`, async () => {
      await using b = await startBroker();
      const list = await members(b, 3, '$share/g1/jobs/#', version);
      await publishMany(b, 'pub', 300);
      await untilTotal(list, 300);
      assert.deepEqual(
        list.map((m) => m.got.length),
        [100, 100, 100],
      );
      const all = new Set(list.flatMap((m) => m.got));
      assert.equal(all.size, 300, 'each message once');
    });
  }

  it('round_robin_per_group - one cursor for all publishers', async () => {
    await using b = await startBroker({ mqtt: { shared_subscription_strategy: 'round_robin_per_group' } });
    const list = await members(b, 2, '$share/g/jobs/#');
    const p1 = await b.client({ clientId: 'p1' });
    const p2 = await b.client({ clientId: 'p2' });
    for (let i = 0; i < 50; i++) {
      await p1.publishAsync('jobs/a', `p1:${i}`, { qos: 1 });
      await p2.publishAsync('jobs/a', `p2:${i}`, { qos: 1 });
    }
    await untilTotal(list, 100);
    // Alternating publishers on one cursor: every p1 message lands on one member, every p2 on the other.
    assert.deepEqual(
      list.map((m) => m.got.length),
      [50, 50],
    );
    assert.ok(list.every((m) => new Set(m.got.map((g) => g.split(':')[0])).size === 1));
  });

  it('hash_clientid - each publisher stays on one member', async () => {
    await using b = await startBroker({ mqtt: { shared_subscription_strategy: 'hash_clientid' } });
    const list = await members(b, 3, '$share/h/jobs/#');
    for (const id of ['alpha', 'beta', 'gamma', 'delta']) await publishMany(b, id, 20);
    await untilTotal(list, 80);
    for (const id of ['alpha', 'beta', 'gamma', 'delta']) {
      const holders = list.filter((m) => m.got.some((g) => g.startsWith(`${id}:`)));
      assert.equal(holders.length, 1, `${id} went to ${holders.length} members`);
      assert.equal(holders[0]!.got.filter((g) => g.startsWith(`${id}:`)).length, 20);
    }
  });

  it('hash_topic - each topic stays on one member', async () => {
    await using b = await startBroker({ mqtt: { shared_subscription_groups: { ht: 'hash_topic' } } });
    const list = await members(b, 3, '$share/ht/jobs/#');
    await publishMany(b, 'pub', 60, (i) => `jobs/t${i % 6}`);
    await untilTotal(list, 60);
    const topicsOf = list.map((m) => new Set(m.got.map((g) => Number(g.split(':')[1]) % 6)));
    for (let t = 0; t < 6; t++) assert.equal(topicsOf.filter((s) => s.has(t)).length, 1, `topic t${t}`);
  });

  it('sticky - stays on one member until it leaves, then another takes over', async () => {
    await using b = await startBroker({ mqtt: { shared_subscription_strategy: 'sticky' } });
    const list = await members(b, 3, '$share/s/jobs/#');
    await publishMany(b, 'pub', 30);
    await untilTotal(list, 30);
    const first = list.findIndex((m) => m.got.length === 30);
    assert.ok(first >= 0, `one member got all: ${list.map((m) => m.got.length)}`);
    await list[first]!.c.unsubscribeAsync('$share/s/jobs/#');
    await publishMany(b, 'pub2', 30);
    await untilTotal(list, 60);
    const second = list.findIndex((m, i) => i !== first && m.got.length === 30);
    assert.ok(second >= 0, `another member got the next 30: ${list.map((m) => m.got.length)}`);
    assert.equal(list[first]!.got.length, 30, 'the member that left gets nothing more');
  });

  it('random - every message goes to exactly one member', async () => {
    await using b = await startBroker({ mqtt: { shared_subscription_strategy: 'random' } });
    const list = await members(b, 3, '$share/r/jobs/#');
    await publishMany(b, 'pub', 150);
    await untilTotal(list, 150);
    assert.equal(new Set(list.flatMap((m) => m.got)).size, 150);
    assert.ok(
      list.every((m) => m.got.length > 10),
      `all members used: ${list.map((m) => m.got.length)}`,
    );
  });

  it('groups - one copy per matching group, independent of normal subscriptions; $queue is a group', async () => {
    await using b = await startBroker();
    const g1 = await members(b, 2, '$share/a/jobs/#');
    const g2 = await members(b, 2, '$share/b/jobs/+');
    const q = await members(b, 2, '$queue/jobs/#');
    const normal = await b.client({ clientId: 'normal' });
    await normal.subscribeAsync('jobs/#', { qos: 1 });
    const got = collect(normal, 10);
    await publishMany(b, 'pub', 10);
    await untilTotal(g1, 10);
    await untilTotal(g2, 10);
    await untilTotal(q, 10);
    assert.equal((await got).length, 10);
    // A client with a normal and a shared subscription gets both copies.
    const both = await b.client({ clientId: 'both' });
    await both.subscribeAsync('jobs/#', { qos: 1 });
    await both.subscribeAsync('$share/solo/jobs/#', { qos: 1 });
    const twice = collect(both, 2);
    await publishMany(b, 'pub3', 1);
    assert.equal((await twice).length, 2);
  });

  it('retained - no retained messages for a shared subscription (MQTT 5.0 §4.8.2)', async () => {
    await using b = await startBroker();
    const p = await b.client({ clientId: 'p' });
    await p.publishAsync('jobs/r', 'kept', { qos: 1, retain: true });
    const m = await b.client({ clientId: 'm' });
    await m.subscribeAsync('$share/g/jobs/#', { qos: 1 });
    assert.equal((await collectFor(m, 300)).length, 0);
  });

  it('no local - No Local on a shared subscription is a Protocol Error [MQTT-3.8.3-4]', async () => {
    await using b = await startBroker();
    const r = await connected(b, 5, 'nl');
    r.send({
      type: PacketType.Subscribe,
      packetId: 1,
      subscriptions: [
        { topicFilter: '$share/g/a', qos: 1, noLocal: true, retainAsPublished: false, retainHandling: 0 },
      ],
    });
    const d = await expectPacket(r, PacketType.Disconnect);
    assert.equal(d.reasonCode, 0x82);
  });

  it('filters - the filter inside $share is validated [MQTT-4.8.2-2]', async () => {
    await using b = await startBroker();
    const r = await connected(b, 5, 'bad');
    const ack = await subscribe(r, [
      { topicFilter: '$share/g/a/#/b', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      { topicFilter: '$share/g+/a', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      { topicFilter: '$share/g/a/+', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
    ]);
    assert.deepEqual(ack.reasonCodes, [0x8f, 0x8f, 1]);
  });

  it('offline - offline members are skipped while one is online; with none online, queued to one member', async () => {
    await using b = await startBroker();
    const online = await members(b, 1, '$share/o/jobs/#');
    const off = await b.client({
      clientId: 'off',
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 60 },
    });
    await off.subscribeAsync('$share/o/jobs/#', { qos: 1 });
    await off.endAsync();
    await publishMany(b, 'pub', 20);
    await untilTotal(online, 20);
    await online[0]!.c.endAsync();
    await publishMany(b, 'pub2', 5);
    // Listen before CONNACK: the queued messages follow it at once.
    const back = mqtt.connect(b.url, {
      clientId: 'off',
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 60 },
      reconnectPeriod: 0,
    });
    b.clients.push(back);
    const got = await collect(back, 5);
    assert.deepEqual(
      got.map((g) => g.payload.toString()),
      [0, 1, 2, 3, 4].map((i) => `pub2:${i}`),
    );
  });

  it('failover - QoS 1 messages unacknowledged by a member that disconnects go to another member, none lost', async () => {
    await using b = await startBroker({ mqtt: { max_inflight: 5 } });
    // Member A: a raw client that receives but never acknowledges.
    const a = await connected(b, 5, 'lazy');
    await subscribe(a, '$share/f/jobs/#', 1);
    const others = await members(b, 2, '$share/f/jobs/#');
    await publishMany(b, 'pub', 60);
    // A got its first PUBLISHes (window 5) and holds the rest queued.
    const first = (await expectPacket(a, PacketType.Publish)) as PublishPacket;
    assert.ok(first.payload.toString().startsWith('pub:'));
    a.destroy();
    await untilTotal(others, 60);
    const delivered = new Set(others.flatMap((m) => m.got));
    assert.equal(delivered.size, 60, 'every message reached a live member');
  });
});
