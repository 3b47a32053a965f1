import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import mqtt, { type MqttClient } from 'mqtt';
import { PacketType, type PublishPacket } from '../../src/codec/index.js';
import { LmdbStore } from '../../src/persistence/lmdb-store.js';
import type { Session } from '../../src/session/session.js';
import { type ConfigPatch, startBroker, type TestBroker } from '../helpers/broker.js';
import { FakeClock } from '../helpers/clock.js';
import { connected, disconnected, expectPacket, opt, persistent, subscribe } from '../helpers/raw.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Offline queues live on disk, not in the heap (issue #7): a persistent session holds at most
 * `storage.memory_queue` queued deliveries in memory; the rest wait in the embedded store and are read back, in
 * order, as the client drains its queue.
 */

const dataDir = (): string => tempDir('petrel-paged-');

function embedded(
  dir: string,
  memoryQueue: number,
  durability: 'sync' | 'none' = 'sync',
  mqtt: ConfigPatch['mqtt'] = {},
): ConfigPatch {
  return {
    storage: { type: 'embedded', dir, durability, batch_ms: 100, memory_queue: memoryQueue },
    mqtt: { max_queued_messages: 0, max_queued_bytes: 0, ...mqtt },
  };
}

/** Publishes `count` messages `q/<i>` with payload `i` (padded to `size` bytes) and waits for every ack. */
async function publishAll(pub: MqttClient, count: number, qos: 0 | 1 | 2, size = 0, from = 0): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let left = count;
    for (let i = from; i < from + count; i++) {
      const body = String(i).padEnd(size, '.');
      pub.publish(`q/${i % 7}`, body, { qos }, (err) => {
        if (err) reject(err);
        else if (--left === 0) resolve();
      });
    }
  });
  if (qos === 0) await pub.publishAsync('end', 'x', { qos: 1 });
}

/** Connects the persistent subscriber `id` and resolves with the numbers of the first `count` messages. */
async function drain(b: TestBroker, id: string, count: number): Promise<number[]> {
  const got: number[] = [];
  const c = mqtt.connect(b.url, { clientId: id, clean: false, protocolVersion: 4, reconnectPeriod: 0 });
  b.clients.push(c);
  return new Promise<number[]>((resolve, reject) => {
    c.on('error', reject);
    c.on('message', (_topic, payload) => {
      got.push(Number.parseInt(payload.toString(), 10));
      if (got.length === count) resolve(got);
    });
    setTimeout(() => reject(new Error(`only ${got.length} of ${count} arrived`)), 20_000).unref();
  });
}

async function offlineSubscriber(b: TestBroker, id: string, qos: 0 | 1 | 2 = 2): Promise<void> {
  const s = await b.client({ clientId: id, clean: false, protocolVersion: 4 });
  await s.subscribeAsync('q/#', { qos });
  await s.endAsync();
}

const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);

function session(b: TestBroker, id: string): Session {
  const s = b.broker.sessions.get(id);
  assert.ok(s, `no session ${id}`);
  return s;
}

describe('paged offline queues (embedded store)', () => {
  it('queue - past storage.memory_queue a session queue waits on disk; memory holds at most the window; all arrive in order', async () => {
    const dir = dataDir();
    await using b = await startBroker(embedded(dir, 50));
    await offlineSubscriber(b, 'sub');
    const pub = await b.client({ clientId: 'pub' });
    await publishAll(pub, 3000, 1);
    const s = session(b, 'sub');
    assert.ok(s.queue.length <= 50, `in memory: ${s.queue.length}`);
    assert.equal(s.queued, 3000);
    assert.equal(s.spilled, 2950);
    assert.equal(
      s.queuedBytes,
      range(3000).reduce((n, i) => n + String(i).length, 0),
    );
    assert.deepEqual(await drain(b, 'sub', 3000), range(3000));
    assert.equal(s.queued, 0);
  });

  it('queue - a paged queue survives a restart: the head is restored in memory, the rest stays on disk, order kept', async () => {
    const dir = dataDir();
    {
      await using b = await startBroker(embedded(dir, 40));
      await offlineSubscriber(b, 'sub');
      const pub = await b.client({ clientId: 'pub' });
      await publishAll(pub, 1000, 2);
    }
    await using b = await startBroker(embedded(dir, 40));
    const s = session(b, 'sub');
    assert.equal(s.queue.length, 40);
    assert.equal(s.spilled, 960);
    assert.deepEqual(await drain(b, 'sub', 1000), range(1000));
  });

  it('queue - QoS 0 messages (queue_qos0_messages) keep their place among QoS 1 ones once the queue pages', async () => {
    const dir = dataDir();
    await using b = await startBroker(embedded(dir, 20, 'sync', { queue_qos0_messages: true }));
    await offlineSubscriber(b, 'sub', 1);
    const pub = await b.client({ clientId: 'pub' });
    await publishAll(pub, 100, 1, 0, 0);
    await publishAll(pub, 100, 0, 0, 100);
    await publishAll(pub, 100, 1, 0, 200);
    assert.equal(session(b, 'sub').queued, 300);
    assert.deepEqual(await drain(b, 'sub', 300), range(300));
  });

  it('queue - max_queued_messages bounds the whole queue, memory and disk: drop_oldest keeps the newest in order', async () => {
    const dir = dataDir();
    await using b = await startBroker(embedded(dir, 10, 'sync', { max_queued_messages: 100 }));
    await offlineSubscriber(b, 'sub', 1);
    const pub = await b.client({ clientId: 'pub' });
    await publishAll(pub, 250, 1);
    const s = session(b, 'sub');
    assert.equal(s.queued, 100);
    assert.equal(s.droppedCount, 150);
    assert.deepEqual(await drain(b, 'sub', 100), range(100, 150));
  });

  it('queue - shared-subscription deliveries on disk go to another member when theirs disconnects; its own stay, in order', async () => {
    const dir = dataDir();
    await using b = await startBroker(embedded(dir, 10));
    // Member A takes one message at a time and never acknowledges: the rest queue up, mostly on disk.
    const a = await connected(b, 5, {
      ...persistent(5, 'a'),
      properties: { sessionExpiryInterval: 60, receiveMaximum: 1 },
    });
    await subscribe(a, [opt('$share/g/q/#', 1), opt('own/#', 1)]);
    const pub = await b.client({ clientId: 'pub' });
    await publishAll(pub, 100, 1);
    // A's own (not shared) messages queue behind them, on disk too.
    for (let i = 0; i < 30; i++) await pub.publishAsync('own/x', String(i), { qos: 1 });
    const first = (await expectPacket(a, PacketType.Publish)) as PublishPacket;
    assert.equal(first.payload.toString(), '0');
    assert.ok(session(b, 'a').spilled > 100);
    // Member B joins; A goes away without acknowledging: all 100 go to B, once each.
    const got: number[] = [];
    const bm = await b.client({ clientId: 'b', protocolVersion: 5 });
    const all = new Promise<void>((resolve) => {
      bm.on('message', (_t, p) => {
        got.push(Number(p.toString()));
        if (got.length === 100) resolve();
      });
    });
    await bm.subscribeAsync('$share/g/q/#', { qos: 1 });
    const gone = disconnected(b, 'a');
    a.destroy();
    await gone;
    await all;
    assert.deepEqual(
      [...got].sort((x, y) => x - y),
      range(100),
    );
    // A's own 30 stay with its session (rewritten at the end of its disk queue) and come back in order.
    assert.equal(session(b, 'a').queued, 30);
    assert.deepEqual(await drain(b, 'a', 30), range(30));
  });

  it('queue - an online consumer slower than its publisher reads back deliveries whose writes are not committed yet', async () => {
    const dir = dataDir();
    // batched: commits wait up to 300 ms, so pages are read back before their writes are committed.
    await using b = await startBroker({
      storage: { type: 'embedded', dir, durability: 'batched', batch_ms: 300, memory_queue: 5 },
      mqtt: { max_queued_messages: 0, max_inflight: 4 },
    });
    const got: number[] = [];
    const sub = await b.client({ clientId: 'slow', clean: false, protocolVersion: 4 });
    await sub.subscribeAsync('q/#', { qos: 1 });
    const all = new Promise<void>((resolve) => {
      sub.on('message', (_t, p) => {
        got.push(Number(p.toString()));
        if (got.length === 2000) resolve();
      });
    });
    const pub = await b.client({ clientId: 'pub' });
    await publishAll(pub, 2000, 1);
    await all;
    assert.deepEqual(got, range(2000));
  });

  it('retained - an expired retained message leaves the store too, whether it expires while running or while down', async () => {
    const dir = dataDir();
    // One clock across both brokers: it stands for wall-clock time, the restart included.
    const clock = new FakeClock();
    {
      await using b = await startBroker(embedded(dir, 10), { clock });
      const pub = await b.client({ clientId: 'pub', protocolVersion: 5 });
      for (const t of ['r/soon', 'r/later'])
        await pub.publishAsync(t, t, { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } });
      await pub.publishAsync('r/keep', 'keep', { qos: 1, retain: true });
      clock.advance(1100);
      // Met by a subscription while running: removed from memory and from the store.
      const s = await b.client({ clientId: 's', protocolVersion: 5 });
      const seen: string[] = [];
      s.on('message', (t) => seen.push(t));
      await s.subscribeAsync('r/soon', { qos: 1 });
      await s.subscribeAsync('r/keep', { qos: 1 });
      await b.broker.persistence!.store.flush();
      assert.deepEqual(seen, ['r/keep']);
      assert.equal(b.broker.retained.size, 2, 'r/soon is gone from memory, r/later not met yet');
    }
    // r/later expired while the broker was down: dropped at start-up, from memory and store.
    {
      await using b = await startBroker(embedded(dir, 10), { clock });
      assert.equal(b.broker.retained.size, 1);
      await b.broker.persistence!.store.flush();
    }
    const store = new LmdbStore({ dir, durability: 'sync' });
    const st = await store.load();
    await store.close();
    assert.deepEqual([...st.retained.keys()], ['r/keep']);
    assert.equal(st.messages.size, 1, 'the expired messages are deleted');
  });

  it('queue - 40,000 queued 1 KiB messages do not live in the heap', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const dir = dataDir();
    await using b = await startBroker(embedded(dir, 100, 'none'));
    await offlineSubscriber(b, 'sub', 1);
    const pub = await b.client({ clientId: 'pub' });
    await publishAll(pub, 1000, 1, 1024); // warm up (code, buffers)
    gc();
    const before = process.memoryUsage();
    await publishAll(pub, 40_000, 1, 1024, 1000);
    await b.broker.persistence!.store.flush();
    await new Promise(setImmediate); // the journal lets go of spilled deliveries once their commit is seen
    gc();
    const afterUse = process.memoryUsage();
    // The JS heap holds every queued Message, Delivery and payload Buffer object (the payloads' own memory is
    // freed by a background sweeper, so external memory is not a reliable measure right after gc()).
    const grew = afterUse.heapUsed - before.heapUsed;
    assert.equal(session(b, 'sub').queued, 41_000);
    // Held in memory, the 40,000 would add about 17 MiB of objects to the heap (measured with memory_queue 100000).
    assert.ok(grew < 4 * 1024 * 1024, `the heap grew by ${(grew / 1048576).toFixed(1)} MiB`);
    const got = await drain(b, 'sub', 41_000);
    assert.deepEqual(got.slice(0, 3), [0, 1, 2]);
    assert.equal(got[40_999], 40_999);
    assert.ok(
      got.every((v, i) => v === i),
      'in order, none missing',
    );
  });
});
