import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PacketType } from '../../src/codec/index.js';
import { collect, connectPacket, startBroker } from '../helpers/broker.js';

describe('smoke', () => {
  it('pubsub - mqtt.js subscriber receives a QoS 1 message (3.1.1)', async () => {
    await using b = await startBroker();
    const sub = await b.client({ protocolVersion: 4, clientId: 's1' });
    await sub.subscribeAsync('a/+', { qos: 1 });
    const pub = await b.client({ protocolVersion: 4, clientId: 'p1' });
    const got = collect(sub, 1);
    await pub.publishAsync('a/b', 'hello', { qos: 1 });
    const [m] = await got;
    assert.equal(m!.topic, 'a/b');
    assert.equal(m!.payload.toString(), 'hello');
    assert.equal(m!.packet.qos, 1);
  });

  it('connect - raw CONNACK bytes for 3.1.1 clean session', async () => {
    await using b = await startBroker();
    const r = await b.raw(4);
    r.send(connectPacket(4));
    const p = await r.next();
    assert.deepEqual(p, { type: PacketType.Connack, sessionPresent: false, reasonCode: 0 });
  });
});
