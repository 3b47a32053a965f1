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

describe('limits - queued bytes', () => {
  for (const policy of ['drop_oldest', 'drop_newest'] as const) {
    it(`max_queued_bytes - an offline session holds at most that many payload bytes (${policy})`, async () => {
      await using b = await startBroker({
        mqtt: { max_queued_bytes: 3000, max_queued_messages: 0, queue_drop_policy: policy },
      });
      const s = await b.client({
        clientId: 'slow',
        clean: false,
        protocolVersion: 5,
        properties: { sessionExpiryInterval: 60 },
      });
      await s.subscribeAsync('q/#', { qos: 1 });
      await s.endAsync();
      const p = await b.client({ clientId: 'p', protocolVersion: 5 });
      for (let i = 0; i < 5; i++) await p.publishAsync('q/x', Buffer.alloc(1000, 48 + i), { qos: 1 });
      // Bigger than the whole budget: never queued.
      await p.publishAsync('q/x', Buffer.alloc(5000, 0x7a), { qos: 1 });
      const session = b.broker.sessions.get('slow')!;
      assert.equal(session.queue.length, 3);
      assert.equal(session.queue.bytes, 3000);
      const kept = [...session.queue].map((d) => String.fromCharCode(d.msg.payload[0]!));
      assert.deepEqual(kept, policy === 'drop_oldest' ? ['2', '3', '4'] : ['0', '1', '2']);
      assert.equal(b.broker.stats['messages.dropped.queue_full'], 3);
    });
  }
});
