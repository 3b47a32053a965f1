import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type Packet,
  PacketType,
  type Properties,
  type ProtocolVersion,
  type PublishPacket,
  type QoS,
  ReasonCode,
} from '../../src/codec/index.js';
import { connectPacket, type RawClient, startBroker, type TestBroker } from '../helpers/broker.js';
import {
  connected,
  disconnected,
  expectPacket,
  opt,
  persistent,
  publish,
  settle,
  subscribe,
  VERSION_NAME,
} from '../helpers/raw.js';

function pub(topic: string, payload: string, qos: QoS, packetId?: number, dup = false): PublishPacket {
  return {
    type: PacketType.Publish,
    topic,
    payload: Buffer.from(payload),
    qos,
    retain: false,
    dup,
    packetId,
  };
}

/** Records every byte the client receives from now on. */
function tap(r: RawClient): () => string {
  const chunks: Buffer[] = [];
  r.socket.on('data', (c: Buffer) => chunks.push(c));
  return () => Buffer.concat(chunks.splice(0)).toString('hex');
}

describe('qos', () => {
  it('qos - MQTT 3.1: a QoS 2 flow completes after a reconnect with PUBREL DUP=1 (`6a 02 00 01`), and a SUBSCRIBE / UNSUBSCRIBE retry with DUP=1 is answered (MQTT 3.1 §2.1)', async () => {
    await using b = await startBroker();
    const sub = await connected(b, 3, 'sub31');
    await subscribe(sub, [opt('t31', 2)]);
    let p = await connected(b, 3, persistent(3, 'pub31'));
    p.send(pub('t31', 'once', 2, 1));
    assert.deepEqual(await p.next(), { type: PacketType.Pubrec, packetId: 1, reasonCode: 0 });
    const gone = disconnected(b, 'pub31');
    p.destroy();
    await gone;
    p = await connected(b, 3, persistent(3, 'pub31'));
    p.write('6a 02 00 01'); // PUBREL, DUP=1, QoS 1: the retry of an MQTT 3.1 client
    assert.deepEqual(await p.next(), { type: PacketType.Pubcomp, packetId: 1, reasonCode: 0 });
    p.write('8a 08 00 02 00 03 74 33 31 01'); // SUBSCRIBE with DUP=1: t31 at QoS 1
    const ack = await expectPacket(p, PacketType.Suback);
    assert.deepEqual([ack.packetId, ack.reasonCodes], [2, [1]]);
    p.write('aa 07 00 03 00 03 74 33 31'); // UNSUBSCRIBE with DUP=1
    assert.equal((await expectPacket(p, PacketType.Unsuback)).packetId, 3);
    const got = (await settle(sub)) as PublishPacket[];
    assert.deepEqual(
      got.map((m) => [m.type, m.payload.toString()]),
      [[PacketType.Publish, 'once']],
      'delivered exactly once',
    );
  });

  for (const v of [3, 4, 5] as const) {
    it(`qos - inbound QoS 1 PUBLISH is answered with PUBACK for its packet id [MQTT-4.3.2-4] (${VERSION_NAME[v]})`, async () => {
      await using b = await startBroker();
      const sub = await connected(b, v, 'sub');
      await subscribe(sub, [opt('t', 1)]);
      const p = await connected(b, v, 'pub');
      p.send(pub('t', 'one', 1, 0x1234));
      assert.deepEqual(await p.next(), { type: PacketType.Puback, packetId: 0x1234, reasonCode: 0 });
      const m = await expectPacket(sub, PacketType.Publish);
      assert.equal(m.payload.toString(), 'one');
      assert.equal(m.qos, 1);
    });

    it(`qos - inbound QoS 2: PUBLISH -> PUBREC, PUBREL -> PUBCOMP [MQTT-4.3.3-8] [MQTT-4.3.3-11] (${VERSION_NAME[v]})`, async () => {
      await using b = await startBroker();
      const sub = await connected(b, v, 'sub');
      await subscribe(sub, [opt('t', 2)]);
      const p = await connected(b, v, 'pub');
      p.send(pub('t', 'two', 2, 0x0102));
      assert.deepEqual(await p.next(), { type: PacketType.Pubrec, packetId: 0x0102, reasonCode: 0 });
      p.send({ type: PacketType.Pubrel, packetId: 0x0102, reasonCode: 0 });
      assert.deepEqual(await p.next(), { type: PacketType.Pubcomp, packetId: 0x0102, reasonCode: 0 });
      const got = (await settle(sub)) as PublishPacket[];
      assert.deepEqual(
        got.map((m) => [m.type, m.payload.toString(), m.qos]),
        [[PacketType.Publish, 'two', 2]],
      );
    });
  }

  it('qos - inbound QoS 1 and QoS 2 acknowledgements are byte-exact (3.1.1)', async () => {
    await using b = await startBroker();
    const p = await connected(b, 4, 'pub');
    const bytes = tap(p);
    p.write('32 07 0001 74 0005 6869'); // PUBLISH QoS 1 't' id 5 'hi'
    await expectPacket(p, PacketType.Puback);
    assert.equal(bytes(), '40020005');
    p.write('34 07 0001 74 0006 6869'); // PUBLISH QoS 2 't' id 6 'hi'
    await expectPacket(p, PacketType.Pubrec);
    assert.equal(bytes(), '50020006');
    p.write('62 02 0006'); // PUBREL id 6
    await expectPacket(p, PacketType.Pubcomp);
    assert.equal(bytes(), '70020006');
  });

  for (const v of [4, 5] as const) {
    it(`qos - a QoS 2 PUBLISH resent with DUP=1 before PUBREL is delivered once [MQTT-4.3.3-10] (${VERSION_NAME[v]})`, async () => {
      await using b = await startBroker();
      const sub = await connected(b, v, 'sub');
      await subscribe(sub, [opt('t', 2)]);
      const p = await connected(b, v, 'pub');
      p.send(pub('t', 'once', 2, 5));
      assert.deepEqual(await p.next(), { type: PacketType.Pubrec, packetId: 5, reasonCode: 0 });
      p.send(pub('t', 'once', 2, 5, true));
      assert.deepEqual(await p.next(), { type: PacketType.Pubrec, packetId: 5, reasonCode: 0 });
      p.send(pub('t', 'once', 2, 5, true));
      assert.deepEqual(await p.next(), { type: PacketType.Pubrec, packetId: 5, reasonCode: 0 });
      const first = (await settle(sub)) as PublishPacket[];
      assert.deepEqual(
        first.map((m) => m.payload.toString()),
        ['once'],
      );
      p.send({ type: PacketType.Pubrel, packetId: 5, reasonCode: 0 });
      assert.deepEqual(await p.next(), { type: PacketType.Pubcomp, packetId: 5, reasonCode: 0 });
      // After PUBCOMP the id is free again: a new PUBLISH with it is a new message [MQTT-4.3.3-9].
      p.send(pub('t', 'again', 2, 5));
      assert.deepEqual(await p.next(), { type: PacketType.Pubrec, packetId: 5, reasonCode: 0 });
      const second = (await settle(sub)) as PublishPacket[];
      assert.deepEqual(
        second.map((m) => m.payload.toString()),
        ['again'],
      );
    });

    it(`qos - PUBREL for an unknown packet id gets PUBCOMP${v === 5 ? ' 0x92' : ''} and the connection stays (${VERSION_NAME[v]})`, async () => {
      await using b = await startBroker();
      const p = await connected(b, v, 'pub');
      p.send({ type: PacketType.Pubrel, packetId: 77, reasonCode: 0 });
      const rc = v === 5 ? ReasonCode.PacketIdentifierNotFound : 0;
      assert.deepEqual(await p.next(), { type: PacketType.Pubcomp, packetId: 77, reasonCode: rc });
      assert.deepEqual(await settle(p), []);
    });

    it(`qos - PUBACK and PUBCOMP for unknown ids are ignored (${VERSION_NAME[v]})`, async () => {
      await using b = await startBroker();
      const p = await connected(b, v, 'pub');
      p.send({ type: PacketType.Puback, packetId: 3, reasonCode: 0 });
      p.send({ type: PacketType.Pubcomp, packetId: 4, reasonCode: 0 });
      assert.deepEqual(await settle(p), []);
    });
  }

  /**
   * Sends 5 QoS 1 messages to a raw subscriber whose window is 2 and checks: only 2 PUBLISHes until PUBACKs
   * come, every one has a packet id unused by the messages still in flight, and all 5 arrive in order.
   */
  async function windowOf2(v: ProtocolVersion, b: TestBroker, subProps?: Properties): Promise<void> {
    const sub = await connected(b, v, { clientId: 'sub', properties: subProps });
    await subscribe(sub, [opt('w', 1)]);
    const p = await connected(b, v, 'pub');
    for (let i = 0; i < 5; i++) await publish(p, 'w', String(i), 1);
    const inflight = new Set<number>();
    const payloads: string[] = [];
    const take = (ps: Packet[]): PublishPacket[] => {
      for (const m of ps) {
        assert.equal(m.type, PacketType.Publish);
        const id = (m as PublishPacket).packetId;
        assert.ok(id !== undefined && id > 0, 'QoS 1 PUBLISH has a packet id');
        assert.ok(!inflight.has(id), `packet id ${id} is already in flight [MQTT-2.2.1-3]`);
        assert.equal((m as PublishPacket).dup, false);
        inflight.add(id);
        payloads.push((m as PublishPacket).payload.toString());
      }
      return ps as PublishPacket[];
    };
    const first = take(await settle(sub));
    assert.equal(first.length, 2, 'two in flight before any PUBACK');
    assert.equal(inflight.size, 2);
    // One PUBACK frees one slot: exactly one more PUBLISH.
    sub.send({ type: PacketType.Puback, packetId: first[0]!.packetId!, reasonCode: 0 });
    inflight.delete(first[0]!.packetId!);
    const second = take(await settle(sub));
    assert.equal(second.length, 1);
    // Acknowledge everything in flight until all five arrived.
    while (payloads.length < 5) {
      for (const id of [...inflight]) {
        sub.send({ type: PacketType.Puback, packetId: id, reasonCode: 0 });
        inflight.delete(id);
      }
      const more = take(await settle(sub));
      assert.ok(more.length > 0 && more.length <= 2, `at most 2 in flight, got ${more.length}`);
    }
    assert.deepEqual(payloads, ['0', '1', '2', '3', '4']);
  }

  for (const v of [4, 5] as const) {
    it(`qos - outbound QoS 1 in flight is limited by max_inflight, packet ids unique [MQTT-4.9.0-2] (${VERSION_NAME[v]})`, async () => {
      await using b = await startBroker({ mqtt: { max_inflight: 2 } });
      await windowOf2(v, b);
    });
  }

  it("qos - outbound QoS 1 in flight never exceeds the client's Receive Maximum [MQTT-3.3.4-7] (5.0)", async () => {
    await using b = await startBroker();
    await windowOf2(5, b, { receiveMaximum: 2 });
  });

  for (const v of [4, 5] as const) {
    it(`qos - outbound QoS 2: PUBLISH -> PUBREC -> PUBREL -> PUBCOMP, in flight until PUBCOMP [MQTT-4.3.3-3] (${VERSION_NAME[v]})`, async () => {
      await using b = await startBroker(v === 4 ? { mqtt: { max_inflight: 1 } } : {});
      const sub = await connected(b, v, {
        clientId: 'sub',
        properties: v === 5 ? { receiveMaximum: 1 } : undefined,
      });
      await subscribe(sub, [opt('t', 2)]);
      const p = await connected(b, v, 'pub');
      await publish(p, 't', 'first', 2);
      await publish(p, 't', 'second', 2);
      const [m, ...rest] = (await settle(sub)) as PublishPacket[];
      assert.equal(rest.length, 0, 'window of 1: the second message waits');
      assert.equal(m!.qos, 2);
      assert.equal(m!.payload.toString(), 'first');
      assert.equal(m!.dup, false);
      const id = m!.packetId!;
      sub.send({ type: PacketType.Pubrec, packetId: id, reasonCode: 0 });
      assert.deepEqual(await sub.next(), { type: PacketType.Pubrel, packetId: id, reasonCode: 0 });
      // PUBREC does not free the slot; PUBCOMP does.
      assert.deepEqual(await settle(sub), []);
      sub.send({ type: PacketType.Pubcomp, packetId: id, reasonCode: 0 });
      const next = (await settle(sub)) as PublishPacket[];
      assert.deepEqual(
        next.map((x) => [x.payload.toString(), x.qos]),
        [['second', 2]],
      );
    });
  }

  it('qos - PUBREC for an unknown id gets PUBREL 0x92 (5.0)', async () => {
    await using b = await startBroker();
    const sub = await connected(b, 5, 'sub');
    sub.send({ type: PacketType.Pubrec, packetId: 42, reasonCode: 0 });
    assert.deepEqual(await sub.next(), {
      type: PacketType.Pubrel,
      packetId: 42,
      reasonCode: ReasonCode.PacketIdentifierNotFound,
    });
  });

  it('qos - a client exceeding our Receive Maximum gets DISCONNECT 0x93 [MQTT-3.3.4-9] (5.0)', async () => {
    await using b = await startBroker({ mqtt: { receive_maximum: 2 } });
    const r = await b.raw(5);
    r.send(connectPacket(5, { clientId: 'greedy' }));
    const ack = await expectPacket(r, PacketType.Connack);
    assert.equal(ack.properties?.receiveMaximum, 2);
    r.send(pub('t', '1', 2, 1));
    r.send(pub('t', '2', 2, 2));
    r.send(pub('t', '3', 2, 3));
    assert.deepEqual(await r.next(), {
      type: PacketType.Pubrec,
      packetId: 1,
      reasonCode: ReasonCode.NoMatchingSubscribers,
    });
    assert.deepEqual(await r.next(), {
      type: PacketType.Pubrec,
      packetId: 2,
      reasonCode: ReasonCode.NoMatchingSubscribers,
    });
    const d = await expectPacket(r, PacketType.Disconnect);
    assert.equal(d.reasonCode, ReasonCode.ReceiveMaximumExceeded);
    assert.equal(await r.waitClosed(), true);
  });

  it('qos - a client that completes its flows may keep using its whole Receive Maximum (5.0)', async () => {
    await using b = await startBroker({ mqtt: { receive_maximum: 2 } });
    const r = await connected(b, 5, 'steady');
    for (let round = 0; round < 3; round++) {
      const ids = [round * 2 + 1, round * 2 + 2];
      for (const id of ids) r.send(pub('t', String(id), 2, id));
      for (const id of ids) assert.equal((await expectPacket(r, PacketType.Pubrec)).packetId, id);
      for (const id of ids) r.send({ type: PacketType.Pubrel, packetId: id, reasonCode: 0 });
      for (const id of ids)
        assert.deepEqual(await r.next(), { type: PacketType.Pubcomp, packetId: id, reasonCode: 0 });
    }
    assert.deepEqual(await settle(r), []);
  });

  it('qos - PUBACK / PUBREC reason 0x10 No matching subscribers; 0x00 once there is one (5.0)', async () => {
    await using b = await startBroker();
    const p = await connected(b, 5, 'pub');
    p.send(pub('nobody', 'x', 1, 1));
    assert.deepEqual(await p.next(), {
      type: PacketType.Puback,
      packetId: 1,
      reasonCode: ReasonCode.NoMatchingSubscribers,
    });
    p.send(pub('nobody', 'x', 2, 2));
    assert.deepEqual(await p.next(), {
      type: PacketType.Pubrec,
      packetId: 2,
      reasonCode: ReasonCode.NoMatchingSubscribers,
    });
    p.send({ type: PacketType.Pubrel, packetId: 2, reasonCode: 0 });
    assert.deepEqual(await p.next(), { type: PacketType.Pubcomp, packetId: 2, reasonCode: 0 });
    const sub = await connected(b, 5, 'sub');
    await subscribe(sub, [opt('nobody', 0)]);
    p.send(pub('nobody', 'x', 1, 3));
    assert.deepEqual(await p.next(), { type: PacketType.Puback, packetId: 3, reasonCode: 0 });
  });

  it('qos - PUBACK with no subscribers is a plain success (3.1.1)', async () => {
    await using b = await startBroker();
    const p = await connected(b, 4, 'pub');
    p.send(pub('nobody', 'x', 1, 1));
    assert.deepEqual(await p.next(), { type: PacketType.Puback, packetId: 1, reasonCode: 0 });
  });
});
