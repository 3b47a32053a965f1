/**
 * npm run bench:persist — QoS 1 throughput to persistent sessions: `storage: memory` vs the embedded store
 * with `durability: sync` (every PUBACK waits for the commit), in one run, interleaved, medians, as a ratio.
 *
 * Each run starts a fresh broker process (the built CLI) and measures, for DURATION seconds, the rate at which
 * a persistent QoS 1 subscriber (Session Expiry 3600, acks everything) receives what PUBLISHERS publishers send
 * with a closed loop of WINDOW unacknowledged messages each.
 *
 *   npm run bench:persist -- [--runs 3] [--duration 5] [--publishers 4] [--window 64] [--payload 64]
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { startBrokerProcess } from './broker-process.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    publishers: { type: 'string', default: '4' },
    window: { type: 'string', default: '64' },
    payload: { type: 'string', default: '64' },
  },
});
const RUNS = Number(values.runs);
const DURATION = Number(values.duration) * 1000;
const PUBLISHERS = Number(values.publishers);
const WINDOW = Number(values.window);
const PAYLOAD = Buffer.alloc(Number(values.payload), 0x61);

type Mode = 'memory' | 'sync';

async function startBroker(mode: Mode, dir: string): Promise<{ p: ChildProcess; port: number }> {
  const storage =
    mode === 'memory'
      ? 'storage: { type: memory }'
      : `storage: { type: embedded, dir: ${join(dir, 'data')}, durability: sync }`;
  const cfg = join(dir, `${mode}.yaml`);
  writeFileSync(
    cfg,
    `listeners:\n  - { type: tcp, host: 127.0.0.1, port: 0 }\nlog: { level: info }\nhttp: null\nmqtt: { max_queued_messages: 0, max_inflight: 256 }\n${storage}\n`,
  );
  return startBrokerProcess(cfg);
}

function client(port: number, opts: mqtt.IClientOptions): Promise<MqttClient> {
  const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, ...opts });
  return new Promise((resolve, reject) => {
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

async function run(mode: Mode): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-bench-persist-'));
  const { p, port } = await startBroker(mode, dir);
  try {
    const sub = await client(port, {
      clientId: 'bench-sub',
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 3600 },
    });
    await sub.subscribeAsync('bench/#', { qos: 1 });
    let received = 0;
    sub.on('message', () => received++);
    const pubs = await Promise.all(
      Array.from({ length: PUBLISHERS }, (_, i) =>
        client(port, { clientId: `bench-pub-${i}`, protocolVersion: 4 }),
      ),
    );
    let running = true;
    const loops = pubs.map(async (c, i) => {
      let inflight = 0;
      await new Promise<void>((done) => {
        const pump = (): void => {
          while (running && inflight < WINDOW) {
            inflight++;
            c.publish(`bench/${i}`, PAYLOAD, { qos: 1 }, () => {
              inflight--;
              if (running) pump();
              else if (inflight === 0) done();
            });
          }
        };
        pump();
      });
    });
    await new Promise((r) => setTimeout(r, 1000)); // warm-up
    const start = received;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, DURATION));
    const rate = ((received - start) * 1000) / (performance.now() - t0);
    running = false;
    await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 3000))]);
    for (const c of [sub, ...pubs]) c.end(true);
    return rate;
  } finally {
    p.kill('SIGTERM');
    await once(p, 'exit');
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

const results: Record<Mode, number[]> = { memory: [], sync: [] };
for (let i = 0; i < RUNS; i++) {
  const order: Mode[] = i % 2 === 0 ? ['memory', 'sync'] : ['sync', 'memory'];
  for (const mode of order) {
    const r = await run(mode);
    results[mode].push(r);
    console.log(`run ${i + 1} ${mode.padEnd(6)} ${Math.round(r)} msg/s`);
  }
}
const mem = median(results.memory);
const sync = median(results.sync);
console.log(`memory median ${Math.round(mem)} msg/s, sync median ${Math.round(sync)} msg/s`);
console.log(`persistent QoS 1 sync/memory: ${(sync / mem).toFixed(2)}x`);
