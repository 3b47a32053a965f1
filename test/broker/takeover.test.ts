import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DisconnectPacket, PacketType, type PublishPacket, ReasonCode } from '../../src/codec/index.js';
import { collect, collectFor, connectPacket, type RawClient, startBroker } from '../helpers/broker.js';
import { connectOk, persistent, subscribe } from '../helpers/raw.js';

describe('takeover', () => {
  it('takeover - a second 3.1.1 connection with the same id closes the first [MQTT-3.1.4-3]', async () => {
    await using b = await startBroker();
    const first = await b.raw(4);
    await connectOk(first, connectPacket(4, { clientId: 'dup' }));
    const second = await b.raw(4);
    const ack = await connectOk(second, connectPacket(4, { clientId: 'dup' }));
    assert.equal(ack.sessionPresent, false);
    assert.equal(await first.waitClosed(), true, 'first connection still open');
    assert.deepEqual(first.pending(), [], '3.1.1 has no DISCONNECT from the server');
    // The second connection stays, and the first one's close did not unregister it.
    second.send({ type: PacketType.Pingreq });
    assert.deepEqual(await second.next(), { type: PacketType.Pingresp });
    assert.equal(b.broker.clients.size, 1);
    assert.equal(b.broker.sessions.size, 1);
  });

  it('takeover - the first 5.0 connection gets DISCONNECT 0x8E (Session taken over), then close [MQTT-3.1.4-3]', async () => {
    await using b = await startBroker();
    const first = await b.raw(5);
    await connectOk(first, connectPacket(5, { clientId: 'dup5' }));
    const second = await b.raw(5);
    await connectOk(second, connectPacket(5, { clientId: 'dup5' }));
    const p = await first.next();
    assert.equal(p.type, PacketType.Disconnect, JSON.stringify(p));
    assert.equal((p as DisconnectPacket).reasonCode, ReasonCode.SessionTakenOver);
    assert.equal(await first.waitClosed(), true);
    assert.equal(second.closed, false);
  });

  it('takeover - works across protocol versions (3.1.1 connection taken over by 5.0)', async () => {
    await using b = await startBroker();
    const first = await b.raw(4);
    await connectOk(first, persistent(4, 'cross'));
    await subscribe(first, 'cross/#');
    const second = await b.raw(5);
    const ack = await connectOk(second, persistent(5, 'cross'));
    assert.equal(ack.sessionPresent, true);
    assert.equal(await first.waitClosed(), true);
  });

  it('takeover - with an mqtt.js client: the first one sees the close', async () => {
    await using b = await startBroker();
    const first = await b.client({ protocolVersion: 5, clientId: 'mq-dup' });
    const closed = new Promise<void>((resolve) => first.once('close', () => resolve()));
    const disconnect = new Promise<number | undefined>((resolve) =>
      first.once('disconnect', (p) => resolve(p.reasonCode)),
    );
    await b.client({ protocolVersion: 5, clientId: 'mq-dup' });
    assert.equal(await disconnect, ReasonCode.SessionTakenOver);
    await closed;
  });

  for (const v of [4, 5] as const) {
    const name = v === 5 ? 'Clean Start 0' : 'Clean Session 0';
    it(`takeover - with ${name} the session continues: Session Present 1, subscriptions kept (${v === 5 ? '5.0' : '3.1.1'}) [MQTT-3.2.2-2]`, async () => {
      await using b = await startBroker();
      const first = await b.raw(v);
      const a1 = await connectOk(first, persistent(v, `keep-${v}`));
      assert.equal(a1.sessionPresent, false);
      await subscribe(first, 'keep/#', 1);
      const second = await b.raw(v);
      const a2 = await connectOk(second, persistent(v, `keep-${v}`));
      assert.equal(a2.sessionPresent, true);
      assert.equal(await first.waitClosed(), true);
      const pub = await b.client({ protocolVersion: 4, clientId: `pub-${v}` });
      await pub.publishAsync('keep/x', 'after takeover', { qos: 1 });
      let p = await second.next();
      assert.equal(p.type, PacketType.Publish, JSON.stringify(p));
      p = p as PublishPacket;
      assert.equal(p.topic, 'keep/x');
      assert.equal(p.payload.toString(), 'after takeover');
      assert.equal(p.qos, 1);
      assert.deepEqual(
        first.pending().filter((x) => x.type === PacketType.Publish),
        [],
      );
    });

    it(`takeover - with clean start the session is replaced: Session Present 0, old subscriptions gone (${v === 5 ? '5.0' : '3.1.1'}) [MQTT-3.1.2-4]`, async () => {
      await using b = await startBroker();
      const first = await b.raw(v);
      await connectOk(first, persistent(v, `replace-${v}`));
      await subscribe(first, 'replace/#', 1);
      const old = b.broker.sessions.get(`replace-${v}`);
      const second = await b.raw(v);
      const a2 = await connectOk(second, connectPacket(v, { clientId: `replace-${v}`, clean: true }));
      assert.equal(a2.sessionPresent, false);
      assert.equal(await first.waitClosed(), true);
      const now = b.broker.sessions.get(`replace-${v}`);
      assert.ok(now !== undefined && now !== old, 'a new session object');
      assert.equal(now.subscriptions.size, 0);
      const pub = await b.client({ protocolVersion: 4, clientId: `pub-${v}` });
      await pub.publishAsync('replace/x', 'nobody', { qos: 1 });
      // A marker on a topic the new connection subscribes to now shows the old filter did not fire first.
      await subscribe(second, 'marker', 1);
      await pub.publishAsync('marker', 'm', { qos: 1 });
      const p = (await second.next()) as PublishPacket;
      assert.equal(p.type, PacketType.Publish);
      assert.equal(p.topic, 'marker', `received ${p.topic}: the old subscription survived`);
    });
  }

  it('takeover - 3.1.1 Clean Session 1 taking over a Clean Session 0 session also ends it for later [MQTT-3.1.2-6]', async () => {
    await using b = await startBroker();
    const first = await b.raw(4);
    await connectOk(first, persistent(4, 'cs'));
    await subscribe(first, 'cs/#');
    const second = await b.raw(4);
    await connectOk(second, connectPacket(4, { clientId: 'cs', clean: true }));
    second.send({ type: PacketType.Disconnect, reasonCode: 0 });
    assert.equal(await second.waitClosed(), true);
    const third = await b.raw(4);
    const ack = await connectOk(third, persistent(4, 'cs'));
    assert.equal(ack.sessionPresent, false, 'no session survived the clean connection');
  });

  for (const v of [4, 5] as const) {
    it(`takeover - the first connection's will is published (${v === 5 ? '5.0' : '3.1.1'})`, async () => {
      await using b = await startBroker();
      const sub = await b.client({ protocolVersion: 4, clientId: 'will-sub' });
      await sub.subscribeAsync('will/takeover', { qos: 1 });
      const first = await b.raw(v);
      await connectOk(
        first,
        connectPacket(v, {
          clientId: `willer-${v}`,
          will: { topic: 'will/takeover', payload: Buffer.from('taken over'), qos: 1, retain: false },
        }),
      );
      const got = collect(sub, 1);
      const second = await b.raw(v);
      await connectOk(second, connectPacket(v, { clientId: `willer-${v}` }));
      const [m] = await got;
      assert.equal(m!.payload.toString(), 'taken over');
      // Published once, not again when the second connection ends normally.
      second.send({ type: PacketType.Disconnect, reasonCode: 0 });
      assert.equal(await second.waitClosed(), true);
      assert.deepEqual(await collectFor(sub, 200), []);
    });
  }

  it('takeover - 5.0 will with a Will Delay is cancelled when the session resumes in time [MQTT-3.1.3-9]', async () => {
    await using b = await startBroker();
    const sub = await b.client({ protocolVersion: 4, clientId: 'will-sub' });
    await sub.subscribeAsync('will/delayed', { qos: 1 });
    const first = await b.raw(5);
    await connectOk(
      first,
      connectPacket(5, {
        clientId: 'delayed',
        clean: false,
        properties: { sessionExpiryInterval: 300 },
        will: {
          topic: 'will/delayed',
          payload: Buffer.from('late'),
          qos: 1,
          retain: false,
          properties: { willDelayInterval: 60 },
        },
      }),
    );
    const second = await b.raw(5);
    const ack = await connectOk(second, persistent(5, 'delayed'));
    assert.equal(ack.sessionPresent, true);
    assert.equal(await first.waitClosed(), true);
    assert.deepEqual(await collectFor(sub, 300), []);
    assert.equal(b.broker.sessions.get('delayed')?.pendingWill, undefined);
  });

  it('takeover - a chain of takeovers leaves one connection and one session', async () => {
    await using b = await startBroker();
    const conns: RawClient[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await b.raw(i % 2 === 0 ? 4 : 5);
      const ack = await connectOk(r, persistent(r.version, 'chain'));
      assert.equal(ack.sessionPresent, i > 0);
      conns.push(r);
    }
    for (const r of conns.slice(0, -1)) assert.equal(await r.waitClosed(), true);
    assert.equal(conns.at(-1)!.closed, false);
    assert.equal(b.broker.clients.size, 1);
    assert.equal(b.broker.sessions.size, 1);
  });
});
