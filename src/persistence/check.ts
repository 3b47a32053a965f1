import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Database, type Key, open, type RootDatabase } from 'lmdb';
import {
  checkHeader,
  decodeMessage,
  type EntryRecord,
  FORMAT_VERSION,
  isAlive,
  lockDir,
  type MessageRecord,
} from './lmdb-store.js';

/**
 * `petrel storage check|repair`: inspects the embedded store record by record (without LMDB's all-or-nothing
 * `load()`), reports what is wrong with each key, and removes what cannot be used. Check opens the environment
 * read-only and never takes the data directory's lock; repair takes it, like a broker would.
 */

type DbName = 'sessions' | 'messages' | 'entries' | 'rels' | 'retained' | 'meta';
const DB_NAMES: DbName[] = ['sessions', 'messages', 'entries', 'rels', 'retained', 'meta'];

/** One fix repair applies: remove a record, or turn an in-flight entry back into a queued one. */
type Fix =
  | { op: 'remove'; db: DbName; key: unknown }
  | { op: 'requeue'; key: [string, number]; rec: EntryRecord };

export interface Finding {
  level: 'error' | 'warning';
  db: DbName;
  /** The record's key, printable (`client#seq` for entries and rels). */
  key: string;
  text: string;
  fix: Fix | undefined;
}

export interface StoreCounts {
  sessions: number;
  messages: number;
  entries: number;
  rels: number;
  retained: number;
}

export interface StoreReport {
  dir: string;
  file: string;
  /** Set when the file cannot be read at all (missing, bad header, LMDB refuses it, a database unreadable). */
  fatal: string | undefined;
  /** The format version recorded in the store (undefined when none is recorded). */
  format: number | undefined;
  counts: StoreCounts;
  findings: Finding[];
}

export const storeFile = (dir: string): string => join(dir, 'petrel.mdb');

/** The pid of a live process holding the data directory's lock (not this one), if any. */
export function lockHolder(dir: string): number | undefined {
  const lock = join(dir, 'petrel.lock');
  if (!existsSync(lock)) return undefined;
  const pid = Number(readFileSync(lock, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid) ? pid : undefined;
}

function openEnv(file: string, readOnly: boolean): RootDatabase {
  return open({ path: file, maxDbs: 8, compression: false, readOnly });
}

const emptyCounts = (): StoreCounts => ({ sessions: 0, messages: 0, entries: 0, rels: 0, retained: 0 });

/** Inspects the store in `dir` read-only. Never modifies the directory (no lock is taken). */
export async function checkStore(dir: string): Promise<StoreReport> {
  const file = storeFile(dir);
  const report: StoreReport = {
    dir,
    file,
    fatal: undefined,
    format: undefined,
    counts: emptyCounts(),
    findings: [],
  };
  if (!existsSync(file)) {
    report.fatal = `no store: ${file} does not exist`;
    return report;
  }
  if (statSync(file).size === 0) {
    report.fatal = `${file} is empty (0 bytes): not an LMDB environment`;
    return report;
  }
  let root: RootDatabase;
  try {
    checkHeader(file);
    root = openEnv(file, true);
  } catch (e) {
    report.fatal = `${file} cannot be opened: ${message(e)}`;
    return report;
  }
  try {
    analyze(root, report);
  } finally {
    await root.close();
  }
  return report;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

const isInt = (v: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
const isPair = (k: unknown): k is [string, number] =>
  Array.isArray(k) && k.length === 2 && typeof k[0] === 'string' && isInt(k[1]);

function validSession(key: unknown, v: unknown): string | undefined {
  if (typeof key !== 'string') return 'key is not a client id';
  if (typeof v !== 'object' || v === null) return 'not a session record';
  const s = v as Record<string, unknown>;
  if (s.clientId !== key) return 'client id does not match its key';
  if (!isInt(s.expiryInterval) || !isInt(s.disconnectedAt)) return 'bad expiry interval or disconnect time';
  if (!Array.isArray(s.subscriptions) || s.subscriptions.some((x) => typeof x?.filter !== 'string'))
    return 'bad subscriptions';
  return undefined;
}

/** The entry turned back into a queued one (state 0, no packet id). */
function requeued(rec: EntryRecord): EntryRecord {
  const r = [...rec] as EntryRecord;
  r[4] = 0;
  r[5] = 0;
  return r;
}

function validEntry(key: unknown, v: unknown): string | undefined {
  if (!isPair(key)) return 'key is not [client id, seq]';
  if (!Array.isArray(v) || (v.length !== 6 && v.length !== 9)) return 'not an entry record';
  const [msgId, qos, retain, subIds, state, packetId, size, own] = v as unknown[];
  if (!isInt(msgId) || !isInt(qos, 0, 2) || typeof retain !== 'boolean')
    return 'bad message id, QoS or retain';
  if (v.length === 9) {
    if (!isInt(size)) return 'bad size';
    if (own !== null) {
      try {
        decodeMessage(0, own as MessageRecord);
      } catch {
        return 'bad message copy';
      }
      if (msgId !== 0) return 'both a message id and a message copy';
    } else if (msgId === 0) return 'neither a message id nor a message copy';
  }
  if (subIds !== null && !(Array.isArray(subIds) && subIds.every((x) => isInt(x))))
    return 'bad subscription ids';
  if (!isInt(state, 0, 2) || !isInt(packetId, 0, 65535)) return 'bad state or packet id';
  if (state !== 0 && packetId === 0) return 'in flight without a packet id';
  return undefined;
}

function printable(db: DbName, key: unknown): string {
  if ((db === 'entries' || db === 'rels') && isPair(key)) return `${key[0]}#${key[1]}`;
  return typeof key === 'string' ? JSON.stringify(key) : String(key);
}

/**
 * Reads every record of every database; records what fails to decode and what is inconsistent, each with the
 * fix repair would apply. The fixes are planned together, so that after repair a second pass finds nothing
 * (e.g. a message referenced only by an entry that is being dropped counts as an orphan now).
 */
function analyze(root: RootDatabase, report: StoreReport): void {
  const f = report.findings;
  const add = (level: Finding['level'], db: DbName, key: unknown, text: string, fix?: Fix): void => {
    f.push({ level, db, key: printable(db, key), text, fix });
  };
  const remove = (db: DbName, key: unknown): Fix => ({ op: 'remove', db, key });
  const records = new Map<DbName, Array<{ key: unknown; value: unknown }>>();
  for (const name of DB_NAMES) {
    const list: Array<{ key: unknown; value: unknown }> = [];
    records.set(name, list);
    let db: Database<unknown, Key> | undefined;
    try {
      db = root.openDB({ name }) as Database<unknown, Key> | undefined;
    } catch (e) {
      report.fatal = `database "${name}" cannot be opened: ${message(e)}`;
      return;
    }
    if (db === undefined || db === null) continue; // never created (read-only open): empty
    let keys: unknown[];
    try {
      keys = [...db.getKeys()];
    } catch (e) {
      report.fatal = `database "${name}" cannot be read: ${message(e)}`;
      return;
    }
    for (const key of keys) {
      let value: unknown;
      try {
        value = db.get(key as never);
      } catch (e) {
        add('error', name, key, `cannot be decoded (${message(e)})`, remove(name, key));
        continue;
      }
      list.push({ key, value });
    }
  }
  // meta: the format version.
  for (const { key, value } of records.get('meta')!) {
    if (key === 'format') {
      if (isInt(value)) report.format = value;
      else add('error', 'meta', key, `format version is not a number (${JSON.stringify(value)})`);
    }
  }
  if (report.format !== undefined && report.format !== FORMAT_VERSION) {
    add(
      'error',
      'meta',
      'format',
      `unknown format version ${report.format} (this Petrel reads format ${FORMAT_VERSION})`,
    );
  }

  const sessions = new Set<string>();
  for (const { key, value } of records.get('sessions')!) {
    const bad = validSession(key, value);
    if (bad !== undefined) add('error', 'sessions', key, `invalid record: ${bad}`, remove('sessions', key));
    else sessions.add(key as string);
  }
  const messages = new Set<number>();
  for (const { key, value } of records.get('messages')!) {
    try {
      if (!isInt(key)) throw new Error('key is not a message id');
      const m = decodeMessage(key, value as MessageRecord);
      if (!(m.payload instanceof Uint8Array) || !isInt(m.qos, 0, 2)) throw new Error('bad payload or QoS');
      messages.add(key);
    } catch (e) {
      add('error', 'messages', key, `invalid record: ${message(e)}`, remove('messages', key));
    }
  }
  /** Message ids referenced by every decodable entry/retained record, and by those repair keeps. */
  const referenced = new Set<number>();
  const kept = new Set<number>();
  const entryClients = new Map<string, number>();
  const inflight = new Map<string, Map<number, number>>();
  for (const { key, value } of records.get('entries')!) {
    const bad = validEntry(key, value);
    if (bad !== undefined) {
      add('error', 'entries', key, `invalid record: ${bad}`, remove('entries', key));
      continue;
    }
    const [clientId, seq] = key as [string, number];
    const rec = value as EntryRecord;
    const [msgId, , , , state, packetId] = rec;
    const own = rec.length === 9 && rec[7] !== null;
    if (!own) referenced.add(msgId);
    if (!sessions.has(clientId)) {
      entryClients.set(clientId, (entryClients.get(clientId) ?? 0) + 1);
      add(
        'error',
        'entries',
        key,
        `belongs to client "${clientId}", which has no session record`,
        remove('entries', key),
      );
      continue;
    }
    if (!own && !messages.has(msgId)) {
      add('error', 'entries', key, `refers to missing message ${msgId}`, remove('entries', key));
      continue;
    }
    if (!own) kept.add(msgId);
    if (state !== 0) {
      let ids = inflight.get(clientId);
      if (ids === undefined) inflight.set(clientId, (ids = new Map()));
      const first = ids.get(packetId);
      if (first !== undefined) {
        add(
          'error',
          'entries',
          key,
          `packet id ${packetId} is already in flight in ${clientId}#${first} (will be queued again)`,
          { op: 'requeue', key: [clientId, seq], rec: requeued(rec) },
        );
      } else ids.set(packetId, seq);
    }
  }
  for (const { key, value } of records.get('rels')!) {
    if (!isPair(key) || value !== 1) add('error', 'rels', key, 'invalid record', remove('rels', key));
    else if (!sessions.has(key[0]))
      add(
        'error',
        'rels',
        key,
        `belongs to client "${key[0]}", which has no session record`,
        remove('rels', key),
      );
  }
  for (const { key, value } of records.get('retained')!) {
    if (typeof key !== 'string' || !isInt(value)) {
      add('error', 'retained', key, 'invalid record', remove('retained', key));
      continue;
    }
    referenced.add(value);
    if (!messages.has(value))
      add('error', 'retained', key, `refers to missing message ${value}`, remove('retained', key));
    else kept.add(value);
  }
  for (const id of messages) {
    if (!kept.has(id)) {
      const why = referenced.has(id) ? 'only records being removed refer to it' : 'nothing refers to it';
      add(
        referenced.has(id) ? 'error' : 'warning',
        'messages',
        id,
        `orphan message: ${why}`,
        remove('messages', id),
      );
    }
  }
  report.counts = {
    sessions: records.get('sessions')!.length,
    messages: records.get('messages')!.length,
    entries: records.get('entries')!.length,
    rels: records.get('rels')!.length,
    retained: records.get('retained')!.length,
  };
}

/**
 * `checkStore` in a child process: a file LMDB cannot map safely (truncated, damaged pages) may crash the
 * reader with a signal, which becomes a fatal finding here instead of killing the command.
 */
export async function inspectStore(dir: string): Promise<StoreReport> {
  const worker = fileURLToPath(import.meta.url).replace(/check\.(ts|js)$/, 'check-worker.$1');
  const child = spawn(process.execPath, [...process.execArgv, worker, dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, s) => resolve([c, s]));
  });
  if (code === 0) return JSON.parse(out) as StoreReport;
  const file = storeFile(dir);
  const why =
    signal !== null ? `reading it crashed LMDB (${signal}): the file is truncated or damaged` : err.trim();
  return {
    dir,
    file,
    fatal: `${file} cannot be read: ${why}`,
    format: undefined,
    counts: emptyCounts(),
    findings: [],
  };
}

export interface RepairResult {
  report: StoreReport;
  /** The findings that were fixed. */
  fixed: Finding[];
  /** Where the raw file was copied when it could not be opened. */
  copiedTo: string | undefined;
}

/**
 * Repairs the store in `dir`: applies every planned fix in one transaction. A file LMDB cannot open is copied
 * aside (`petrel.mdb.corrupt-<timestamp>`) and left in place: the broker keeps refusing it until the user
 * removes it. Throws when a live process holds the data directory (via `lockDir`).
 */
export async function repairStore(dir: string, now = new Date()): Promise<RepairResult> {
  const file = storeFile(dir);
  const report = await inspectStore(dir);
  if (report.fatal !== undefined) {
    if (!existsSync(file)) return { report, fixed: [], copiedTo: undefined };
    const copiedTo = `${file}.corrupt-${now.toISOString().replace(/[:.]/g, '-')}`;
    copyFileSync(file, copiedTo);
    return { report, fixed: [], copiedTo };
  }
  if (report.format !== undefined && report.format !== FORMAT_VERSION)
    return { report, fixed: [], copiedTo: undefined };
  const lock = lockDir(dir);
  try {
    const root = openEnv(file, false);
    try {
      // Re-inspect under the lock (a broker may have written between the check and now).
      const fresh: StoreReport = { ...report, fatal: undefined, findings: [], counts: emptyCounts() };
      analyze(root, fresh);
      const fixes = fresh.findings.filter((x) => x.fix !== undefined);
      const dbs = new Map<DbName, Database<unknown, Key>>();
      // Raw (binary) handles: removing a record must not require decoding it.
      for (const name of DB_NAMES)
        dbs.set(name, root.openDB({ name, encoding: 'binary' }) as Database<unknown, Key>);
      const entries = root.openDB({ name: 'entries' }) as Database<EntryRecord, [string, number]>;
      root.transactionSync(() => {
        for (const { fix } of fixes) {
          if (fix?.op === 'remove') dbs.get(fix.db)!.removeSync(fix.key as never);
          else if (fix?.op === 'requeue') entries.putSync(fix.key, fix.rec);
        }
      });
      return { report: fresh, fixed: fixes, copiedTo: undefined };
    } finally {
      await root.close();
    }
  } finally {
    rmSync(lock, { force: true });
  }
}
