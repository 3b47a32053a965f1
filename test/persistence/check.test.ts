import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type Database, type Key, open } from 'lmdb';
import mqtt from 'mqtt';
import { runStorage } from '../../src/cli/storage.js';
import type { Message } from '../../src/core/message.js';
import { LmdbStore } from '../../src/persistence/lmdb-store.js';
import { StoreError } from '../../src/persistence/store.js';
import { startBroker } from '../helpers/broker.js';
import { tempDir } from '../helpers/tmp.js';

const CLI = new URL('../../src/cli/petrel.ts', import.meta.url).pathname;
const dataDir = (): string => tempDir('petrel-check-');

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runStorage(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

const msg = (topic: string, payload: string, retain = false): Message => ({
  topic,
  payload: Buffer.from(payload),
  qos: 1,
  retain,
  properties: undefined,
  expiresAt: 0,
  from: 'pub',
  receivedAt: Date.now(),
});

/** A healthy store: session "a" with one queued message, session "b", a retained topic. */
async function seed(dir: string): Promise<void> {
  const s = new LmdbStore({ dir, durability: 'sync' });
  await s.load();
  const base = { expiryInterval: 3600, disconnectedAt: Date.now(), pendingWill: undefined };
  s.putSession({ clientId: 'a', ...base, subscriptions: [] });
  s.putSession({ clientId: 'b', ...base, subscriptions: [] });
  s.putMessage(1, msg('t/1', 'one'));
  s.putMessage(2, msg('r/1', 'kept', true));
  s.putMessage(3, msg('t/3', 'three'));
  s.putEntry('a', {
    seq: 1,
    msgId: 1,
    qos: 1,
    retain: false,
    subscriptionIds: undefined,
    state: 0,
    packetId: 0,
    size: 3,
  });
  s.putRetained('r/1', 2);
  await s.close();
}

/** Writes records straight through lmdb (bypassing the store), then closes the environment. */
async function damage(
  dir: string,
  fn: (db: (name: string, binary?: boolean) => Database<unknown, Key>) => void,
): Promise<void> {
  const root = open({ path: join(dir, 'petrel.mdb'), maxDbs: 8, compression: false });
  root.transactionSync(() => {
    fn((name, binary) => root.openDB({ name, ...(binary ? { encoding: 'binary' as const } : {}) }));
  });
  await root.close();
}

describe('petrel storage check / repair', () => {
  it('check - a healthy store: exit 0, counts, and the directory is left untouched (no lock taken)', async () => {
    const dir = dataDir();
    await seed(dir);
    const file = join(dir, 'petrel.mdb');
    const before = readFileSync(file);
    const mtime = statSync(file).mtimeMs;
    const r = await run('check', '--data-dir', dir);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /2 sessions, 3 messages, 1 queue entries, 0 QoS 2 receive ids, 1 retained/);
    // Message 3 is referenced by nothing: a warning, not an error.
    assert.match(r.out, /warning messages 3: orphan message: nothing refers to it/);
    assert.match(r.out, /healthy, 1 warning/);
    assert.ok(readFileSync(file).equals(before), 'check must not modify the data file');
    assert.equal(statSync(file).mtimeMs, mtime);
    assert.equal(existsSync(join(dir, 'petrel.lock')), false, 'check takes no lock');
  });

  it('check - entries that hold their own message copy (a queue paged to disk) are valid and keep no message alive', async () => {
    const dir = dataDir();
    await seed(dir);
    const s = new LmdbStore({ dir, durability: 'sync' });
    await s.load();
    s.putEntry('b', {
      seq: 1,
      msgId: 0,
      qos: 1,
      retain: false,
      subscriptionIds: undefined,
      state: 0,
      packetId: 0,
      size: 4,
      msg: msg('t/b', 'copy'),
    });
    await s.close();
    const r = await run('check', '--data-dir', dir);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /2 sessions, 3 messages, 2 queue entries/);
    assert.doesNotMatch(r.out, /error/);
  });

  it('check finds each kind of damage; repair removes it, is idempotent, and a broker starts on the result with the good data', async () => {
    const dir = dataDir();
    await seed(dir);
    await damage(dir, (db) => {
      const entry = (m: number, state = 0, pid = 0) => [m, 1, false, null, state, pid];
      db('entries').putSync(['a', 5], entry(99)); // dangling: message 99 does not exist
      db('retained').putSync('r/gone', 98); // dangling retained
      db('messages', true).putSync(7, Buffer.from([0xc1, 0xc1])); // undecodable (msgpack 0xC1 is never used)
      db('entries').putSync(['a', 6], entry(7)); // refers to the undecodable message
      db('entries').putSync(['ghost', 1], entry(1)); // no session "ghost"
      db('rels').putSync(['ghost', 3], 1); // QoS 2 receive state without a session
      db('sessions', true).putSync('bad', Buffer.from([0x93, 0x01])); // truncated msgpack
      db('entries').putSync(['a', 7], entry(1, 1, 10)); // in flight with packet id 10
      db('entries').putSync(['a', 8], entry(3, 1, 10)); // packet id 10 again in the same session
    });
    const c1 = await run('check', '--data-dir', dir);
    assert.equal(c1.code, 1, c1.out + c1.err);
    for (const re of [
      /error {3}entries a#5: refers to missing message 99/,
      /error {3}retained "r\/gone": refers to missing message 98/,
      /error {3}messages 7: cannot be decoded/,
      /error {3}entries a#6: refers to missing message 7/,
      /error {3}entries ghost#1: belongs to client "ghost", which has no session record/,
      /error {3}rels ghost#3: belongs to client "ghost", which has no session record/,
      /error {3}sessions "bad": cannot be decoded/,
      /error {3}entries a#8: packet id 10 is already in flight in a#7/,
      /8 error\(s\), 0 warning\(s\)/,
    ])
      assert.match(c1.out, re);

    const r1 = await run('repair', '--data-dir', dir);
    assert.equal(r1.code, 0, r1.out + r1.err);
    assert.match(r1.out, /removed {2}entries a#5/);
    assert.match(r1.out, /removed {2}messages 7/);
    assert.match(r1.out, /removed {2}sessions "bad"/);
    assert.match(r1.out, /requeued entries a#8/);
    assert.match(
      r1.out,
      /8 record\(s\) fixed; now 2 sessions, 3 messages, 3 queue entries, 0 QoS 2 receive ids, 1 retained/,
    );
    assert.equal(existsSync(join(dir, 'petrel.lock')), false, 'repair releases its lock');

    const r2 = await run('repair', '--data-dir', dir);
    assert.equal(r2.code, 0);
    assert.match(r2.out, /nothing to repair/);
    const c2 = await run('check', '--data-dir', dir);
    assert.equal(c2.code, 0, c2.out);
    assert.match(c2.out, /\nhealthy\n/);

    // The store loads; the good data is all there.
    const s = new LmdbStore({ dir, durability: 'sync' });
    const st = await s.load();
    await s.close();
    assert.deepEqual(st.sessions.map((x) => x.clientId).sort(), ['a', 'b']);
    assert.deepEqual(
      st.queues.get('a')?.entries.map((e) => [e.seq, e.msgId, e.state, e.packetId]),
      [
        [1, 1, 0, 0],
        [7, 1, 1, 10],
        [8, 3, 0, 0],
      ],
    );
    assert.deepEqual([...st.retained], [['r/1', 2]]);
    assert.equal(st.rels.size, 0);

    // A broker on the repaired directory: session "a" is resumed with its messages, the retained one is served.
    await using b = await startBroker({
      storage: { type: 'embedded', dir, durability: 'sync', batch_ms: 100, memory_queue: 1000 },
    });
    const got: string[] = [];
    const a = mqtt.connect(b.url, { clientId: 'a', clean: false, protocolVersion: 5, reconnectPeriod: 0 });
    b.clients.push(a);
    const all = new Promise<void>((resolve) => {
      a.on('message', (_t, p) => {
        got.push(p.toString());
        if (got.length === 3) resolve();
      });
    });
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
      a.once('connect', resolve);
      a.once('error', reject);
    });
    assert.equal(connack.sessionPresent, true);
    await all;
    assert.deepEqual(got.sort(), ['one', 'one', 'three']);
    const r = await b.client();
    const retained = new Promise<[string, Buffer]>((resolve) => r.once('message', (t, p) => resolve([t, p])));
    r.subscribe('r/#');
    const [topic, payload] = await retained;
    assert.equal(topic, 'r/1');
    assert.equal(payload.toString(), 'kept');
  });

  it('a file that is not an LMDB environment: check says so; repair copies it aside and leaves it for the user', async () => {
    const dir = dataDir();
    const file = join(dir, 'petrel.mdb');
    const junk = Buffer.alloc(8192, 0x41);
    writeFileSync(file, junk);
    const c = await run('check', '--data-dir', dir);
    assert.equal(c.code, 1);
    assert.match(c.out, /cannot be opened: .*bad LMDB header/);
    const r = await run('repair', '--data-dir', dir);
    assert.equal(r.code, 1);
    const copies = readdirSync(dir).filter((n) => n.startsWith('petrel.mdb.corrupt-'));
    assert.equal(copies.length, 1);
    assert.ok(readFileSync(join(dir, copies[0]!)).equals(junk), 'the copy is the raw file');
    assert.match(r.out, new RegExp(`A copy is at .*${copies[0]}`));
    assert.match(r.out, /keeps refusing this store: to start empty, remove/);
    // Not silently emptied: the original stays and the broker still refuses it.
    assert.ok(readFileSync(file).equals(junk));
    assert.throws(
      () => new LmdbStore({ dir, durability: 'sync' }),
      (e: unknown) => e instanceof StoreError && /not a valid Petrel store/.test(e.message),
    );
  });

  it('a truncated file is reported, not a crash of the command; repair copies it aside', async () => {
    const dir = dataDir();
    await seed(dir);
    const file = join(dir, 'petrel.mdb');
    truncateSync(file, 12288);
    const c = await run('check', '--data-dir', dir);
    assert.equal(c.code, 1, c.out + c.err);
    // Caught by the header check (the last used page lies past the end); a crash of the reader would be
    // reported too, but never crash the command.
    assert.match(c.out, /file truncated: 12288 bytes|reading it crashed LMDB \(SIG[A-Z]+\)/);
    const r = await run('repair', '--data-dir', dir);
    assert.equal(r.code, 1);
    assert.equal(readdirSync(dir).filter((n) => n.startsWith('petrel.mdb.corrupt-')).length, 1);
    assert.equal(statSync(file).size, 12288, 'the damaged file is left in place');
  });

  it('an unknown format version is reported and not repaired', async () => {
    const dir = dataDir();
    await seed(dir);
    await damage(dir, (db) => db('meta').putSync('format', 2));
    const c = await run('check', '--data-dir', dir);
    assert.equal(c.code, 1);
    assert.match(c.out, /unknown format version 2 \(this Petrel reads format 1\)/);
    const r = await run('repair', '--data-dir', dir);
    assert.equal(r.code, 1);
    assert.match(r.out, /not repaired/);
  });

  it('a data directory held by a live broker: check refuses unless --force; repair always refuses', async () => {
    const dir = dataDir();
    await seed(dir);
    // The test runner (our parent) is alive: its pid in the lock means "in use".
    writeFileSync(join(dir, 'petrel.lock'), String(process.ppid));
    const c = await run('check', '--data-dir', dir);
    assert.equal(c.code, 1);
    assert.match(c.err, new RegExp(`in use by a running Petrel \\(pid ${process.ppid}\\).*--force`));
    const f = await run('check', '--data-dir', dir, '--force');
    assert.equal(f.code, 0, f.out + f.err);
    assert.equal(
      readFileSync(join(dir, 'petrel.lock'), 'utf8'),
      String(process.ppid),
      'the lock is left alone',
    );
    const r = await run('repair', '--data-dir', dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /in use by a running Petrel/);
    assert.equal((await run('repair', '--data-dir', dir, '--force')).code, 2);
  });

  it('usage errors exit 2; the petrel command runs it (exit codes through the real CLI)', async () => {
    assert.equal((await run()).code, 2);
    assert.equal((await run('fix')).code, 2);
    assert.equal((await run('check', '--data-dir', 'x', '--config', 'y')).code, 2);
    assert.equal((await run('check', '--bogus')).code, 2);
    const missing = await run('check', '--config', join(dataDir(), 'nope.yaml'));
    assert.equal(missing.code, 2);
    const empty = await run('check', '--data-dir', join(dataDir(), 'none'));
    assert.equal(empty.code, 2);
    assert.match(empty.out, /no store: .*petrel\.mdb does not exist/);
    const dir = dataDir();
    await seed(dir);
    const cfg = join(dir, 'petrel.yaml');
    writeFileSync(cfg, `storage:\n  type: embedded\n  dir: ${dir}\n`);
    const ok = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'storage', 'check', '--config', cfg], {
      encoding: 'utf8',
    });
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /2 sessions, 3 messages/);
    await damage(dir, (db) => db('retained').putSync('x', 42));
    const bad = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'storage', 'check', '--data-dir', dir], {
      encoding: 'utf8',
    });
    assert.equal(bad.status, 1, bad.stdout + bad.stderr);
    assert.match(bad.stdout, /retained "x": refers to missing message 42/);
    const usage = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'storage'], { encoding: 'utf8' });
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /Usage: petrel storage check\|repair/);
  });
});
