import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PacketType, type Properties, type PublishPacket } from '../../src/codec/index.js';
import { collectFor, type RawClient, startBroker, type TestBroker } from '../helpers/broker.js';
import {
  disconnected,
  expectPacket,
  PERSIST,
  persistent,
  rawConnect,
  subscribe,
  versions,
} from '../helpers/raw.js';

const VERSIONS = versions(4, 5);

/** Sends DISCONNECT 0x00 and waits until the server closed the socket (the session is detached by then). */
async function disconnect(r: RawClient, properties?: Properties): Promise<void> {
  r.send({ type: PacketType.Disconnect, reasonCode: 0, properties });
  assert.equal(await r.waitClosed(), true, 'server did not close after DISCONNECT');
}

/** Resolves with the ms elapsed until the session of `clientId` ends. */
function sessionEnded(b: TestBroker, clientId: string, ms: number): Promise<number> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      off();
      reject(new Error(`session ${clientId} did not end within ${ms} ms`));
    }, ms);
    const off = b.broker.hooks.on('session.terminated', (id) => {
      if (id !== clientId) return;
      clearTimeout(t);
      off();
      resolve(Date.now() - start);
    });
  });
}

/** Asserts that no packet arrives within `ms`. */
async function expectSilence(r: RawClient, ms = 300): Promise<void> {
  await assert.rejects(r.next(ms), /no packet within/);
}

async function publisher(b: TestBroker, id = 'pub') {
  return b.client({ protocolVersion: 4, clientId: id });
}

describe('sessions', { concurrency: true }, () => {
  for (const { v, name } of VERSIONS) {
    it(`session - persistent session keeps its subscriptions across a reconnect, Session Present 1 (${name}) ${v === 4 ? '[MQTT-3.2.2-2]' : '[MQTT-3.2.2-3]'}`, async () => {
      await using b = await startBroker();
      const id = `keep-${v}`;
      const first = await rawConnect(b, v, persistent(v, id));
      // No session existed: Session Present 0 [MQTT-3.2.2-3] (3.1.1) / [MQTT-3.2.2-6] (5.0).
      assert.equal(first.connack.sessionPresent, false);
      await subscribe(first.r, 'keep/+', 1);
      await disconnect(first.r);

      const { r, connack } = await rawConnect(b, v, persistent(v, id));
      assert.equal(connack.sessionPresent, true);
      const pub = await publisher(b);
      await pub.publishAsync('keep/a', 'still subscribed', { qos: 1 });
      const p = await expectPacket(r, PacketType.Publish);
      assert.equal(p.topic, 'keep/a');
      assert.equal(p.payload.toString(), 'still subscribed');
      assert.equal(p.qos, 1);
    });
  }

  it('session - MQTT 3.1 persistent session keeps its subscriptions across a reconnect', async () => {
    await using b = await startBroker();
    const first = await rawConnect(b, 3, { clientId: 'keep-31', clean: false });
    await subscribe(first.r, 'k31/#', 2);
    await disconnect(first.r);
    const { r, connack } = await rawConnect(b, 3, { clientId: 'keep-31', clean: false });
    // MQTT 3.1 has no Session Present flag: the byte is 0.
    assert.equal(connack.sessionPresent, false);
    const pub = await publisher(b);
    await pub.publishAsync('k31/x', 'v3', { qos: 2 });
    const p = await expectPacket(r, PacketType.Publish);
    assert.equal(p.topic, 'k31/x');
    assert.equal(p.qos, 2);
  });

  for (const { v, name } of VERSIONS) {
    it(`session - QoS 1 and 2 messages published while offline are queued and delivered on reconnect in order (${name})`, async () => {
      await using b = await startBroker();
      const id = `offline-${v}`;
      const first = await rawConnect(b, v, persistent(v, id));
      await subscribe(first.r, 'off/#', 2);
      await disconnect(first.r);

      const pub = await publisher(b);
      await pub.publishAsync('off/1', 'one', { qos: 1 });
      await pub.publishAsync('off/2', 'two', { qos: 2 });
      await pub.publishAsync('off/3', 'three', { qos: 1 });

      const { r, connack } = await rawConnect(b, v, persistent(v, id));
      assert.equal(connack.sessionPresent, true);
      const got: PublishPacket[] = [];
      for (let i = 0; i < 3; i++) got.push(await expectPacket(r, PacketType.Publish));
      assert.deepEqual(
        got.map((p) => [p.topic, p.payload.toString(), p.qos, p.dup]),
        [
          ['off/1', 'one', 1, false],
          ['off/2', 'two', 2, false],
          ['off/3', 'three', 1, false],
        ],
      );
      const ids = got.map((p) => p.packetId);
      assert.equal(new Set(ids).size, 3, `packet ids must be distinct: ${ids}`);
      r.send({ type: PacketType.Puback, packetId: got[0]!.packetId!, reasonCode: 0 });
      r.send({ type: PacketType.Pubrec, packetId: got[1]!.packetId!, reasonCode: 0 });
      r.send({ type: PacketType.Puback, packetId: got[2]!.packetId!, reasonCode: 0 });
      const rel = await expectPacket(r, PacketType.Pubrel);
      assert.equal(rel.packetId, got[1]!.packetId);
      r.send({ type: PacketType.Pubcomp, packetId: rel.packetId, reasonCode: 0 });
      await expectSilence(r);
    });
  }

  it('session - QoS 0 messages are not queued for an offline client by default', async () => {
    await using b = await startBroker();
    const first = await rawConnect(b, 4, persistent(4, 'q0-default'));
    await subscribe(first.r, 'q0/#', 1);
    await disconnect(first.r);
    const pub = await publisher(b);
    await pub.publishAsync('q0/zero', 'lost', { qos: 0 });
    await pub.publishAsync('q0/one', 'kept', { qos: 1 });

    const { r } = await rawConnect(b, 4, persistent(4, 'q0-default'));
    const p = await expectPacket(r, PacketType.Publish);
    assert.equal(p.topic, 'q0/one');
    r.send({ type: PacketType.Puback, packetId: p.packetId!, reasonCode: 0 });
    await expectSilence(r);
    assert.equal(b.broker.stats['messages.dropped.qos0_offline'], 1);
  });

  it('session - QoS 0 messages are queued for an offline client with mqtt.queue_qos0_messages', async () => {
    await using b = await startBroker({ mqtt: { queue_qos0_messages: true } });
    const first = await rawConnect(b, 4, persistent(4, 'q0-queued'));
    await subscribe(first.r, 'q0/#', 1);
    await disconnect(first.r);
    const pub = await publisher(b);
    await pub.publishAsync('q0/zero', 'kept too', { qos: 0 });
    await pub.publishAsync('q0/one', 'kept', { qos: 1 });

    const { r } = await rawConnect(b, 4, persistent(4, 'q0-queued'));
    const p0 = await expectPacket(r, PacketType.Publish);
    assert.deepEqual(
      [p0.topic, p0.payload.toString(), p0.qos, p0.packetId],
      ['q0/zero', 'kept too', 0, undefined],
    );
    const p1 = await expectPacket(r, PacketType.Publish);
    assert.deepEqual([p1.topic, p1.qos], ['q0/one', 1]);
    assert.equal(b.broker.stats['messages.dropped.qos0_offline'], 0);
  });

  for (const { v, name } of VERSIONS) {
    for (const qos of [1, 2] as const) {
      it(`session - unacknowledged QoS ${qos} PUBLISHes are re-sent with DUP=1 and their packet ids on reconnect, in order (${name}) [MQTT-4.4.0-1] [MQTT-3.3.1-1]`, async () => {
        await using b = await startBroker();
        const id = `dup-${v}-${qos}`;
        const first = await rawConnect(b, v, persistent(v, id));
        await subscribe(first.r, 'dup/#', qos);
        const pub = await publisher(b);
        await pub.publishAsync('dup/a', 'first', { qos });
        await pub.publishAsync('dup/b', 'second', { qos });
        const a = await expectPacket(first.r, PacketType.Publish);
        const c = await expectPacket(first.r, PacketType.Publish);
        assert.equal(a.dup, false);
        assert.equal(c.dup, false);
        // Never acknowledge: drop the socket without DISCONNECT.
        const gone = disconnected(b, id);
        first.r.destroy();
        await gone;

        const { r, connack } = await rawConnect(b, v, persistent(v, id));
        assert.equal(connack.sessionPresent, true);
        const a2 = await expectPacket(r, PacketType.Publish);
        const c2 = await expectPacket(r, PacketType.Publish);
        assert.deepEqual(
          [a2.topic, a2.payload.toString(), a2.qos, a2.dup, a2.packetId],
          ['dup/a', 'first', qos, true, a.packetId],
        );
        assert.deepEqual(
          [c2.topic, c2.payload.toString(), c2.qos, c2.dup, c2.packetId],
          ['dup/b', 'second', qos, true, c.packetId],
        );
        if (qos === 1) {
          r.send({ type: PacketType.Puback, packetId: a2.packetId!, reasonCode: 0 });
          r.send({ type: PacketType.Puback, packetId: c2.packetId!, reasonCode: 0 });
        } else {
          r.send({ type: PacketType.Pubrec, packetId: a2.packetId!, reasonCode: 0 });
          assert.equal((await expectPacket(r, PacketType.Pubrel)).packetId, a2.packetId);
          r.send({ type: PacketType.Pubcomp, packetId: a2.packetId!, reasonCode: 0 });
          r.send({ type: PacketType.Pubrec, packetId: c2.packetId!, reasonCode: 0 });
          assert.equal((await expectPacket(r, PacketType.Pubrel)).packetId, c2.packetId);
          r.send({ type: PacketType.Pubcomp, packetId: c2.packetId!, reasonCode: 0 });
        }
        await expectSilence(r);
        assert.equal(b.broker.sessions.get(id)?.inflight.size, 0);
      });
    }
  }

  for (const { v, name } of VERSIONS) {
    it(`session - an outbound QoS 2 flow interrupted after PUBREC resumes with PUBREL, not PUBLISH (${name}) [MQTT-4.4.0-1]`, async () => {
      await using b = await startBroker();
      const id = `q2resume-${v}`;
      const first = await rawConnect(b, v, persistent(v, id));
      await subscribe(first.r, 'q2/#', 2);
      const pub = await publisher(b);
      await pub.publishAsync('q2/x', 'exactly once', { qos: 2 });
      const p = await expectPacket(first.r, PacketType.Publish);
      first.r.send({ type: PacketType.Pubrec, packetId: p.packetId!, reasonCode: 0 });
      const rel = await expectPacket(first.r, PacketType.Pubrel);
      assert.equal(rel.packetId, p.packetId);
      // Drop the connection before PUBCOMP.
      const gone = disconnected(b, id);
      first.r.destroy();
      await gone;

      const { r, connack } = await rawConnect(b, v, persistent(v, id));
      assert.equal(connack.sessionPresent, true);
      const rel2 = await expectPacket(r, PacketType.Pubrel);
      assert.equal(rel2.packetId, p.packetId);
      r.send({ type: PacketType.Pubcomp, packetId: p.packetId!, reasonCode: 0 });
      await expectSilence(r);
      assert.equal(b.broker.sessions.get(id)?.inflight.size, 0);
    });
  }

  it('session - an inbound QoS 2 PUBLISH re-sent after a reconnect is not delivered twice [MQTT-4.3.3-10]', async () => {
    await using b = await startBroker();
    const sub = await b.client({ protocolVersion: 4, clientId: 'in-q2-sub' });
    await sub.subscribeAsync('in/#', { qos: 2 });
    const seen = collectFor(sub, 600);
    const first = await rawConnect(b, 4, persistent(4, 'in-q2'));
    const pkt: PublishPacket = {
      type: PacketType.Publish,
      topic: 'in/q2',
      payload: Buffer.from('once'),
      qos: 2,
      retain: false,
      dup: false,
      packetId: 7,
    };
    first.r.send(pkt);
    assert.equal((await expectPacket(first.r, PacketType.Pubrec)).packetId, 7);
    const gone = disconnected(b, 'in-q2');
    first.r.destroy();
    await gone;

    const { r, connack } = await rawConnect(b, 4, persistent(4, 'in-q2'));
    assert.equal(connack.sessionPresent, true);
    r.send({ ...pkt, dup: true });
    assert.equal((await expectPacket(r, PacketType.Pubrec)).packetId, 7);
    r.send({ type: PacketType.Pubrel, packetId: 7, reasonCode: 0 });
    assert.equal((await expectPacket(r, PacketType.Pubcomp)).packetId, 7);
    const got = await seen;
    assert.deepEqual(
      got.map((m) => m.payload.toString()),
      ['once'],
    );
  });

  it('session - CleanSession=1 discards the old session: Session Present 0, no subscriptions, no queued messages [MQTT-3.1.2-6] [MQTT-3.2.2-1]', async () => {
    await using b = await startBroker();
    const first = await rawConnect(b, 4, persistent(4, 'clean-1'));
    await subscribe(first.r, 'cl/#', 1);
    await disconnect(first.r);
    const pub = await publisher(b);
    await pub.publishAsync('cl/queued', 'queued', { qos: 1 });

    const { r, connack } = await rawConnect(b, 4, { clientId: 'clean-1', clean: true });
    assert.equal(connack.sessionPresent, false);
    await pub.publishAsync('cl/after', 'after', { qos: 1 });
    await expectSilence(r);
    await disconnect(r);

    // A clean session also ends with its connection: nothing is left to resume.
    const again = await rawConnect(b, 4, persistent(4, 'clean-1'));
    assert.equal(again.connack.sessionPresent, false);
    await pub.publishAsync('cl/later', 'later', { qos: 1 });
    await expectSilence(again.r);
  });

  it('session - v5 Clean Start=1 discards an existing session: Session Present 0 [MQTT-3.2.2-2]', async () => {
    await using b = await startBroker();
    const first = await rawConnect(b, 5, persistent(5, 'cs-1'));
    await subscribe(first.r, 'cs/#', 1);
    await disconnect(first.r);
    const { r, connack } = await rawConnect(b, 5, { clientId: 'cs-1', clean: true, properties: PERSIST });
    assert.equal(connack.sessionPresent, false);
    const pub = await publisher(b);
    await pub.publishAsync('cs/x', 'x', { qos: 1 });
    await expectSilence(r);
  });

  it('session - v5 Session Expiry Interval 0 (absent) ends the session when the connection closes', async () => {
    await using b = await startBroker();
    const first = await rawConnect(b, 5, { clientId: 'exp-0', clean: false });
    await subscribe(first.r, 'e0/#', 1);
    const ended = sessionEnded(b, 'exp-0', 1000);
    await disconnect(first.r);
    await ended;
    const { r, connack } = await rawConnect(b, 5, { clientId: 'exp-0', clean: false });
    assert.equal(connack.sessionPresent, false);
    const pub = await publisher(b);
    await pub.publishAsync('e0/x', 'x', { qos: 1 });
    await expectSilence(r);
  });

  it('session - v5 Session Expiry Interval 1 s: present when reconnecting within it, gone after it', async () => {
    await using b = await startBroker();
    const props = { sessionExpiryInterval: 1 };
    const first = await rawConnect(b, 5, persistent(5, 'exp-1', props));
    await subscribe(first.r, 'e1/#', 1);
    await disconnect(first.r);

    const second = await rawConnect(b, 5, persistent(5, 'exp-1', props));
    assert.equal(second.connack.sessionPresent, true);
    const ended = sessionEnded(b, 'exp-1', 2500);
    await disconnect(second.r);
    const ms = await ended;
    assert.ok(ms >= 900 && ms <= 1500, `session ended ${ms} ms after the disconnect, expected ~1000`);

    const { r, connack } = await rawConnect(b, 5, persistent(5, 'exp-1', props));
    assert.equal(connack.sessionPresent, false);
    const pub = await publisher(b);
    await pub.publishAsync('e1/x', 'x', { qos: 1 });
    await expectSilence(r);
  });

  it('session - v5 DISCONNECT changing Session Expiry Interval from 0 to 5 is a Protocol Error: DISCONNECT 0x82 without Session Expiry [MQTT-3.14.2-2]', async () => {
    await using b = await startBroker();
    const { r } = await rawConnect(b, 5, { clientId: 'dis-0-5', clean: false });
    await subscribe(r, 'd05/#', 1);
    r.send({ type: PacketType.Disconnect, reasonCode: 0, properties: { sessionExpiryInterval: 5 } });
    const d = await expectPacket(r, PacketType.Disconnect);
    assert.equal(d.reasonCode, 0x82);
    assert.equal(d.properties?.sessionExpiryInterval, undefined);
    assert.equal(await r.waitClosed(), true);
    // The expiry stayed 0: the session is gone.
    const again = await rawConnect(b, 5, { clientId: 'dis-0-5', clean: false });
    assert.equal(again.connack.sessionPresent, false);
  });

  it('session - v5 DISCONNECT changing Session Expiry Interval from 10 to 0 ends the session at once', async () => {
    await using b = await startBroker();
    const props = { sessionExpiryInterval: 10 };
    const { r } = await rawConnect(b, 5, persistent(5, 'dis-10-0', props));
    await subscribe(r, 'd100/#', 1);
    await disconnect(r, { sessionExpiryInterval: 0 });
    assert.equal(b.broker.sessions.has('dis-10-0'), false);
    const again = await rawConnect(b, 5, persistent(5, 'dis-10-0', props));
    assert.equal(again.connack.sessionPresent, false);
    const pub = await publisher(b);
    await pub.publishAsync('d100/x', 'x', { qos: 1 });
    await expectSilence(again.r);
  });

  it('session - v5 DISCONNECT changing Session Expiry Interval from 10 to 1 makes the session expire after 1 s', async () => {
    await using b = await startBroker();
    const { r } = await rawConnect(b, 5, persistent(5, 'dis-10-1', { sessionExpiryInterval: 10 }));
    const ended = sessionEnded(b, 'dis-10-1', 2500);
    await disconnect(r, { sessionExpiryInterval: 1 });
    const ms = await ended;
    assert.ok(ms >= 900 && ms <= 1500, `session ended ${ms} ms after the disconnect, expected ~1000`);
  });

  it('session - mqtt.max_session_expiry caps the requested Session Expiry Interval and CONNACK says so', async () => {
    await using b = await startBroker({ mqtt: { max_session_expiry: 5 } });
    const capped = await rawConnect(b, 5, persistent(5, 'cap-100', { sessionExpiryInterval: 100 }));
    assert.equal(capped.connack.properties?.sessionExpiryInterval, 5);
    assert.equal(b.broker.sessions.get('cap-100')?.expiryInterval, 5);
    // A request within the cap is used as is: CONNACK does not repeat it.
    const within = await rawConnect(b, 5, persistent(5, 'cap-3', { sessionExpiryInterval: 3 }));
    assert.equal(within.connack.properties?.sessionExpiryInterval, undefined);
  });

  for (const policy of ['drop_oldest', 'drop_newest'] as const) {
    it(`session - a bounded offline queue (max_queued_messages 3, ${policy}) keeps 3 of 5 and counts 2 drops`, async () => {
      await using b = await startBroker({ mqtt: { max_queued_messages: 3, queue_drop_policy: policy } });
      const first = await rawConnect(b, 4, persistent(4, 'bounded'));
      await subscribe(first.r, 'bq/#', 1);
      await disconnect(first.r);
      const pub = await publisher(b);
      for (let i = 1; i <= 5; i++) await pub.publishAsync('bq/m', `m${i}`, { qos: 1 });

      const { r } = await rawConnect(b, 4, persistent(4, 'bounded'));
      const got: string[] = [];
      for (let i = 0; i < 3; i++) {
        const p = await expectPacket(r, PacketType.Publish);
        got.push(p.payload.toString());
        r.send({ type: PacketType.Puback, packetId: p.packetId!, reasonCode: 0 });
      }
      await expectSilence(r);
      assert.deepEqual(got, policy === 'drop_oldest' ? ['m3', 'm4', 'm5'] : ['m1', 'm2', 'm3']);
      assert.equal(b.broker.stats['messages.dropped.queue_full'], 2);
    });
  }
});
