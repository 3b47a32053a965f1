import type { Message } from '../core/message.js';
import {
  type RestoredQueue,
  type RestoredState,
  restoreQueue,
  type Store,
  type StoredEntry,
  type StoredSession,
  StoreError,
} from './store.js';

/** What a MemoryStore keeps; pass the same instance to a new MemoryStore to model a restart in tests. */
export class MemoryData {
  readonly sessions = new Map<string, StoredSession>();
  readonly entries = new Map<string, Map<number, StoredEntry>>();
  readonly rels = new Map<string, Set<number>>();
  readonly messages = new Map<number, Message>();
  readonly retained = new Map<string, number>();
}

/** Keeps everything in this process's memory: nothing survives a restart of the process. */
export class MemoryStore implements Store {
  readonly data: MemoryData;
  readonly dirty = false;

  constructor(data = new MemoryData()) {
    this.data = data;
  }

  async load(memoryQueue = Number.POSITIVE_INFINITY): Promise<RestoredState> {
    const d = this.data;
    const queues = new Map<string, RestoredQueue>();
    for (const id of d.sessions.keys()) {
      const m = d.entries.get(id);
      if (m === undefined || m.size === 0) continue;
      const list = [...m.values()].sort((a, b) => a.seq - b.seq);
      const back = list.map((e) => ({ seq: e.seq, state: e.state, own: e.msg !== undefined, size: e.size }));
      const q = restoreQueue(back.reverse(), list, memoryQueue);
      for (const e of q.entries) {
        if (e.msg === undefined && !d.messages.has(e.msgId))
          throw new StoreError(`entry ${id}#${e.seq} refers to missing message ${e.msgId}`);
      }
      queues.set(id, q);
    }
    for (const [topic, id] of d.retained) {
      if (!d.messages.has(id))
        throw new StoreError(`retained topic "${topic}" refers to missing message ${id}`);
    }
    const rels = new Map<string, number[]>();
    for (const [id, s] of d.rels) rels.set(id, [...s]);
    return {
      sessions: [...d.sessions.values()].map((s) => structuredClone(s)),
      queues,
      rels,
      messages: new Map(d.messages),
      retained: new Map(d.retained),
    };
  }

  putSession(s: StoredSession): void {
    this.data.sessions.set(s.clientId, structuredClone(s));
  }

  deleteSession(clientId: string): void {
    this.data.sessions.delete(clientId);
    this.data.entries.delete(clientId);
    this.data.rels.delete(clientId);
  }

  putMessage(id: number, msg: Message): void {
    this.data.messages.set(id, msg);
  }

  deleteMessage(id: number): void {
    this.data.messages.delete(id);
  }

  putEntry(clientId: string, e: StoredEntry): void {
    let m = this.data.entries.get(clientId);
    if (m === undefined) this.data.entries.set(clientId, (m = new Map()));
    m.set(e.seq, { ...e });
  }

  deleteEntry(clientId: string, seq: number): void {
    this.data.entries.get(clientId)?.delete(seq);
  }

  readEntries(clientId: string, fromSeq: number, limit: number): StoredEntry[] {
    const m = this.data.entries.get(clientId);
    if (m === undefined) return [];
    const out = [...m.values()].filter((e) => e.seq >= fromSeq).sort((a, b) => a.seq - b.seq);
    return out.slice(0, limit).map((e) => ({ ...e }));
  }

  putRel(clientId: string, packetId: number): void {
    let s = this.data.rels.get(clientId);
    if (s === undefined) this.data.rels.set(clientId, (s = new Set()));
    s.add(packetId);
  }

  deleteRel(clientId: string, packetId: number): void {
    this.data.rels.get(clientId)?.delete(packetId);
  }

  putRetained(topic: string, msgId: number): void {
    this.data.retained.set(topic, msgId);
  }

  deleteRetained(topic: string): void {
    this.data.retained.delete(topic);
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  async close(): Promise<void> {}
}
