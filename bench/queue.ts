/**
 * npm run bench:queue — how much memory a broker needs to hold one persistent session's offline queue of
 * COUNT messages: the embedded store (queues past `storage.memory_queue` wait on disk) against `storage: memory`
 * (everything in the heap), then how fast the queue drains to a reconnecting subscriber, checking that every
 * message arrives once and in order.
 *
 * Memory is the broker process's anonymous resident memory (RssAnon in /proc/PID/status: heap, buffers and
 * native allocations, without the file pages LMDB maps), after the queue is built, minus the same figure before.
 * The embedded broker is then restarted on its store (start-up time and memory are reported) before draining.
 *
 *   npm run bench:queue -- [--count 1000000] [--payload 64] [--window 1000]
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Decoder, encode, type Packet, PacketType } from '../src/codec/index.js';
import { startBrokerProcess } from './broker-process.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '1000000' },
    payload: { type: 'string', default: '64' },
    window: { type: 'string', default: '1000' },
  },
});
const COUNT = Number(values.count);
const PAYLOAD = Number(values.payload);
const WINDOW = Number(values.window);

type Mode = 'embedded' | 'memory';

async function startBroker(mode: Mode, dir: string): Promise<{ p: ChildProcess; port: number }> {
  const storage =
    mode === 'memory'
      ? 'storage: { type: memory }'
      : `storage: { type: embedded, dir: ${join(dir, 'data')}, durability: sync, memory_queue: 1000 }`;
  const cfg = join(dir, `${mode}.yaml`);
  writeFileSync(
    cfg,
    `listeners:\n  - { type: tcp, host: 127.0.0.1, port: 0 }\nlog: { level: warn }\nhttp: null\nsys_interval: 0\nmqtt: { max_queued_messages: 0, max_queued_bytes: 0, max_inflight: 1000 }\n${storage}\n`,
  );
  return startBrokerProcess(cfg);
}

function rssAnonMiB(pid: number): number {
  const m = /RssAnon:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** A raw MQTT 3.1.1 connection: sends packets, hands every received packet to `onPacket`. */
class Conn {
  private readonly decoder = new Decoder({ protocolVersion: 4 });
  private readonly inbox: Packet[] = [];
  constructor(
    readonly socket: Socket,
    onPacket: (p: Packet, c: Conn) => void,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      const err = this.decoder.feed(chunk, this.inbox);
      if (err) throw err;
      for (const p of this.inbox.splice(0)) onPacket(p, this);
    });
  }

  static async open(port: number, clientId: string, onPacket: (p: Packet, c: Conn) => void): Promise<Conn> {
    const s = connect({ host: '127.0.0.1', port });
    await once(s, 'connect');
    let connack: () => void = () => {};
    const acked = new Promise<void>((r) => {
      connack = r;
    });
    const c = new Conn(s, (p, conn) => (p.type === PacketType.Connack ? connack() : onPacket(p, conn)));
    c.send({
      type: PacketType.Connect,
      protocolName: 'MQTT',
      protocolVersion: 4,
      clean: false,
      keepAlive: 0,
      clientId,
    });
    await acked;
    return c;
  }

  send(p: Packet): void {
    this.socket.write(encode(p, 4));
  }

  async close(): Promise<void> {
    this.send({ type: PacketType.Disconnect, reasonCode: 0 });
    this.socket.end();
    await once(this.socket, 'close');
  }
}

/** Publishes COUNT QoS 1 messages (payload = 8-byte sequence number, padded) with WINDOW unacknowledged. */
async function publishAll(port: number): Promise<number> {
  const start = performance.now();
  let sent = 0;
  let acked = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => {
    done = r;
  });
  const pub: Conn = await Conn.open(port, 'bench-pub', (p) => {
    if (p.type !== PacketType.Puback) return;
    acked++;
    if (acked === COUNT) done();
    else pump();
  });
  const pump = (): void => {
    while (sent < COUNT && sent - acked < WINDOW) {
      const payload = Buffer.alloc(Math.max(8, PAYLOAD), 0x61);
      payload.writeDoubleBE(sent, 0);
      pub.send({
        type: PacketType.Publish,
        topic: 'queue/x',
        payload,
        qos: 1,
        retain: false,
        dup: false,
        packetId: (sent % 65535) + 1,
      });
      sent++;
    }
  };
  pump();
  await finished;
  await pub.close();
  return (performance.now() - start) / 1000;
}

/** Reconnects the subscriber and acknowledges everything until COUNT messages arrived; checks order. */
async function drain(port: number): Promise<{ seconds: number; ok: boolean }> {
  const start = performance.now();
  let next = 0;
  let ok = true;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => {
    done = r;
  });
  const sub = await Conn.open(port, 'bench-sub', (p, c) => {
    if (p.type !== PacketType.Publish) return;
    if (p.payload.readDoubleBE(0) !== next) ok = false;
    next++;
    c.send({ type: PacketType.Puback, packetId: p.packetId!, reasonCode: 0 });
    if (next === COUNT) done();
  });
  await finished;
  await sub.close();
  return { seconds: (performance.now() - start) / 1000, ok };
}

async function run(mode: Mode): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-bench-queue-'));
  let { p, port } = await startBroker(mode, dir);
  try {
    const sub = await Conn.open(port, 'bench-sub', () => {});
    sub.send({
      type: PacketType.Subscribe,
      packetId: 1,
      subscriptions: [
        { topicFilter: 'queue/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
    });
    await new Promise((r) => setTimeout(r, 100));
    await sub.close();
    const before = rssAnonMiB(p.pid!);
    const pubSeconds = await publishAll(port);
    await new Promise((r) => setTimeout(r, 500));
    const held = rssAnonMiB(p.pid!) - before;
    let restart = '';
    if (mode === 'embedded') {
      // Restart on the same store: start-up restores the queue's head only.
      p.kill('SIGTERM');
      await once(p, 'exit');
      const t0 = performance.now();
      ({ p, port } = await startBroker(mode, dir));
      restart = `; restarted in ${((performance.now() - t0) / 1000).toFixed(1)} s holding ${rssAnonMiB(p.pid!).toFixed(0)} MiB anonymous RSS`;
    }
    const { seconds, ok } = await drain(port);
    console.log(
      `${mode.padEnd(8)} ${COUNT} queued: +${held.toFixed(0)} MiB anonymous RSS (${((held * 1048576) / COUNT).toFixed(0)} B/message); ` +
        `queued at ${Math.round(COUNT / pubSeconds)} msg/s, drained at ${Math.round(COUNT / seconds)} msg/s; ` +
        `${ok ? 'all in order' : 'OUT OF ORDER OR MISSING'}${restart}`,
    );
  } finally {
    p.kill('SIGTERM');
    await once(p, 'exit');
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`queue bench: ${COUNT} QoS 1 messages of ${PAYLOAD} B to one offline persistent session`);
for (const mode of ['embedded', 'memory'] as Mode[]) await run(mode);
