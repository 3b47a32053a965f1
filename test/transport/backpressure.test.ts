import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startBroker } from '../helpers/broker.js';
import { connected, subscribe } from '../helpers/raw.js';

describe('backpressure', () => {
  it('frozen consumer - a subscriber that stops reading is disconnected after write_timeout; memory stays bounded', async () => {
    await using b = await startBroker({
      mqtt: {
        write_timeout: 1,
        write_buffer_limit: 64 * 1024,
        max_queued_messages: 100,
        queue_qos0_messages: false,
      },
    });
    const frozen = await connected(b, 5, 'frozen');
    await subscribe(frozen, 'flood/#', 0);
    frozen.socket.pause(); // stops reading: the broker's socket buffer fills up
    const pub = await b.client({ clientId: 'flooder', protocolVersion: 5 });
    const payload = Buffer.alloc(32 * 1024, 0x61);
    for (let i = 0; i < 300; i++) await pub.publishAsync('flood/x', payload, { qos: 1 });
    const t0 = Date.now();
    while (b.broker.clients.has('frozen') && Date.now() - t0 < 5000)
      await new Promise((r) => setTimeout(r, 20));
    const elapsed = Date.now() - t0;
    assert.equal(b.broker.clients.has('frozen'), false, 'a consumer that does not read is disconnected');
    assert.ok(elapsed < 2500, `disconnected ${elapsed} ms after the flood`);
    assert.ok(b.broker.stats['messages.dropped.queue_full'] > 0, 'the bounded queue dropped the excess');
    // What waits for it is bounded by its session queue, not by what was published.
    const s = b.broker.sessions.get('frozen');
    assert.ok(s === undefined || s.queue.length <= 100);
    // A client that keeps reading is unaffected.
    const live = await b.client({ clientId: 'live', protocolVersion: 5 });
    await live.subscribeAsync('flood/#', { qos: 0 });
    const got = new Promise((r) => live.once('message', r));
    await pub.publishAsync('flood/y', 'still flowing', { qos: 1 });
    await got;
    frozen.destroy();
  });
});
