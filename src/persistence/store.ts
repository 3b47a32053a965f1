import type { QoS, Will } from '../codec/index.js';
import type { Message } from '../core/message.js';
import type { ShareRef, Subscription } from '../session/session.js';

/**
 * Durable state of the broker, as a storage backend keeps it. The in-memory structures (sessions, router,
 * retained tree) stay authoritative at run time: the broker writes through to the store and reads it back only
 * at start-up. Writes are buffered and committed together (group commit); `flush()` resolves once everything
 * written before the call is durable.
 *
 * Records:
 * - session: client id, expiry interval, when it disconnected (wall-clock ms, 0 = connected), subscriptions,
 *   a will waiting for its Will Delay Interval;
 * - message: one record per application message, referenced by id from queue entries and retained topics
 *   (stored once, however many sessions hold it);
 * - entry: one per message a persistent session holds, in order (`seq`): queued, or in flight with its packet
 *   id (`state` 1: PUBLISH sent, 2: PUBREL sent). An entry refers to a message record, or (queued beyond the
 *   session's memory window, so the message is not in memory to share) holds its own copy of the message;
 * - rel: inbound QoS 2 packet ids awaiting PUBREL (exactly-once across a restart);
 * - retained: topic → message id.
 */
export interface StoredSession {
  clientId: string;
  expiryInterval: number;
  disconnectedAt: number;
  subscriptions: Subscription[];
  pendingWill: Will | undefined;
  /** Who the pending will belongs to: it is authorized as this client again when published after a restart. */
  willFrom?: StoredClient | undefined;
}

/** The fields of a client that authorization looks at (see ClientInfo in src/hooks/hooks.ts). */
export interface StoredClient {
  clientId: string;
  username: string | undefined;
  remoteAddress: string;
  remotePort: number;
  listener: string;
  protocolVersion: 3 | 4 | 5;
  certCommonName?: string | undefined;
}

export interface StoredEntry {
  seq: number;
  msgId: number;
  qos: QoS;
  retain: boolean;
  subscriptionIds: number[] | undefined;
  /** 0: queued; 1: PUBLISH sent, awaiting PUBACK/PUBREC; 2: PUBREL sent, awaiting PUBCOMP. */
  state: 0 | 1 | 2;
  packetId: number;
  /** Payload bytes of the message (so a queue left on disk counts towards `max_queued_bytes`). */
  size: number;
  /** The entry's own copy of its message (then `msgId` is 0): written for queues beyond the memory window. */
  msg?: Message | undefined;
  /** The shared subscription the message came through (it may go to another member). */
  share?: ShareRef | undefined;
}

/** A persistent session's queue as start-up restores it: a head in memory, the rest left on disk. */
export interface RestoredQueue {
  /** Entries to hold in memory, in `seq` order: every in-flight entry and the first queued ones. */
  entries: StoredEntry[];
  /** Queued entries left on disk after `entries` (all holding their own message), if any. */
  spilled: { count: number; bytes: number; fromSeq: number } | undefined;
  /** The next unused `seq`. */
  nextSeq: number;
}

export interface RestoredState {
  sessions: StoredSession[];
  /** Queues per client id (clients with entries). */
  queues: Map<string, RestoredQueue>;
  /** Inbound QoS 2 packet ids awaiting PUBREL, per client id. */
  rels: Map<string, number[]>;
  messages: Map<number, Message>;
  /** Retained topic → message id. */
  retained: Map<string, number>;
}

export type Durability = 'sync' | 'batched' | 'none';

export interface Store {
  /**
   * Reads the state back (start-up), with at most `memoryQueue` queued entries per session beyond those that
   * refer to message records (see `restoreQueue`). Throws StoreError when the store is unreadable or
   * inconsistent.
   */
  load(memoryQueue?: number): Promise<RestoredState>;
  putSession(s: StoredSession): void;
  /** Deletes a session with its entries and rels. */
  deleteSession(clientId: string): void;
  putMessage(id: number, msg: Message): void;
  deleteMessage(id: number): void;
  putEntry(clientId: string, e: StoredEntry): void;
  deleteEntry(clientId: string, seq: number): void;
  /** Up to `limit` entries of a session with `seq >= fromSeq`, in order (reads what is committed or pending). */
  readEntries(clientId: string, fromSeq: number, limit: number): StoredEntry[];
  putRel(clientId: string, packetId: number): void;
  deleteRel(clientId: string, packetId: number): void;
  putRetained(topic: string, msgId: number): void;
  deleteRetained(topic: string): void;
  /** True when writes are waiting for a commit. */
  readonly dirty: boolean;
  /** Resolves when every write made before the call is durable (per the durability setting). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** The store cannot be read: start-up stops with this message rather than starting empty. */
export class StoreError extends Error {
  readonly code = 'ERR_PETREL_STORE';
  constructor(message: string) {
    super(message);
    this.name = 'StoreError';
  }
}

/** What the backward pass of `restoreQueue` needs of an entry (cheaper than decoding its message copy). */
export interface EntrySummary {
  seq: number;
  state: 0 | 1 | 2;
  /** The entry holds its own copy of the message. */
  own: boolean;
  size: number;
}

/**
 * Splits a session's entries into what start-up holds in memory and what stays on disk. The entries left on
 * disk are the longest run at the end of the queue that are queued and hold their own message (only those can
 * wait on disk: nothing in memory refers to them), less the first `memoryQueue` of that run when the entries
 * before it hold fewer than that. `backwards` and `forwards` iterate the session's entries in `seq` order; the
 * forward pass stops where the disk part begins, so a long queue is never read whole.
 */
export function restoreQueue(
  backwards: Iterable<EntrySummary>,
  forwards: Iterable<StoredEntry>,
  memoryQueue: number,
): RestoredQueue {
  let count = 0;
  let bytes = 0;
  let from = Number.POSITIVE_INFINITY;
  let nextSeq = 1;
  for (const e of backwards) {
    if (nextSeq === 1) nextSeq = e.seq + 1;
    if (e.state !== 0 || !e.own) break;
    count++;
    bytes += e.size;
    from = e.seq;
  }
  const entries: StoredEntry[] = [];
  let queued = 0;
  let fromSeq = from;
  for (const e of forwards) {
    if (e.seq >= from && queued >= memoryQueue) {
      fromSeq = e.seq;
      break;
    }
    entries.push(e);
    if (e.state === 0) queued++;
    if (e.seq >= from) {
      count--;
      bytes -= e.size;
    }
  }
  return { entries, spilled: count > 0 ? { count, bytes, fromSeq } : undefined, nextSeq };
}
