import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { PacketType, ReasonCode } from '../../src/codec/index.js';
import { collect, collectFor, connectPacket, type RawClient, startBroker } from '../helpers/broker.js';
import { connectOk, expectPacket } from '../helpers/raw.js';

// CONNECT packets written as bytes, so the broker is checked against the wire format, not our encoder.
// Keep Alive 60, Clean Session 1, client id "c1".
const CONNECT_31 = '10 10 0006 4d5149736470 03 02 003c 0002 6331';
const CONNECT_311 = '10 0e 0004 4d515454 04 02 003c 0002 6331';
const CONNECT_5 = '10 0f 0004 4d515454 05 02 003c 00 0002 6331';

/** Records every byte the server sends to `r` (attach before the server can answer). */
function tap(r: RawClient): () => Buffer {
  const chunks: Buffer[] = [];
  r.socket.on('data', (c: Buffer) => chunks.push(c));
  return () => Buffer.concat(chunks);
}

function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

/** Asserts that the server closes `r` and that it sent exactly `expected` (hex) before. */
async function assertRefused(r: RawClient, bytes: () => Buffer, expected: string): Promise<void> {
  assert.equal(await r.waitClosed(3000), true, 'server did not close the connection');
  assert.equal(bytes().toString('hex'), hex(expected).toString('hex'));
}

async function roundTrip(sub: MqttClient, pub: MqttClient, topic: string): Promise<void> {
  await sub.subscribeAsync(topic, { qos: 1 });
  const got = collect(sub, 1);
  await pub.publishAsync(topic, 'ping', { qos: 1 });
  const [m] = await got;
  assert.equal(m!.payload.toString(), 'ping');
}

describe('connect', () => {
  it('connect - MQTT 3.1 (MQIsdp, level 3) CONNECT gets CONNACK 20 02 00 00', async () => {
    await using b = await startBroker();
    const r = await b.raw(3);
    const bytes = tap(r);
    r.write(CONNECT_31);
    await expectPacket(r, PacketType.Connack);
    assert.equal(bytes().toString('hex'), '20020000');
    assert.ok(b.broker.sessions.has('c1'));
  });

  it('connect - MQTT 3.1.1 (level 4) CONNECT gets CONNACK 20 02 00 00 [MQTT-3.2.2-1]', async () => {
    await using b = await startBroker();
    const r = await b.raw(4);
    const bytes = tap(r);
    r.write(CONNECT_311);
    await expectPacket(r, PacketType.Connack);
    assert.equal(bytes().toString('hex'), '20020000');
  });

  it('connect - MQTT 5.0 CONNACK announces the configured limits in its properties [MQTT-3.2.2-1]', async () => {
    await using b = await startBroker({
      mqtt: { max_packet_size: 4096, receive_maximum: 7, topic_alias_maximum: 3 },
    });
    const r = await b.raw(5);
    const bytes = tap(r);
    r.write(CONNECT_5);
    const ack = await expectPacket(r, PacketType.Connack);
    const raw = bytes();
    // Fixed header 0x20, then Acknowledge Flags 0 and Reason Code 0 (Success), then properties.
    assert.equal(raw[0], 0x20);
    assert.equal(raw[1], raw.length - 2, 'remaining length covers the whole packet');
    assert.equal(raw[2], 0x00);
    assert.equal(raw[3], 0x00);
    assert.equal(raw[4], raw.length - 5, 'property length covers the rest of the packet');
    assert.equal(ack.sessionPresent, false);
    assert.equal(ack.properties?.maximumPacketSize, 4096);
    assert.equal(ack.properties?.receiveMaximum, 7);
    assert.equal(ack.properties?.topicAliasMaximum, 3);
    assert.equal(ack.properties?.assignedClientIdentifier, undefined, 'the client chose its id');
    // The property bytes themselves: 0x27 Maximum Packet Size, 0x21 Receive Maximum, 0x22 Topic Alias Maximum.
    const props = raw.subarray(5).toString('hex');
    assert.ok(props.includes('2700001000'), props);
    assert.ok(props.includes('210007'), props);
    assert.ok(props.includes('220003'), props);
  });

  it('connect - MQTT 5.0 CONNACK omits Receive Maximum at 65535 and Topic Alias Maximum at 0', async () => {
    await using b = await startBroker({ mqtt: { receive_maximum: 65535, topic_alias_maximum: 0 } });
    const r = await b.raw(5);
    const ack = await connectOk(r, connectPacket(5));
    assert.equal(ack.properties?.receiveMaximum, undefined);
    assert.equal(ack.properties?.topicAliasMaximum, undefined);
    assert.equal(ack.properties?.maximumPacketSize, 1048576);
  });

  for (const version of [3, 4, 5] as const) {
    it(`connect - mqtt.js clients at level ${version} connect and exchange a message`, async () => {
      await using b = await startBroker();
      const opts =
        version === 3
          ? { protocolVersion: 3 as const, protocolId: 'MQIsdp' as const }
          : { protocolVersion: version };
      const sub = await b.client({ ...opts, clientId: `sub-${version}` });
      const pub = await b.client({ ...opts, clientId: `pub-${version}` });
      await roundTrip(sub, pub, `v${version}/t`);
    });
  }

  it('connect - unsupported protocol level 6 gets CONNACK 0x01 (3.x form) and close [MQTT-3.1.2-2]', async () => {
    await using b = await startBroker();
    const r = await b.raw(4);
    const bytes = tap(r);
    r.write('10 0e 0004 4d515454 06 02 003c 0002 6331');
    await assertRefused(r, bytes, '20 02 00 01');
    assert.equal(b.broker.sessions.size, 0);
  });

  it('connect - protocol level 2 is refused with CONNACK 0x01 and close', async () => {
    await using b = await startBroker();
    const r = await b.raw(4);
    const bytes = tap(r);
    r.write('10 0e 0004 4d515454 02 02 003c 0002 6331');
    await assertRefused(r, bytes, '20 02 00 01');
  });

  it('connect - protocol name not matching the level ("MQTT" at level 3) is refused and closed [MQTT-3.1.2-1]', async () => {
    await using b = await startBroker();
    const r = await b.raw(4);
    const bytes = tap(r);
    r.write('10 0e 0004 4d515454 03 02 003c 0002 6331');
    assert.equal(await r.waitClosed(3000), true);
    const got = bytes().toString('hex');
    assert.ok(got === '' || got === '20020001', `unexpected reply ${got}`);
    assert.equal(b.broker.sessions.size, 0);
  });

  it('client id - 3.1.1 empty id with CleanSession=1 is accepted and gets an id [MQTT-3.1.3-6]', async () => {
    await using b = await startBroker();
    const r = await b.raw(4);
    const bytes = tap(r);
    r.write('10 0c 0004 4d515454 04 02 003c 0000');
    await expectPacket(r, PacketType.Connack);
    assert.equal(bytes().toString('hex'), '20020000');
    assert.equal(b.broker.sessions.size, 1);
    const [id] = [...b.broker.sessions.keys()];
    assert.ok(id !== undefined && id.length > 0, 'the broker assigned a non-empty id');
    // The connection works: SUBSCRIBE gets SUBACK.
    r.send({
      type: PacketType.Subscribe,
      packetId: 1,
      subscriptions: [
        { topicFilter: 'x', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
    });
    assert.deepEqual(await r.next(), { type: PacketType.Suback, packetId: 1, reasonCodes: [0] });
  });

  it('client id - two 3.1.1 clients with empty ids get distinct sessions', async () => {
    await using b = await startBroker();
    const r1 = await b.raw(4);
    const r2 = await b.raw(4);
    await connectOk(r1, connectPacket(4, { clientId: '' }));
    await connectOk(r2, connectPacket(4, { clientId: '' }));
    assert.equal(b.broker.sessions.size, 2);
    assert.equal(r1.closed, false, 'the second empty-id client did not take over the first');
  });

  it('client id - 3.1.1 empty id with CleanSession=0 gets CONNACK 0x02 and close [MQTT-3.1.3-8]', async () => {
    await using b = await startBroker();
    const r = await b.raw(4);
    const bytes = tap(r);
    r.write('10 0c 0004 4d515454 04 00 003c 0000');
    await assertRefused(r, bytes, '20 02 00 02');
    assert.equal(b.broker.sessions.size, 0);
  });

  it('client id - 5.0 empty id gets an Assigned Client Identifier [MQTT-3.2.2-16]', async () => {
    await using b = await startBroker();
    const r1 = await b.raw(5);
    const r2 = await b.raw(5);
    const a1 = await connectOk(r1, connectPacket(5, { clientId: '' }));
    const a2 = await connectOk(r2, connectPacket(5, { clientId: '' }));
    const id1 = a1.properties?.assignedClientIdentifier;
    const id2 = a2.properties?.assignedClientIdentifier;
    assert.ok(id1 !== undefined && id1.length > 0, JSON.stringify(a1));
    assert.ok(id2 !== undefined && id2.length > 0, JSON.stringify(a2));
    assert.notEqual(id1, id2);
    assert.ok(b.broker.sessions.has(id1), 'the session is registered under the assigned id');
    assert.ok(b.broker.sessions.has(id2));
  });

  it('client id - mqtt.js 5.0 client with an empty id receives its Assigned Client Identifier', async () => {
    await using b = await startBroker();
    const c = await b.client({ protocolVersion: 5, clientId: '' });
    const id = c.serverProperties?.assignedClientIdentifier;
    assert.ok(typeof id === 'string' && id.length > 0, JSON.stringify(c.serverProperties));
    assert.ok(b.broker.sessions.has(id), `session ${id} not found`);
  });

  it('client id - 3.1 id of 23 characters is accepted, 24 is refused with 0x02 [MQTT 3.1 §3.1]', async () => {
    await using b = await startBroker();
    const ok = await b.raw(3);
    await connectOk(ok, connectPacket(3, { clientId: 'a'.repeat(23) }));
    const r = await b.raw(3);
    const bytes = tap(r);
    r.send(connectPacket(3, { clientId: 'b'.repeat(24) }));
    await assertRefused(r, bytes, '20 02 00 02');
    assert.equal(b.broker.sessions.has('b'.repeat(24)), false);
  });

  it('client id - 3.1 empty id is refused with 0x02', async () => {
    await using b = await startBroker();
    const r = await b.raw(3);
    const bytes = tap(r);
    r.send(connectPacket(3, { clientId: '' }));
    await assertRefused(r, bytes, '20 02 00 02');
  });

  it('client id - 3.1.1 accepts ids longer than 23 characters [MQTT-3.1.3-6]', async () => {
    await using b = await startBroker();
    const r = await b.raw(4);
    await connectOk(r, connectPacket(4, { clientId: 'x'.repeat(100) }));
    assert.ok(b.broker.sessions.has('x'.repeat(100)));
  });

  it('client id - 5.0 id above mqtt.max_client_id_length gets CONNACK 0x85', async () => {
    await using b = await startBroker({ mqtt: { max_client_id_length: 8 } });
    const r = await b.raw(5);
    r.send(connectPacket(5, { clientId: '123456789' }));
    const ack = await expectPacket(r, PacketType.Connack);
    assert.equal(ack.reasonCode, ReasonCode.ClientIdentifierNotValid);
    assert.equal(await r.waitClosed(), true);
  });

  for (const [name, bytesHex] of [
    ['PINGREQ', 'c0 00'],
    ['PUBLISH', '30 05 0001 61 6869'],
    ['SUBSCRIBE', '82 06 0001 0001 61 00'],
    ['DISCONNECT', 'e0 00'],
  ] as const) {
    it(`before CONNECT - ${name} as the first packet closes the connection without a reply [MQTT-3.1.0-1]`, async () => {
      await using b = await startBroker();
      const r = await b.raw(4);
      const bytes = tap(r);
      r.write(bytesHex);
      assert.equal(await r.waitClosed(2000), true, 'connection still open');
      assert.equal(bytes().length, 0, `server replied ${bytes().toString('hex')}`);
      assert.equal(b.broker.sessions.size, 0);
    });
  }

  it('before CONNECT - a PUBLISH sent before CONNECT is not routed [MQTT-3.1.0-1]', async () => {
    await using b = await startBroker();
    const sub = await b.client({ protocolVersion: 4, clientId: 'watcher' });
    await sub.subscribeAsync('#', { qos: 0 });
    const r = await b.raw(4);
    r.write('30 05 0001 61 6869');
    assert.equal(await r.waitClosed(2000), true);
    assert.deepEqual(await collectFor(sub, 200), []);
  });

  it('second CONNECT - 5.0 gets DISCONNECT 0x82 then close [MQTT-3.1.0-2]', async () => {
    await using b = await startBroker();
    const r = await b.raw(5);
    await connectOk(r, connectPacket(5, { clientId: 'twice' }));
    r.send(connectPacket(5, { clientId: 'twice' }));
    const p = await r.next();
    assert.equal(p.type, PacketType.Disconnect);
    assert.equal((p as { reasonCode: number }).reasonCode, ReasonCode.ProtocolError);
    assert.equal(await r.waitClosed(), true);
  });

  it('second CONNECT - 3.1.1 is closed without a reply, and the will is published [MQTT-3.1.0-2]', async () => {
    await using b = await startBroker();
    const sub = await b.client({ protocolVersion: 4, clientId: 'will-watcher' });
    await sub.subscribeAsync('will/twice', { qos: 0 });
    const r = await b.raw(4);
    await connectOk(
      r,
      connectPacket(4, {
        clientId: 'twice',
        will: { topic: 'will/twice', payload: Buffer.from('gone'), qos: 0, retain: false },
      }),
    );
    const will = collect(sub, 1);
    const bytes = tap(r);
    r.send(connectPacket(4, { clientId: 'twice' }));
    assert.equal(await r.waitClosed(), true);
    assert.equal(bytes().length, 0, `server replied ${bytes().toString('hex')}`);
    const [m] = await will;
    assert.equal(m!.payload.toString(), 'gone');
  });

  it('connect timeout - a socket that never sends CONNECT is closed after mqtt.connect_timeout', async () => {
    await using b = await startBroker({ mqtt: { connect_timeout: 1 } });
    const silent = await b.raw(4);
    const started = Date.now();
    // A client that connects in time on the same broker is not affected by the timer.
    const good = await b.raw(4);
    await connectOk(good, connectPacket(4, { clientId: 'in-time', keepAlive: 0 }));
    assert.equal(await silent.waitClosed(3000), true, 'silent socket still open');
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 900 && elapsed < 2500, `closed after ${elapsed} ms`);
    assert.equal(good.closed, false);
    good.send({ type: PacketType.Pingreq });
    assert.deepEqual(await good.next(), { type: PacketType.Pingresp });
  });

  it('connect timeout - a partial CONNECT does not keep the socket open', async () => {
    await using b = await startBroker({ mqtt: { connect_timeout: 1 } });
    const r = await b.raw(4);
    const started = Date.now();
    r.write('10 0e 0004 4d51'); // the first 6 bytes of a 16-byte CONNECT
    assert.equal(await r.waitClosed(3000), true);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 900 && elapsed < 2500, `closed after ${elapsed} ms`);
  });

  it('will - 5.0 Will Topic with a wildcard gets CONNACK 0x90 and close [MQTT-3.1.3-11]', async () => {
    await using b = await startBroker();
    const r = await b.raw(5);
    r.send(
      connectPacket(5, {
        clientId: 'bad-will',
        will: { topic: 'a/+', payload: Buffer.from('x'), qos: 0, retain: false },
      }),
    );
    const ack = await expectPacket(r, PacketType.Connack);
    assert.equal(ack.reasonCode, ReasonCode.TopicNameInvalid);
    assert.equal(ack.sessionPresent, false);
    assert.equal(await r.waitClosed(), true);
    assert.equal(b.broker.sessions.size, 0);
  });

  it('will - 5.0 empty Will Topic gets CONNACK 0x90 and close', async () => {
    await using b = await startBroker();
    const r = await b.raw(5);
    r.send(
      connectPacket(5, {
        clientId: 'bad-will',
        will: { topic: '', payload: Buffer.from('x'), qos: 0, retain: false },
      }),
    );
    const ack = await expectPacket(r, PacketType.Connack);
    assert.equal(ack.reasonCode, ReasonCode.TopicNameInvalid);
    assert.equal(await r.waitClosed(), true);
  });

  it('will - 3.1.1 Will Topic with a wildcard is refused: no successful CONNACK, connection closed', async () => {
    await using b = await startBroker();
    const r = await b.raw(4);
    r.send(
      connectPacket(4, {
        clientId: 'bad-will',
        will: { topic: 'a/#', payload: Buffer.from('x'), qos: 0, retain: false },
      }),
    );
    assert.equal(await r.waitClosed(), true);
    for (const p of r.pending()) {
      if (p.type === PacketType.Connack) assert.notEqual(p.reasonCode, 0, 'CONNACK must not accept');
    }
    assert.equal(b.broker.sessions.size, 0);
  });

  it('connect - 3.1.1 CONNECT with the reserved flag bit set is closed without CONNACK [MQTT-3.1.2-3]', async () => {
    await using b = await startBroker();
    const r = await b.raw(4);
    const bytes = tap(r);
    r.write('10 0e 0004 4d515454 04 03 003c 0002 6331');
    assert.equal(await r.waitClosed(), true);
    assert.equal(bytes().length, 0, `server replied ${bytes().toString('hex')}`);
  });
});
