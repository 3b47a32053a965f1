import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PacketType } from '../../src/codec/index.js';
import { startBroker } from '../helpers/broker.js';
import { connected, expectPacket, opt, subscribe } from '../helpers/raw.js';

describe('limits - topic length', () => {
  it('max_topic_length - a longer topic name gets DISCONNECT 0x90 (v5) and is not routed; a longer filter SUBACK 0x8F', async () => {
    await using b = await startBroker({ mqtt: { max_topic_length: 16 } });
    const sub = await connected(b, 5, 'sub');
    const ack = await subscribe(sub, [opt('a/#', 1), opt('a/very/long/filter/#', 1)]);
    assert.deepEqual(ack.reasonCodes, [1, 0x8f]);
    const p = await connected(b, 5, 'pub');
    p.send({
      type: PacketType.Publish,
      topic: 'a/bcdefghijklmnop',
      payload: Buffer.from('x'),
      qos: 0,
      retain: false,
      dup: false,
    });
    const d = await expectPacket(p, PacketType.Disconnect);
    assert.equal(d.reasonCode, 0x90);
    assert.equal(await p.waitClosed(), true);
    // Exactly at the limit is fine.
    const ok = await b.client({ clientId: 'ok', protocolVersion: 5 });
    await ok.publishAsync('a/bcdefghijklmno', 'fits', { qos: 1 });
    const got = (await expectPacket(sub, PacketType.Publish)) as { topic: string };
    assert.equal(got.topic, 'a/bcdefghijklmno');
  });

  it('max_topic_length - a 3.1.1 client with a longer topic is disconnected', async () => {
    await using b = await startBroker({ mqtt: { max_topic_length: 8 } });
    const p = await connected(b, 4, 'pub4');
    p.send({
      type: PacketType.Publish,
      topic: 'abcdefghij',
      payload: Buffer.from('x'),
      qos: 1,
      packetId: 1,
      retain: false,
      dup: false,
    });
    assert.equal(await p.waitClosed(), true);
  });
});
