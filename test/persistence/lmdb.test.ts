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
