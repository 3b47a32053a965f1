// A bench worker thread: connects its share of clients, publishes (closed loop or at a fixed rate) and checks
// what its subscribers receive. See bench.ts for the protocol.
import { parentPort, workerData } from 'node:worker_threads';
import { MqttClient } from '../../client/index.js';
import { encode, PacketType, type PublishPacket } from '../../codec/index.js';
import { Histogram } from './histogram.js';
import {
  CONNECTED,
  ERRORS,
  type FromWorker,
  HEADER_BYTES,
  nowUs,
  RECEIVED,
  SENT,
  SLOTS,
  type SubReport,
  type ToWorker,
  type WorkerInit,
} from './protocol.js';
import { RawConn } from './raw-conn.js';

const init = workerData as WorkerInit;
const counters = new Int32Array(init.counters);
const base = init.index * SLOTS;
const post = (m: FromWorker): void => parentPort!.postMessage(m);
const errors: string[] = [];
const noteError = (msg: string): void => {
  Atomics.add(counters, base + ERRORS, 1);
  if (errors.length < 20) errors.push(msg);
};

/** Per (subscriber, publisher): which sequence numbers arrived. */
class Seen {
  bits = new Uint8Array(1024);
  distinct = 0;
  max = -1;
  mark(seq: number, sub: SubState): void {
    const byte = seq >>> 3;
    if (byte >= this.bits.length) {
      const next = new Uint8Array(Math.max(byte + 1, this.bits.length * 2));
      next.set(this.bits);
      this.bits = next;
    }
    const bit = 1 << (seq & 7);
    if (this.bits[byte]! & bit) {
      sub.duplicates++;
      return;
    }
    this.bits[byte]! |= bit;
    this.distinct++;
    if (seq < this.max) sub.reordered++;
    else this.max = seq;
  }
}

interface SubState {
  id: number;
  conn: RawConn;
  /** By publisher id. */
  seen: (Seen | undefined)[];
  duplicates: number;
  reordered: number;
}

interface PubState {
  id: number;
  conn: RawConn;
  template: Buffer;
  pidOffset: number;
  payloadOffset: number;
  seq: number;
  started: number;
}

const hist = new Histogram();
const subs: SubState[] = [];
const pubs: PubState[] = [];
const idle: MqttClient[] = [];
let running = false;
let scheduled = false;
let startedAt = 0;
const idleWaiters = new Map<RawConn, () => void>();
let refused = 0;
/** Deliveries counted but not yet added to the shared counter, and the current chunk's receive time. */
let receivedHere = 0;
let chunkNow = 0;

async function connectAll(): Promise<{ firstMs: number; lastMs: number }> {
  const jobs: { kind: 'pub' | 'sub' | 'idle'; id: number; filters?: string[]; topic?: string }[] = [
    ...init.subs.map((s) => ({ kind: 'sub' as const, id: s.id, filters: s.filters })),
    ...init.pubs.map((p) => ({ kind: 'pub' as const, id: p.id, topic: p.topic })),
    ...init.idle.map((id) => ({ kind: 'idle' as const, id })),
  ];
  const t0 = performance.now();
  let last = t0;
  let next = 0;
  const interval = init.connectRate > 0 ? 1000 / init.connectRate : 0;
  const one = async (job: (typeof jobs)[number], n: number): Promise<void> => {
    if (interval > 0) {
      const due = t0 + n * interval - performance.now();
      if (due > 0) await new Promise((r) => setTimeout(r, due));
    }
    const clientId = `${init.clientPrefix}${job.kind[0]}${job.id}`;
    let client: MqttClient;
    try {
      client = await MqttClient.connect({ ...init.connect, clientId });
    } catch (e) {
      noteError(`${clientId}: ${(e as Error).message}`);
      return;
    }
    last = performance.now();
    Atomics.add(counters, base + CONNECTED, 1);
    client.onClose = (err) => {
      if (err && running) noteError(`${clientId}: ${err.message}`);
    };
    if (job.kind === 'sub') {
      const filters = job.filters!;
      for (let i = 0; i < filters.length; i += 100) {
        const rcs = await client.subscribe(
          filters.slice(i, i + 100).map((topicFilter) => ({
            topicFilter,
            qos: init.qos,
            noLocal: false,
            retainAsPublished: false,
            retainHandling: 0 as const,
          })),
        );
        const bad = rcs.filter((rc) => rc >= 0x80).length;
        if (bad > 0) noteError(`${clientId}: ${bad} subscription(s) refused`);
      }
      const s: SubState = { id: job.id, conn: undefined!, seen: [], duplicates: 0, reordered: 0 };
      s.conn = new RawConn(client.detach(), client.version, keepAlive(client), {
        onPublish: (buf, start, end) => receive(s, buf, start, end),
        onAck: () => {},
        onChunk: flushReceived,
        onClose: (err) => {
          if (err && running) noteError(`${clientId}: ${err.message}`);
        },
      });
      subs.push(s);
    } else if (job.kind === 'pub') {
      pubs.push(makePub(job.id, job.topic!, client, clientId));
    } else idle.push(client);
  };
  const workers: Promise<void>[] = [];
  const limit = Math.max(1, init.connectConcurrency);
  for (let w = 0; w < Math.min(limit, jobs.length); w++) {
    workers.push(
      (async () => {
        while (next < jobs.length) {
          const n = next++;
          await one(jobs[n]!, n);
        }
      })(),
    );
  }
  await Promise.all(workers);
  return { firstMs: t0 + performance.timeOrigin, lastMs: last + performance.timeOrigin };
}

function keepAlive(c: MqttClient): number {
  return c.connack.properties?.serverKeepAlive ?? init.connect.keepAlive ?? 60;
}

function makePub(id: number, topic: string, client: MqttClient, clientId: string): PubState {
  const size = Math.max(HEADER_BYTES, init.payloadSize);
  const packet: PublishPacket = {
    type: PacketType.Publish,
    topic,
    payload: Buffer.alloc(size, 0x2e),
    qos: init.qos,
    retain: false,
    dup: false,
  };
  if (init.qos > 0) packet.packetId = 1;
  const template = encode(packet, client.version);
  const payloadOffset = template.length - size;
  const pidOffset = payloadOffset - 2 - (client.version === 5 ? 1 : 0);
  template.writeUInt32BE(id, payloadOffset);
  const conn: RawConn = new RawConn(client.detach(), client.version, keepAlive(client), {
    onPublish: () => {},
    onAck: (rc) => {
      if (rc >= 0x80) refused++;
      schedule();
      if (conn.inflight === 0) idleWaiters.get(conn)?.();
    },
    onChunk: napSoon,
    onClose: (err) => {
      if (err && running) noteError(`${clientId}: ${err.message}`);
      idleWaiters.get(conn)?.();
    },
  });
  return { id, conn, template, pidOffset, payloadOffset, seq: 0, started: 0 };
}

/** One delivery: reads publisher id, sequence and send time straight from the chunk. */
function receive(s: SubState, buf: Buffer, start: number, end: number): void {
  receivedHere++;
  if (end - start < HEADER_BYTES) return;
  const pub = buf.readUInt32BE(start);
  const seq = buf.readUInt32BE(start + 4);
  if (chunkNow === 0) chunkNow = nowUs();
  hist.record(chunkNow - buf.readDoubleBE(start + 8));
  let seen = s.seen[pub];
  if (seen === undefined) s.seen[pub] = seen = new Seen();
  seen.mark(seq, s);
}

/** After each chunk: publish the delivery count to the shared counters; the next chunk takes a new time. */
function flushReceived(): void {
  chunkNow = 0;
  if (receivedHere > 0) {
    Atomics.add(counters, base + RECEIVED, receivedHere);
    receivedHere = 0;
  }
  napSoon();
}

/**
 * Throughput runs: after an event-loop turn that read something, the thread sleeps `init.napMs`, so that the
 * next turn finds many packets in each socket instead of one. Reading one small segment per wake-up (what a
 * broker that writes one segment per packet causes) costs more CPU in the kernel and in Node's read path than
 * the parsing does; batching it keeps the generator well below one core. Latency runs (at a fixed rate) do not
 * nap.
 */
const napCell = new Int32Array(new SharedArrayBuffer(4));
let napping = false;
function napSoon(): void {
  if (init.napMs <= 0 || napping || !running) return;
  napping = true;
  setImmediate(nap);
}
function nap(): void {
  napping = false;
  Atomics.wait(napCell, 0, 0, init.napMs);
}

function totals(slot: number): number {
  let n = 0;
  for (let w = 0; w < init.workers; w++) n += Atomics.load(counters, w * SLOTS + slot);
  return n;
}

function schedule(): void {
  if (!running || scheduled) return;
  scheduled = true;
  setImmediate(tick);
}

/** Sends what each publisher may send now, in one write per publisher. */
function tick(): void {
  scheduled = false;
  if (!running) return;
  let budget = Number.POSITIVE_INFINITY;
  if (init.maxOutstanding > 0 && init.fanout > 0) {
    budget = init.maxOutstanding - (totals(SENT) - totals(RECEIVED) / init.fanout);
  }
  const now = performance.now();
  let sentAny = false;
  let waitingOnRate = false;
  for (const p of pubs) {
    if (p.conn.closed || budget < 1) continue;
    // Napping threads send more per turn.
    let n = init.napMs > 0 ? 512 : 64;
    if (init.rate > 0) {
      const due = Math.floor(((now - p.started) / 1000) * init.rate) - p.seq;
      if (due < n) waitingOnRate = true;
      n = Math.min(n, due);
    }
    if (init.qos > 0) n = Math.min(n, init.inflight - p.conn.inflight);
    n = Math.min(n, Math.floor(budget));
    if (n <= 0) continue;
    const t = p.template;
    const len = t.length;
    const out = Buffer.allocUnsafe(len * n);
    const ts = nowUs();
    for (let i = 0; i < n; i++) {
      const at = i * len;
      t.copy(out, at);
      if (init.qos > 0) out.writeUInt16BE(p.conn.allocId(), at + p.pidOffset);
      out.writeUInt32BE(p.seq++, at + p.payloadOffset + 4);
      out.writeDoubleBE(ts, at + p.payloadOffset + 8);
    }
    budget -= n;
    Atomics.add(counters, base + SENT, n);
    sentAny = true;
    if (!p.conn.write(out)) {
      p.conn.drained().then(schedule);
    }
  }
  if (sentAny && !waitingOnRate) schedule();
  else setTimeout(schedule, 1);
}

async function stop(): Promise<void> {
  running = false;
  const pending = pubs.filter((p) => p.conn.inflight > 0 && !p.conn.closed);
  if (pending.length > 0) {
    await Promise.race([
      Promise.all(
        pending.map(
          (p) =>
            new Promise<void>((r) => {
              idleWaiters.set(p.conn, r);
              if (p.conn.inflight === 0 || p.conn.closed) r();
            }),
        ),
      ),
      new Promise((r) => setTimeout(r, 10_000)),
    ]);
  }
  const sent: Record<number, number> = {};
  let unacked = 0;
  for (const p of pubs) {
    sent[p.id] = p.seq;
    unacked += p.conn.inflight;
  }
  post({ type: 'stopped', sent, unacked, refused });
}

parentPort!.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'start':
      running = true;
      startedAt = performance.now();
      for (const p of pubs) p.started = startedAt;
      schedule();
      return;
    case 'measure':
      // The warm-up is over: latencies count from here.
      hist.reset();
      return;
    case 'stop':
      void stop();
      return;
    case 'report': {
      const reports: SubReport[] = subs.map((s) => {
        const distinct: Record<number, number> = {};
        s.seen.forEach((seen, pub) => {
          if (seen !== undefined) distinct[pub] = seen.distinct;
        });
        return { id: s.id, distinct, duplicates: s.duplicates, reordered: s.reordered };
      });
      post({ type: 'report', subs: reports, counts: hist.counts, max: hist.max, errors });
      return;
    }
    case 'close':
      running = false;
      Promise.all(
        [...subs.map((s) => s.conn), ...pubs.map((p) => p.conn), ...idle].map((c) => c.disconnect()),
      ).then(
        () => post({ type: 'closed' }),
        () => post({ type: 'closed' }),
      );
      return;
  }
});

connectAll().then(
  ({ firstMs, lastMs }) =>
    post({ type: 'ready', connected: Atomics.load(counters, base + CONNECTED), errors, firstMs, lastMs }),
  (e: unknown) => post({ type: 'ready', connected: 0, errors: [String(e)], firstMs: 0, lastMs: 0 }),
);
