import type { Message } from '../broker/message.js';
import type { QoS, Will } from '../codec/index.js';
import type { Subscription } from '../session/session.js';

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
 *   id (`state` 1: PUBLISH sent, 2: PUBREL sent);
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
}

export interface RestoredState {
  sessions: StoredSession[];
  /** Entries per client id, in `seq` order. */
  entries: Map<string, StoredEntry[]>;
  /** Inbound QoS 2 packet ids awaiting PUBREL, per client id. */
  rels: Map<string, number[]>;
  messages: Map<number, Message>;
  /** Retained topic → message id. */
  retained: Map<string, number>;
}

export type Durability = 'sync' | 'batched' | 'none';

export interface Store {
  /** Reads everything back (start-up). Throws StoreError when the store is unreadable or inconsistent. */
  load(): Promise<RestoredState>;
  putSession(s: StoredSession): void;
  /** Deletes a session with its entries and rels. */
  deleteSession(clientId: string): void;
  putMessage(id: number, msg: Message): void;
  deleteMessage(id: number): void;
  putEntry(clientId: string, e: StoredEntry): void;
  deleteEntry(clientId: string, seq: number): void;
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
