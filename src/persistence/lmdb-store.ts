import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { type Database, open, type RootDatabase } from 'lmdb';
import type { QoS } from '../codec/index.js';
import type { Message } from '../core/message.js';
import {
  type Durability,
  type EntrySummary,
  type RestoredQueue,
  type RestoredState,
  restoreQueue,
  type Store,
  type StoredEntry,
  type StoredSession,
  StoreError,
} from './store.js';

export const FORMAT_VERSION = 1;

export interface LmdbStoreOptions {
  dir: string;
  durability: Durability;
  /** batched durability: the longest time writes wait before they are committed (ms). */
  batchMs?: number;
}

export type MessageRecord = [
  topic: string,
  payload: Uint8Array,
  qos: QoS,
  retain: boolean,
  properties: Message['properties'] | null,
  expiresAt: number,
  from: string,
  receivedAt: number,
];
/**
 * An entry; records written before paged queues have only the first six fields (their size is read from the
 * message record at load).
 */
export type EntryRecord =
  | [msgId: number, qos: QoS, retain: boolean, subIds: number[] | null, state: 0 | 1 | 2, packetId: number]
  | [
      msgId: number,
      qos: QoS,
      retain: boolean,
      subIds: number[] | null,
      state: 0 | 1 | 2,
      packetId: number,
      size: number,
      msg: MessageRecord | null,
      share: [name: string, filter: string] | null,
    ];

/**
 * The embedded store: LMDB (memory-mapped B+tree, copy-on-write, crash-safe) through `lmdb`, with one named
 * database per record kind. Writes made in one event-loop turn are committed in one transaction off the main
 * thread (lmdb's automatic batching): with `durability: sync` each commit is flushed to disk before `flush()`
 * resolves; `batched` delays commits by up to `batchMs` and does not flush each one; `none` never flushes
 * explicitly (the OS writes when it likes).
 */
export class LmdbStore implements Store {
  private readonly root: RootDatabase;
  private readonly sessions: Database<StoredSession, string>;
  private readonly messages: Database<MessageRecord, number>;
  private readonly entries: Database<EntryRecord, [string, number]>;
  private readonly rels: Database<1, [string, number]>;
  private readonly retained: Database<number, string>;
  private readonly meta: Database<number, string>;
  private readonly lockFile: string;
  private last: Promise<unknown> | undefined;
  /** Batches written but not yet committed. */
  private pendingWrites = 0;
  /** Set by close(): later writes are dropped and reads find nothing. */
  private closing = false;

  constructor(opts: LmdbStoreOptions) {
    const file = `${opts.dir}/petrel.mdb`;
    checkHeader(file);
    this.lockFile = lockDir(opts.dir);
    try {
      mkdirSync(opts.dir, { recursive: true });
      this.root = open({
        path: file,
        maxDbs: 8,
        compression: false,
        noSync: opts.durability === 'none',
        commitDelay: opts.durability === 'batched' ? (opts.batchMs ?? 100) : 0,
      });
    } catch (e) {
      throw new StoreError(
        `cannot open the store in ${opts.dir}: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    this.sessions = this.root.openDB({ name: 'sessions' });
    this.messages = this.root.openDB({ name: 'messages' });
    this.entries = this.root.openDB({ name: 'entries' });
    this.rels = this.root.openDB({ name: 'rels' });
    this.retained = this.root.openDB({ name: 'retained' });
    this.meta = this.root.openDB({ name: 'meta' });
  }

  get dirty(): boolean {
    return this.pendingWrites > 0;
  }

  /**
   * Records a write's commit promise. lmdb hands every write of one batch the same promise, so this counts
   * pending batches, with no closure per write.
   */
  private track(p: Promise<unknown>): void {
    if (p === this.last) return;
    this.pendingWrites++;
    this.last = p;
    p.then(this.settled, this.settled);
  }

  private readonly settled = (): void => {
    this.pendingWrites--;
  };

  async load(memoryQueue = Number.POSITIVE_INFINITY): Promise<RestoredState> {
    try {
      const version = this.meta.get('format');
      if (version === undefined) this.track(this.meta.put('format', FORMAT_VERSION));
      else if (version !== FORMAT_VERSION) {
        throw new StoreError(
          `store format ${version} is not supported (this Petrel reads format ${FORMAT_VERSION})`,
        );
      }
      const sessions: StoredSession[] = [];
      for (const { value } of this.sessions.getRange()) sessions.push(value);
      const messages = new Map<number, Message>();
      for (const { key, value } of this.messages.getRange()) messages.set(key, decodeMessage(key, value));
      const queues = new Map<string, RestoredQueue>();
      for (const { clientId: id } of sessions) {
        const q = restoreQueue(this.summaries(id), this.range(id), memoryQueue);
        if (q.entries.length === 0 && q.spilled === undefined) continue;
        for (const e of q.entries) {
          if (e.msg !== undefined) continue;
          const m = messages.get(e.msgId);
          if (m === undefined)
            throw new StoreError(`entry ${id}#${e.seq} refers to missing message ${e.msgId}`);
          if (e.size < 0) e.size = m.payload.length;
        }
        queues.set(id, q);
      }
      const rels = new Map<string, number[]>();
      for (const { key } of this.rels.getRange()) {
        const [clientId, id] = key;
        let list = rels.get(clientId);
        if (list === undefined) rels.set(clientId, (list = []));
        list.push(id);
      }
      const retained = new Map<string, number>();
      for (const { key, value } of this.retained.getRange()) {
        if (!messages.has(value))
          throw new StoreError(`retained topic "${key}" refers to missing message ${value}`);
        retained.set(key, value);
      }
      return { sessions, queues, rels, messages, retained };
    } catch (e) {
      if (e instanceof StoreError) throw e;
      throw new StoreError(`the store is unreadable: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  putSession(s: StoredSession): void {
    if (this.closing) return; // late writes of a broker shutting down (LMDB would throw asynchronously)
    this.track(this.sessions.put(s.clientId, s));
  }

  deleteSession(clientId: string): void {
    if (this.closing) return; // late writes of a broker shutting down (LMDB would throw asynchronously)
    this.track(this.sessions.remove(clientId));
    // A transaction runs after the writes queued before it, so it also sees (and removes) entries written in
    // the same batch.
    const range = { start: [clientId], end: [`${clientId}\u0000`] };
    this.track(
      this.root.transaction(() => {
        for (const key of this.entries.getKeys(range)) this.entries.removeSync(key);
        for (const key of this.rels.getKeys(range)) this.rels.removeSync(key);
      }),
    );
  }

  putMessage(id: number, m: Message): void {
    if (this.closing) return; // late writes of a broker shutting down (LMDB would throw asynchronously)
    this.track(this.messages.put(id, messageRecord(m)));
  }

  deleteMessage(id: number): void {
    if (this.closing) return; // late writes of a broker shutting down (LMDB would throw asynchronously)
    this.track(this.messages.remove(id));
  }

  putEntry(clientId: string, e: StoredEntry): void {
    if (this.closing) return; // late writes of a broker shutting down (LMDB would throw asynchronously)
    const rec: EntryRecord = [
      e.msgId,
      e.qos,
      e.retain,
      e.subscriptionIds ?? null,
      e.state,
      e.packetId,
      e.size,
      e.msg !== undefined ? messageRecord(e.msg) : null,
      e.share !== undefined ? [e.share.name, e.share.filter] : null,
    ];
    this.track(this.entries.put([clientId, e.seq], rec));
  }

  readEntries(clientId: string, fromSeq: number, limit: number): StoredEntry[] {
    if (this.closing) return [];
    const out: StoredEntry[] = [];
    for (const { key, value } of this.entries.getRange({
      start: [clientId, fromSeq],
      end: [`${clientId}\u0000`],
      limit,
    })) {
      out.push(decodeEntry(key, value));
    }
    return out;
  }

  /** A client's entries in `seq` order. */
  private *range(clientId: string): Generator<StoredEntry> {
    for (const { key, value } of this.entries.getRange({ start: [clientId], end: [`${clientId}\u0000`] }))
      yield decodeEntry(key, value);
  }

  /** A client's entries from the last, summarized without building their message copies. */
  private *summaries(clientId: string): Generator<EntrySummary> {
    const r = { start: [`${clientId}\u0000`], end: [clientId], reverse: true };
    for (const { key, value } of this.entries.getRange(r)) {
      if (!Array.isArray(value)) throw new StoreError(`entry ${clientId}#${key[1]} is not a valid record`);
      const own = value.length === 9 && value[7] !== null;
      yield { seq: key[1], state: value[4], own, size: value.length === 9 ? value[6] : -1 };
    }
  }

  deleteEntry(clientId: string, seq: number): void {
    if (this.closing) return; // late writes of a broker shutting down (LMDB would throw asynchronously)
    this.track(this.entries.remove([clientId, seq]));
  }

  putRel(clientId: string, packetId: number): void {
    if (this.closing) return; // late writes of a broker shutting down (LMDB would throw asynchronously)
    this.track(this.rels.put([clientId, packetId], 1));
  }

  deleteRel(clientId: string, packetId: number): void {
    if (this.closing) return; // late writes of a broker shutting down (LMDB would throw asynchronously)
    this.track(this.rels.remove([clientId, packetId]));
  }

  putRetained(topic: string, msgId: number): void {
    if (this.closing) return; // late writes of a broker shutting down (LMDB would throw asynchronously)
    this.track(this.retained.put(topic, msgId));
  }

  deleteRetained(topic: string): void {
    if (this.closing) return; // late writes of a broker shutting down (LMDB would throw asynchronously)
    this.track(this.retained.remove(topic));
  }

  async flush(): Promise<void> {
    if (this.last !== undefined) await this.last;
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await this.flush();
    await this.root.close();
    rmSync(this.lockFile, { force: true });
  }
}

function messageRecord(m: Message): MessageRecord {
  return [m.topic, m.payload, m.qos, m.retain, m.properties ?? null, m.expiresAt, m.from, m.receivedAt];
}

/** An entry record as the store interface gives it (`size` -1 when an old record does not say). */
export function decodeEntry(key: [string, number], r: EntryRecord): StoredEntry {
  const [clientId, seq] = key;
  if (!Array.isArray(r) || (r.length !== 6 && r.length !== 9)) {
    throw new StoreError(`entry ${clientId}#${seq} is not a valid record`);
  }
  const [msgId, qos, retain, subIds, state, packetId] = r;
  const e: StoredEntry = {
    seq,
    msgId,
    qos,
    retain,
    subscriptionIds: subIds ?? undefined,
    state,
    packetId,
    size: r.length === 9 ? r[6] : -1,
  };
  if (r.length === 9) {
    if (r[7] !== null) e.msg = decodeMessage(msgId, r[7]);
    if (r[8] !== null) e.share = { name: r[8][0], filter: r[8][1] };
  }
  return e;
}

export function decodeMessage(id: number, r: MessageRecord): Message {
  if (!Array.isArray(r) || r.length !== 8 || typeof r[0] !== 'string') {
    throw new StoreError(`message ${id} is not a valid record`);
  }
  const [topic, payload, qos, retain, properties, expiresAt, from, receivedAt] = r;
  return {
    topic,
    payload: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
    qos,
    retain,
    properties: properties ?? undefined,
    expiresAt,
    from,
    receivedAt,
  };
}

/** LMDB's meta page magic number, at byte 24 of the file (after the page header). */
const LMDB_MAGIC = 0xbeefc0de;

/**
 * Refuses a data file that is not an LMDB environment before LMDB maps it: a file damaged at its start would
 * otherwise be reported (at best) as an obscure error, and must never be taken for an empty store.
 */
export function checkHeader(file: string): void {
  if (!existsSync(file)) return;
  const head = Buffer.alloc(65_536 + META_END);
  let n = 0;
  let size = 0;
  const fd = openSync(file, 'r');
  try {
    size = fstatSync(fd).size;
    n = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  if (size === 0) return;
  const bad = (why: string): StoreError =>
    new StoreError(
      `${file} is not a valid Petrel store (${why}): it may be corrupt; run \`petrel storage check\` or move it away to start empty`,
    );
  if (n < META_END || head.readUInt32LE(24) !== LMDB_MAGIC) throw bad('bad LMDB header');
  // The second meta page starts at the page size; LMDB uses the meta page with the newer transaction id.
  let pageSize = 0;
  for (let p = 4096; p <= 65_536; p *= 2) {
    if (p + META_END <= n && head.readUInt32LE(p + 24) === LMDB_MAGIC) {
      pageSize = p;
      break;
    }
  }
  if (pageSize === 0) throw bad('second meta page missing: file truncated');
  const txn0 = head.readBigUInt64LE(META_TXNID);
  const txn1 = head.readBigUInt64LE(pageSize + META_TXNID);
  const lastPage = head.readBigUInt64LE((txn1 > txn0 ? pageSize : 0) + META_LAST_PG);
  // Mapping a file shorter than its last used page would crash the process (SIGBUS) on the first read.
  if (BigInt(size) < (lastPage + 1n) * BigInt(pageSize)) {
    throw bad(`file truncated: ${size} bytes, the database needs ${(lastPage + 1n) * BigInt(pageSize)}`);
  }
}

/** Offsets in an LMDB (lmdb-js 3.x) meta page: last used page number, transaction id, end of what we read. */
const META_LAST_PG = 144;
const META_TXNID = 152;
const META_END = 160;

/**
 * One broker per data directory: two brokers writing the same store would corrupt each other's reference counts.
 * The lock file holds the owner's pid; a lock left by a process that no longer runs (kill -9) is taken over.
 */
export function lockDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const lock = `${dir}/petrel.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return lock;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new StoreError(`cannot lock ${dir}: ${String(e)}`);
      const pid = Number(readFileSync(lock, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new StoreError(`the data directory ${dir} is in use by another Petrel process (pid ${pid})`);
      }
      rmSync(lock, { force: true });
    }
  }
  throw new StoreError(`cannot lock ${dir}`);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
