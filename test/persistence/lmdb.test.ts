import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LmdbStore } from '../../src/persistence/lmdb-store.js';
import { StoreError } from '../../src/persistence/store.js';

describe('embedded store (lmdb)', () => {
  it('lock - a data directory in use by another live process is refused; a stale lock is taken over', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'petrel-lock-'));
    try {
      // The parent process (the test runner) is alive: its pid in the lock means "in use".
      writeFileSync(join(dir, 'petrel.lock'), String(process.ppid));
      assert.throws(
        () => new LmdbStore({ dir, durability: 'sync' }),
        (e: unknown) => e instanceof StoreError && /in use by another Petrel process/.test(e.message),
      );
      // A pid that cannot exist: the lock is stale.
      writeFileSync(join(dir, 'petrel.lock'), '2147483646');
      const s = new LmdbStore({ dir, durability: 'sync' });
      await s.load();
      await s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('close - writes and reads that come after close() (a broker shutting down) are dropped, never an uncaught error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'petrel-closed-'));
    try {
      const s = new LmdbStore({ dir, durability: 'sync' });
      await s.load();
      const closing = s.close();
      const late = () => {
        s.putSession({
          clientId: 'c',
          expiryInterval: 60,
          disconnectedAt: 0,
          subscriptions: [],
          pendingWill: undefined,
        });
        s.putEntry('c', {
          seq: 1,
          msgId: 1,
          qos: 1,
          retain: false,
          subscriptionIds: undefined,
          state: 0,
          packetId: 0,
          size: 1,
        });
        s.deleteEntry('c', 1);
        s.putRetained('t', 1);
        assert.deepEqual(s.readEntries('c', 1, 10), []);
      };
      late(); // while closing
      await closing;
      late(); // after
      // LMDB reports a write to a closed environment from a later event-loop turn: give it two.
      await new Promise(setImmediate);
      await new Promise(setImmediate);
      await s.flush();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('header - a file that is not an LMDB environment is refused before it is mapped', () => {
    const dir = mkdtempSync(join(tmpdir(), 'petrel-bad-'));
    try {
      writeFileSync(join(dir, 'petrel.mdb'), 'this is not a database, just text that someone left here');
      assert.throws(
        () => new LmdbStore({ dir, durability: 'sync' }),
        (e: unknown) => e instanceof StoreError && /not a valid Petrel store/.test(e.message),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('embedded store (lmdb) - truncation', () => {
  it('header - a data file shorter than its last used page is refused instead of crashing the process', async () => {
    const { truncateSync, statSync } = await import('node:fs');
    const dir = mkdtempSync(join(tmpdir(), 'petrel-trunc-'));
    try {
      const s = new LmdbStore({ dir, durability: 'sync' });
      await s.load();
      for (let i = 1; i <= 3000; i++) {
        s.putMessage(i, {
          topic: `t/${i}`,
          payload: Buffer.alloc(200, 1),
          qos: 1,
          retain: false,
          properties: undefined,
          expiresAt: 0,
          from: 'p',
          receivedAt: 0,
        });
      }
      await s.close();
      const file = join(dir, 'petrel.mdb');
      truncateSync(file, Math.floor(statSync(file).size / 2));
      assert.throws(
        () => new LmdbStore({ dir, durability: 'sync' }),
        (e: unknown) => e instanceof StoreError && /file truncated/.test(e.message),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
