import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Message } from '../../src/core/message.js';
import { LmdbStore } from '../../src/persistence/lmdb-store.js';
import { MemoryData, MemoryStore } from '../../src/persistence/memory-store.js';
import { type Store, type StoredEntry, type StoredSession, StoreError } from '../../src/persistence/store.js';

/** A backend under test: `open()` gives a store over the same durable location each time (a restart). */
interface Backend {
  name: string;
  location(): { open(): Store; cleanup(): void };
}

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const backends: Backend[] = [
  {
    name: 'memory',
    location() {
      const data = new MemoryData();
      return { open: () => new MemoryStore(data), cleanup: () => {} };
    },
  },
  {
    name: 'embedded (lmdb)',
    location() {
      const dir = mkdtempSync(join(tmpdir(), 'petrel-store-'));
      dirs.push(dir);
      return { open: () => new LmdbStore({ dir, durability: 'sync' }), cleanup: () => {} };
    },
  },
];

const msg = (topic: string, over: Partial<Message> = {}): Message => ({
  topic,
  payload: Buffer.from(`payload of ${topic}`),
  qos: 1,
  retain: false,
  properties: undefined,
  expiresAt: 0,
  from: 'pub',
  receivedAt: 1_700_000_000_000,
  ...over,
});

const session = (clientId: string, over: Partial<StoredSession> = {}): StoredSession => ({
  clientId,
  expiryInterval: 3600,
  disconnectedAt: 0,
  subscriptions: [],
  pendingWill: undefined,
  ...over,
});

const entry = (seq: number, msgId: number, over: Partial<StoredEntry> = {}): StoredEntry => ({
  seq,
  msgId,
  qos: 1,
  retain: false,
  subscriptionIds: undefined,
  state: 0,
  packetId: 0,
  size: 10,
  ...over,
});

/** Writes, flushes, closes, reopens and loads. */
async function reopen(loc: { open(): Store }, write: (s: Store) => void) {
  const s = loc.open();
  await s.load();
  write(s);
  await s.flush();
  await s.close();
  const again = loc.open();
  const state = await again.load();
  await again.close();
  return state;
}

for (const backend of backends) {
  describe(`store contract - ${backend.name}`, () => {
    it('store - a new store loads empty', async () => {
      const s = backend.location().open();
      const st = await s.load();
      assert.equal(st.sessions.length, 0);
      assert.equal(st.messages.size, 0);
      assert.equal(st.retained.size, 0);
      await s.close();
    });

    it('store - sessions with subscriptions and a pending will survive a restart; replace and delete', async () => {
      const loc = backend.location();
      const st = await reopen(loc, (s) => {
        s.putSession(
          session('a', {
            subscriptions: [
              {
                filter: '$share/g/x/#',
                topicFilter: 'x/#',
                group: 'g',
                qos: 2,
                noLocal: false,
                retainAsPublished: true,
                retainHandling: 1,
                subscriptionId: 7,
              },
            ],
            pendingWill: {
              topic: 'w',
              payload: Buffer.from([0, 1, 255]),
              qos: 1,
              retain: true,
              properties: { willDelayInterval: 30, userProperties: [['k', 'v']] },
            },
            disconnectedAt: 1_700_000_000_123,
          }),
        );
        s.putSession(session('b'));
        s.putSession(session('b', { expiryInterval: 5 }));
        s.putSession(session('c'));
        s.deleteSession('c');
      });
      const byId = new Map(st.sessions.map((x) => [x.clientId, x]));
      assert.deepEqual([...byId.keys()].sort(), ['a', 'b']);
      assert.equal(byId.get('b')!.expiryInterval, 5);
      const a = byId.get('a')!;
      assert.equal(a.disconnectedAt, 1_700_000_000_123);
      assert.equal(a.subscriptions[0]!.subscriptionId, 7);
      assert.equal(a.subscriptions[0]!.group, 'g');
      assert.deepEqual(Buffer.from(a.pendingWill!.payload), Buffer.from([0, 1, 255]));
      assert.deepEqual(a.pendingWill!.properties, { willDelayInterval: 30, userProperties: [['k', 'v']] });
    });

    it('store - messages keep payload and every forwarded property exactly', async () => {
      const loc = backend.location();
      const m = msg('t/1', {
        payload: Buffer.from([0, 0xff, 0x10]),
        qos: 2,
        retain: true,
        properties: {
          payloadFormatIndicator: 0,
          contentType: 'application/octet-stream',
          responseTopic: 'reply/1',
          correlationData: Buffer.from('corr'),
          userProperties: [
            ['a', '1'],
            ['a', '2'],
          ],
        },
        expiresAt: 1_700_000_060_000,
      });
      const st = await reopen(loc, (s) => s.putMessage(42, m));
      const back = st.messages.get(42)!;
      assert.ok(Buffer.isBuffer(back.payload));
      assert.deepEqual(back.payload, m.payload);
      assert.deepEqual(Buffer.from(back.properties!.correlationData!), Buffer.from('corr'));
      assert.deepEqual(back.properties!.userProperties, m.properties!.userProperties);
      assert.equal(back.expiresAt, m.expiresAt);
      assert.equal(back.qos, 2);
      assert.equal(back.retain, true);
    });

    it('store - entries come back in seq order with their in-flight state; deleting a session drops them', async () => {
      const loc = backend.location();
      const st = await reopen(loc, (s) => {
        s.putMessage(1, msg('a'));
        s.putMessage(2, msg('b'));
        s.putSession(session('c1'));
        s.putSession(session('c2'));
        s.putEntry('c1', entry(10, 2));
        s.putEntry('c1', entry(3, 1, { state: 1, packetId: 77, subscriptionIds: [4, 5] }));
        s.putEntry('c1', entry(3, 1, { state: 2, packetId: 77, qos: 2, subscriptionIds: [4, 5] }));
        s.putEntry('c1', entry(11, 1));
        s.deleteEntry('c1', 11);
        s.putEntry('c2', entry(1, 1));
        s.putRel('c1', 9);
        s.putRel('c1', 10);
        s.deleteRel('c1', 10);
        s.putRel('c2', 5);
        s.deleteSession('c2');
      });
      assert.deepEqual(
        st.queues.get('c1')!.entries.map((e) => [e.seq, e.msgId, e.state, e.packetId, e.qos]),
        [
          [3, 1, 2, 77, 2],
          [10, 2, 0, 0, 1],
        ],
      );
      assert.deepEqual(st.queues.get('c1')!.entries[0]!.subscriptionIds, [4, 5]);
      assert.equal(st.queues.get('c2'), undefined);
      assert.deepEqual(st.rels.get('c1'), [9]);
      assert.equal(st.rels.get('c2'), undefined);
    });

    it('store - load(memoryQueue) keeps the head of a queue in memory and leaves the rest on disk; readEntries pages it back', async () => {
      const loc = backend.location();
      const own = (i: number) => msg(`own/${i}`, { payload: Buffer.from(`copy ${i}`) });
      const s = loc.open();
      await s.load();
      s.putSession(session('c'));
      s.putMessage(1, msg('a'));
      s.putEntry('c', entry(1, 1, { state: 1, packetId: 5 }));
      s.putEntry('c', entry(2, 1));
      for (let i = 3; i <= 12; i++)
        s.putEntry(
          'c',
          entry(i, 0, { msg: own(i), size: 6 + String(i).length, share: { name: 'g', filter: 'own/#' } }),
        );
      await s.flush();
      await s.close();
      const again = loc.open();
      const st = await again.load(4);
      const q = st.queues.get('c')!;
      assert.deepEqual(
        q.entries.map((e) => e.seq),
        [1, 2, 3, 4, 5],
      );
      assert.equal(q.entries[2]!.msg!.topic, 'own/3');
      assert.deepEqual(q.entries[2]!.share, { name: 'g', filter: 'own/#' });
      assert.deepEqual(q.spilled, { count: 7, bytes: 4 * 7 + 3 * 8, fromSeq: 6 }); // sizes of seq 6..12
      assert.equal(q.nextSeq, 13);
      const page = again.readEntries('c', 6, 3);
      assert.deepEqual(
        page.map((e) => [e.seq, e.msg!.payload.toString(), e.msgId]),
        [
          [6, 'copy 6', 0],
          [7, 'copy 7', 0],
          [8, 'copy 8', 0],
        ],
      );
      assert.deepEqual(
        again.readEntries('c', 11, 100).map((e) => e.seq),
        [11, 12],
      );
      // Without a window every entry is loaded.
      assert.equal((await again.load()).queues.get('c')!.spilled, undefined);
      await again.close();
    });

    it('store - retained topics map to messages; replace and delete', async () => {
      const loc = backend.location();
      const st = await reopen(loc, (s) => {
        s.putMessage(1, msg('r/a'));
        s.putMessage(2, msg('r/b'));
        s.putMessage(3, msg('r/a'));
        s.putRetained('r/a', 1);
        s.putRetained('r/b', 2);
        s.putRetained('r/a', 3);
        s.deleteRetained('r/b');
        s.deleteMessage(2);
        s.deleteMessage(1);
      });
      assert.deepEqual([...st.retained], [['r/a', 3]]);
      assert.deepEqual([...st.messages.keys()].sort(), [3]);
    });

    it('store - an entry pointing at a missing message is reported, not loaded as empty', async () => {
      const loc = backend.location();
      const s = loc.open();
      await s.load();
      s.putSession(session('c'));
      s.putEntry('c', entry(1, 99));
      await s.flush();
      await s.close();
      const again = loc.open();
      await assert.rejects(
        again.load(),
        (e: unknown) => e instanceof StoreError && /missing message 99/.test(e.message),
      );
      await again.close();
    });

    it('store - flush resolves after a burst of writes, and every write is there after reopening', async () => {
      const loc = backend.location();
      const st = await reopen(loc, (s) => {
        s.putSession(session('burst'));
        for (let i = 1; i <= 2000; i++) {
          s.putMessage(i, msg(`t/${i}`));
          s.putEntry('burst', entry(i, i));
        }
      });
      assert.equal(st.queues.get('burst')!.entries.length, 2000);
      assert.equal(st.messages.size, 2000);
    });
  });
}
