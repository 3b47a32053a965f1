import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { PacketType, type Properties, type QoS, type Will } from '../../src/codec/index.js';
import { collect, collectFor, connectPacket, startBroker, type TestBroker } from '../helpers/broker.js';
import { disconnected, rawConnect, versions } from '../helpers/raw.js';

const VERSIONS = versions(3, 4, 5);

function will(topic: string, payload = 'gone', over: Partial<Will> = {}): Will {
  return { topic, payload: Buffer.from(payload), qos: 0, retain: false, ...over };
}

/** An mqtt.js v5 client subscribed to `filter` at QoS 2. */
async function watcher(b: TestBroker, filter: string, id = 'watcher'): Promise<MqttClient> {
  const c = await b.client({ protocolVersion: 5, clientId: id });
  await c.subscribeAsync(filter, { qos: 2 });
  return c;
}

describe('will', { concurrency: true }, () => {
  for (const { v, name } of VERSIONS) {
    it(`will - published when the client drops the connection without DISCONNECT (${name})`, async () => {
      await using b = await startBroker();
      const sub = await watcher(b, 'will/#');
      const { r } = await rawConnect(b, v, {
        clientId: `drop-${v}`,
        will: will(`will/drop/${v}`, 'dropped'),
      });
      const got = collect(sub, 1);
      r.destroy();
      const [m] = await got;
      assert.equal(m!.topic, `will/drop/${v}`);
      assert.equal(m!.payload.toString(), 'dropped');
      assert.equal(b.broker.stats['wills.published'], 1);
    });

    it(`will - not published after a normal DISCONNECT (${name}) [MQTT-3.14.4-3]`, async () => {
      await using b = await startBroker();
      const sub = await watcher(b, 'will/#');
      const { r } = await rawConnect(b, v, { clientId: `normal-${v}`, will: will('will/normal') });
      r.send({ type: PacketType.Disconnect, reasonCode: 0 });
      assert.equal(await r.waitClosed(), true);
      assert.deepEqual(await collectFor(sub, 300), []);
      assert.equal(b.broker.stats['wills.published'], 0);
    });
  }

  for (const { v, name } of VERSIONS.filter((x) => x.v !== 3)) {
    it(`will - published when the keep alive expires (${name}) [MQTT-3.1.2-24]`, async () => {
      await using b = await startBroker();
      const sub = await watcher(b, 'will/#');
      const { r } = await rawConnect(b, v, {
        clientId: `ka-${v}`,
        keepAlive: 1,
        will: will('will/ka', 'silent'),
      });
      const started = Date.now();
      const got = collect(sub, 1, 3000);
      if (v === 5) {
        const d = await r.next(3000);
        assert.equal(d.type, PacketType.Disconnect);
        assert.equal(d.reasonCode, 0x8d); // Keep Alive timeout
      }
      assert.equal(await r.waitClosed(3000), true);
      const [m] = await got;
      const ms = Date.now() - started;
      assert.equal(m!.payload.toString(), 'silent');
      assert.ok(ms >= 1000 && ms <= 2500, `will after ${ms} ms, expected ~1500 (1.5 x keep alive)`);
    });

    it(`will - published when the server closes the connection for a malformed packet (${name})`, async () => {
      await using b = await startBroker();
      const sub = await watcher(b, 'will/#');
      const { r } = await rawConnect(b, v, {
        clientId: `garbage-${v}`,
        will: will('will/garbage', 'broken'),
      });
      const got = collect(sub, 1);
      r.write('00 00'); // packet type 0 is reserved
      if (v === 5) {
        const d = await r.next();
        assert.equal(d.type, PacketType.Disconnect);
        assert.equal(d.reasonCode, 0x81); // Malformed Packet
      }
      assert.equal(await r.waitClosed(), true);
      const [m] = await got;
      assert.equal(m!.payload.toString(), 'broken');
    });

    it(`will - published when a second CONNECT ends the connection as a protocol error (${name}) [MQTT-3.1.0-2]`, async () => {
      await using b = await startBroker();
      const sub = await watcher(b, 'will/#');
      const { r } = await rawConnect(b, v, { clientId: `second-${v}`, will: will('will/second', 'twice') });
      const got = collect(sub, 1);
      r.send(connectPacket(v, { clientId: `second-${v}` }));
      assert.equal(await r.waitClosed(), true);
      const [m] = await got;
      assert.equal(m!.payload.toString(), 'twice');
    });

    it(`will - published when another connection takes the client id over (${name})`, async () => {
      await using b = await startBroker();
      const sub = await watcher(b, 'will/#');
      const { r } = await rawConnect(b, v, { clientId: `take-${v}`, will: will('will/take', 'taken over') });
      const got = collect(sub, 1);
      await rawConnect(b, v, { clientId: `take-${v}` });
      if (v === 5) {
        const d = await r.next();
        assert.equal(d.type, PacketType.Disconnect);
        assert.equal(d.reasonCode, 0x8e); // Session taken over
      }
      assert.equal(await r.waitClosed(), true);
      const [m] = await got;
      assert.equal(m!.payload.toString(), 'taken over');
    });

    for (const qos of [0, 1, 2] as const) {
      it(`will - Will QoS ${qos} and Will Retain are honoured; the retained will is stored (${name}) [MQTT-3.1.2-17]`, async () => {
        await using b = await startBroker();
        const live = await b.client({ protocolVersion: v, clientId: 'live' });
        await live.subscribeAsync('will/#', { qos: 2 });
        const { r } = await rawConnect(b, v, {
          clientId: `qr-${v}-${qos}`,
          will: will('will/retained', 'kept', { qos, retain: true }),
        });
        const got = collect(live, 1);
        r.destroy();
        const [m] = await got;
        assert.equal(m!.packet.qos, qos);
        assert.equal(m!.payload.toString(), 'kept');
        // To an established subscription RETAIN is 0 (3.1.1) / as published only with Retain As Published (5.0).
        assert.equal(m!.packet.retain, false);

        const late = await b.client({ protocolVersion: v, clientId: 'late' });
        const stored = collect(late, 1);
        await late.subscribeAsync('will/retained', { qos: 2 });
        const [s] = await stored;
        assert.equal(s!.payload.toString(), 'kept');
        assert.equal(s!.packet.retain, true);
        assert.equal(s!.packet.qos, qos);
      });
    }
  }

  it('will - v5 will published after DISCONNECT 0x04 (Disconnect with Will Message)', async () => {
    await using b = await startBroker();
    const sub = await watcher(b, 'will/#');
    const { r } = await rawConnect(b, 5, { clientId: 'dww', will: will('will/dww', 'on purpose') });
    const got = collect(sub, 1);
    r.send({ type: PacketType.Disconnect, reasonCode: 0x04 });
    assert.equal(await r.waitClosed(), true);
    const [m] = await got;
    assert.equal(m!.payload.toString(), 'on purpose');
  });

  it('will - v5 will properties are forwarded, User Properties in order [MQTT-3.1.3-10]', async () => {
    await using b = await startBroker();
    const sub = await rawConnect(b, 5, { clientId: 'prop-sub' });
    sub.r.send({
      type: PacketType.Subscribe,
      packetId: 1,
      subscriptions: [
        { topicFilter: 'will/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
    });
    assert.equal((await sub.r.next()).type, PacketType.Suback);
    const properties: Properties = {
      payloadFormatIndicator: 1,
      messageExpiryInterval: 60,
      contentType: 'text/plain; charset=utf-8',
      responseTopic: 'reply/here',
      correlationData: Buffer.from([0xde, 0xad, 0xbe, 0xef]),
      userProperties: [
        ['b', '2'],
        ['a', '1'],
        ['b', '3'],
      ],
    };
    const { r } = await rawConnect(b, 5, {
      clientId: 'prop-will',
      will: will('will/props', 'with properties', { qos: 1, properties }),
    });
    r.destroy();
    const p = await sub.r.next();
    assert.equal(p.type, PacketType.Publish);
    assert.equal(p.topic, 'will/props');
    assert.equal(p.payload.toString(), 'with properties');
    const got = p.properties ?? {};
    assert.equal(got.payloadFormatIndicator, 1);
    assert.equal(got.contentType, 'text/plain; charset=utf-8');
    assert.equal(got.responseTopic, 'reply/here');
    assert.deepEqual(got.correlationData, Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    assert.deepEqual(got.userProperties, [
      ['b', '2'],
      ['a', '1'],
      ['b', '3'],
    ]);
    assert.ok(
      got.messageExpiryInterval !== undefined &&
        got.messageExpiryInterval >= 59 &&
        got.messageExpiryInterval <= 60,
      `Message Expiry Interval ${got.messageExpiryInterval}`,
    );
    assert.equal(got.willDelayInterval, undefined);
  });

  /** Connects a v5 client with a will (Will Delay `delay` s, Session Expiry `expiry` s) and drops it. */
  async function dropWithDelay(
    b: TestBroker,
    clientId: string,
    delay: number,
    expiry: number,
  ): Promise<number> {
    const { r } = await rawConnect(b, 5, {
      clientId,
      clean: false,
      properties: { sessionExpiryInterval: expiry },
      will: will(`will/delay/${clientId}`, 'delayed', { properties: { willDelayInterval: delay } }),
    });
    const gone = disconnected(b, clientId);
    r.destroy();
    const t0 = Date.now();
    await gone;
    return t0;
  }

  it('will - v5 Will Delay 1 s with Session Expiry 10 s: the will arrives ~1 s after the disconnect', async () => {
    await using b = await startBroker();
    const sub = await watcher(b, 'will/#');
    const got = collect(sub, 1, 3000);
    const t0 = await dropWithDelay(b, 'wd-1', 1, 10);
    const [m] = await got;
    const ms = Date.now() - t0;
    assert.equal(m!.topic, 'will/delay/wd-1');
    assert.ok(ms >= 900 && ms <= 1600, `will after ${ms} ms, expected ~1000`);
  });

  it('will - v5 reconnecting within the Will Delay cancels the will [MQTT-3.1.3-9]', async () => {
    await using b = await startBroker();
    const sub = await watcher(b, 'will/#');
    await dropWithDelay(b, 'wd-cancel', 1, 10);
    const { connack } = await rawConnect(b, 5, {
      clientId: 'wd-cancel',
      clean: false,
      properties: { sessionExpiryInterval: 10 },
    });
    assert.equal(connack.sessionPresent, true);
    // Wait past the original delay: nothing.
    assert.deepEqual(await collectFor(sub, 1300), []);
    assert.equal(b.broker.stats['wills.published'], 0);
  });

  it('will - v5 Will Delay 10 s with Session Expiry 1 s: the will is published when the session ends (~1 s)', async () => {
    await using b = await startBroker();
    const sub = await watcher(b, 'will/#');
    const got = collect(sub, 1, 3000);
    const t0 = await dropWithDelay(b, 'wd-exp', 10, 1);
    const [m] = await got;
    const ms = Date.now() - t0;
    assert.equal(m!.topic, 'will/delay/wd-exp');
    assert.ok(ms >= 900 && ms <= 1600, `will after ${ms} ms, expected ~1000`);
    assert.equal(b.broker.sessions.has('wd-exp'), false);
  });

  it('will - v5 Will Delay 10 s with Session Expiry 0: the will is published at once', async () => {
    await using b = await startBroker();
    const sub = await watcher(b, 'will/#');
    const got = collect(sub, 1, 3000);
    const t0 = await dropWithDelay(b, 'wd-now', 10, 0);
    const [m] = await got;
    const ms = Date.now() - t0;
    assert.equal(m!.topic, 'will/delay/wd-now');
    assert.ok(ms < 300, `will after ${ms} ms, expected at once`);
  });

  it('will - v5 a delayed will is published at once when a Clean Start connection ends its session', async () => {
    await using b = await startBroker();
    const sub = await watcher(b, 'will/#');
    const got = collect(sub, 1, 3000);
    await dropWithDelay(b, 'wd-clean', 10, 60);
    const t0 = Date.now();
    const { connack } = await rawConnect(b, 5, { clientId: 'wd-clean', clean: true });
    assert.equal(connack.sessionPresent, false);
    const [m] = await got;
    assert.equal(m!.topic, 'will/delay/wd-clean');
    assert.ok(Date.now() - t0 < 300, 'will expected at once when the old session ended');
  });

  it('will - QoS of a will is capped by the subscription (QoS 2 will, QoS 1 subscriber)', async () => {
    await using b = await startBroker();
    const sub = await b.client({ protocolVersion: 4, clientId: 'q1sub' });
    await sub.subscribeAsync('will/#', { qos: 1 });
    const { r } = await rawConnect(b, 4, {
      clientId: 'q2will',
      will: will('will/q', 'x', { qos: 2 as QoS }),
    });
    const got = collect(sub, 1);
    r.destroy();
    const [m] = await got;
    assert.equal(m!.packet.qos, 1);
  });
});

describe('will - authorized again when published', () => {
  it('will - a rule tightened after CONNECT stops a delayed will; an allowed one is published', async () => {
    await using b = await startBroker();
    let deny = false;
    b.broker.hooks.decide('client.authorize', (req) =>
      deny && req.action === 'publish' && req.topic === 'wills/late'
        ? { result: 'deny' }
        : { result: 'ignore' },
    );
    const watcher = await b.client({ clientId: 'watcher', protocolVersion: 5 });
    await watcher.subscribeAsync('wills/#', { qos: 1 });
    const mk = async (id: string, topic: string) => {
      const r = await b.raw(5);
      r.send(
        connectPacket(5, {
          clientId: id,
          clean: true,
          properties: { sessionExpiryInterval: 10 },
          will: {
            topic,
            payload: Buffer.from(id),
            qos: 1,
            retain: false,
            properties: { willDelayInterval: 1 },
          },
        }),
      );
      assert.equal((await r.next()).type, 2);
      return r;
    };
    const late = await mk('late', 'wills/late');
    const fine = await mk('fine', 'wills/fine');
    deny = true; // e.g. the ACL file was reloaded with a stricter rule
    late.destroy();
    fine.destroy();
    const got = await collectFor(watcher, 1600);
    assert.deepEqual(
      got.map((m) => m.topic),
      ['wills/fine'],
    );
    assert.equal(b.broker.stats['messages.dropped.not_authorized'], 1);
  });
});
