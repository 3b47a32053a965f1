// `npm run bench`: Petrel vs Mosquitto vs Aedes on the same scenarios, interleaved, fresh brokers per run.
// Usage: npm run bench -- [--reps N] [--duration SECS] [--warmup SECS] [--only fanin-q0,latency,…] [--brokers petrel,mosquitto,aedes]
//                         [--petrel-node-args "--max-semi-space-size=1"]
//        [--conns N] [--json FILE]
// Needs `npm run build` (done by the npm script) and /usr/sbin/mosquitto.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { BenchSummary } from '../src/cli/bench/bench.js';

const root = new URL('..', import.meta.url).pathname;
const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    duration: { type: 'string', default: '2' },
    /** Seconds each message scenario publishes before its measured window (for every broker alike). */
    warmup: { type: 'string', default: '1' },
    only: { type: 'string' },
    brokers: { type: 'string', default: 'petrel,mosquitto,aedes' },
    conns: { type: 'string', default: '10000' },
    json: { type: 'string' },
    /** Extra Node.js options for the Petrel process, e.g. "--max-semi-space-size=1". */
    'petrel-node-args': { type: 'string', default: '' },
  },
});
const reps = Number(values.reps);
const duration = values.duration!;
const warmup = values.warmup!;
const conns = values.conns!;
const BROKERS = values.brokers!.split(',') as BrokerName[];
type BrokerName = 'petrel' | 'mosquitto' | 'aedes';

interface Scenario {
  name: string;
  args: string[];
  /** The figure compared: delivered msg/s, latency, connect rate or RSS per connection. */
  metric: 'msgs' | 'latency' | 'conn';
  /** Least measured seconds (more than --duration): a p99 needs enough samples not to be one hiccup. */
  minSeconds?: number;
  /** Warm-up seconds for this scenario instead of --warmup. */
  warmup?: number;
  /** Run only when named in --only (too long for every `npm run bench`). */
  optIn?: boolean;
}
const SCENARIOS: Scenario[] = [
  { name: 'fanin-q0', args: ['fanin', '-q', '0'], metric: 'msgs' },
  { name: 'fanin-q1', args: ['fanin', '-q', '1'], metric: 'msgs' },
  { name: 'fanin-q2', args: ['fanin', '-q', '2'], metric: 'msgs' },
  { name: 'fanout-q0', args: ['fanout', '-q', '0'], metric: 'msgs' },
  { name: 'fanout-q1', args: ['fanout', '-q', '1'], metric: 'msgs' },
  { name: 'wildcard-10k', args: ['wildcard', '-q', '0', '--filters', '10000'], metric: 'msgs' },
  // At 5,000 msg/s a JIT's hot path takes seconds of traffic to be compiled (Petrel's last per-read functions
  // reach the optimizing compiler ~3 s in: docs/benchmarks.md), so latency is measured after 3 s, and once cold.
  {
    name: 'latency-5k',
    args: ['latency', '-q', '0', '--rate', '5000'],
    metric: 'latency',
    minSeconds: 5,
    warmup: 3,
  },
  {
    name: 'latency-5k-cold',
    args: ['latency', '-q', '0', '--rate', '5000'],
    metric: 'latency',
    minSeconds: 5,
    warmup: 0,
  },
  { name: 'conn-idle', args: ['conn', '-c', conns, '--workers', '1'], metric: 'conn' },
  // The same clients held for 60 s: long enough for V8's memory reducer to give back the garbage collector's
  // headroom of the connect storm (it runs after ~35–50 s without traffic), so "at end" is the settled figure.
  {
    name: 'conn-idle-60',
    args: ['conn', '-c', conns, '--workers', '1'],
    metric: 'conn',
    minSeconds: 60,
    optIn: true,
  },
];
const chosen = values.only
  ? SCENARIOS.filter((s) => values.only!.split(',').includes(s.name))
  : SCENARIOS.filter((s) => !s.optIn);

async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  s.close();
  await once(s, 'close');
  return port;
}

async function waitPort(port: number, proc: ChildProcess): Promise<void> {
  const { connect } = await import('node:net');
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) throw new Error(`broker exited (${proc.exitCode}) before listening`);
    const ok = await new Promise<boolean>((r) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        r(true);
      });
      s.once('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`broker not listening on ${port}`);
}

const tmp = mkdtempSync(join(tmpdir(), 'petrel-bench-'));

/** Starts a fresh broker on a free port with the settings of docs/benchmarks.md. */
async function startBroker(name: BrokerName): Promise<{ proc: ChildProcess; port: number }> {
  const port = await freePort();
  let proc: ChildProcess;
  if (name === 'petrel') {
    const conf = join(tmp, `petrel-${port}.yaml`);
    writeFileSync(
      conf,
      [
        'listeners:',
        `  - { type: tcp, host: 127.0.0.1, port: ${port} }`,
        'log: { level: warn }',
        'http: null',
        'sys_interval: 0',
        'storage: { type: memory }',
        'mqtt: { max_inflight: 32, receive_maximum: 65535, max_queued_messages: 100000 }',
        // Mosquitto has no connection-rate or per-IP limit: off here too, or conn-idle's 10,000 CONNECTs from
        // 127.0.0.1 at ~6,000/s would meet Petrel's default 1000/s connection_rate.
        'limits: { connection_rate: 0, max_connections_per_ip: 0 }',
        '',
      ].join('\n'),
    );
    const nodeArgs = values['petrel-node-args']!.split(' ').filter((a) => a !== '');
    proc = spawn(
      process.execPath,
      [...nodeArgs, join(root, 'dist/cli/petrel.js'), 'start', '--config', conf],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
  } else if (name === 'mosquitto') {
    const conf = join(tmp, `mosquitto-${port}.conf`);
    writeFileSync(
      conf,
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence false',
        'max_queued_messages 100000',
        'max_inflight_messages 32',
        'set_tcp_nodelay true',
        'log_dest none',
        '',
      ].join('\n'),
    );
    proc = spawn('/usr/sbin/mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  } else {
    proc = spawn(process.execPath, [join(root, 'bench/aedes-server.mjs'), String(port)], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
  await waitPort(port, proc);
  return { proc, port };
}

async function stopBroker(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  const exited = once(proc, 'exit');
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

function rssKb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function cpuTicks(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime, in clock ticks (100/s)
  } catch {
    return 0;
  }
}

interface RunResult {
  summary: BenchSummary | undefined;
  /** Peak RSS over the broker's RSS before the run, per connection: from the first CONNECT to the end of the window. */
  rssPerConnKb: number;
  /** The same at the end of the window, when the clients have been idle for the whole window. */
  rssEndPerConnKb: number;
  brokerCpuPct: number;
  error?: string;
}

async function runOne(broker: BrokerName, sc: Scenario): Promise<RunResult> {
  const { proc, port } = await startBroker(broker);
  try {
    const pid = proc.pid!;
    const rss0 = rssKb(pid);
    const cpu0 = cpuTicks(pid);
    const t0 = performance.now();
    // Memory is the peak while the broker holds the clients: from the first CONNECT to the end of the window
    // (the bench marks it), so the connect storm counts and the teardown after it does not.
    let rssMax = rss0;
    let rssLast = rss0;
    let sampling = true;
    const sample = (): void => {
      if (!sampling) return;
      rssLast = rssKb(pid);
      rssMax = Math.max(rssMax, rssLast);
    };
    const poll = setInterval(sample, 100);
    const args = [
      join(root, 'dist/cli/petrel.js'),
      'bench',
      ...sc.args,
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-V',
      '311',
      '-d',
      String(Math.max(Number(duration), sc.minSeconds ?? 0)),
      ...(sc.metric === 'conn' ? [] : ['--warmup', String(sc.warmup ?? warmup)]),
      '--json',
      '--mark-phases',
    ];
    const b = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    b.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    b.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      // Looked for in everything read so far: a chunk boundary may split the line.
      if (sampling && err.includes('phase: end\n')) {
        sample();
        sampling = false;
      }
    });
    await once(b, 'close');
    clearInterval(poll);
    const secs = (performance.now() - t0) / 1000;
    const brokerCpuPct = Math.round(((cpuTicks(pid) - cpu0) / 100 / secs) * 100);
    let summary: BenchSummary | undefined;
    try {
      summary = JSON.parse(out.trim().split('\n').pop() ?? '') as BenchSummary;
    } catch {
      const reason = err.replace(/^phase: \w+\n/gm, '').trim();
      return {
        summary: undefined,
        rssPerConnKb: 0,
        rssEndPerConnKb: 0,
        brokerCpuPct,
        error: reason || 'no summary',
      };
    }
    const conns = summary.connect.connected;
    const perConn = (rss: number): number => (conns > 0 ? (rss - rss0) / conns : 0);
    return { summary, rssPerConnKb: perConn(rssMax), rssEndPerConnKb: perConn(rssLast), brokerCpuPct };
  } finally {
    await stopBroker(proc);
  }
}

const median = (xs: number[]): number => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const results = new Map<string, RunResult[]>(); // `${scenario}|${broker}`
const started = Date.now();
process.stderr.write(
  `petrel bench compare: ${chosen.length} scenarios × ${BROKERS.join('/')} × ${reps} reps, ${duration} s each (latency at least 5 s) after ${warmup} s of warm-up (latency-5k 3 s, latency-5k-cold none), MQTT 3.1.1\n`,
);
for (let r = 0; r < reps; r++) {
  for (const [si, sc] of chosen.entries()) {
    // Rotate the broker order per repetition and scenario so that no broker always runs first.
    const k = (r + si) % BROKERS.length;
    const order = [...BROKERS.slice(k), ...BROKERS.slice(0, k)];
    for (const broker of order) {
      const res = await runOne(broker, sc);
      const key = `${sc.name}|${broker}`;
      (results.get(key) ?? results.set(key, []).get(key)!).push(res);
      const s = res.summary;
      process.stderr.write(
        `rep ${r + 1} ${sc.name.padEnd(13)} ${broker.padEnd(9)} ` +
          (s
            ? sc.metric === 'msgs'
              ? `${s.msgs_per_s} msg/s lost ${s.lost} dup ${s.duplicates} gen ${s.generator_cpu_pct}% broker ${res.brokerCpuPct}%`
              : sc.metric === 'latency'
                ? `p50 ${s.latency_us.p50} µs p99 ${s.latency_us.p99} µs lost ${s.lost}`
                : `${s.connect.connected} conns ${s.connect.per_s}/s ${res.rssPerConnKb.toFixed(2)} KB/conn (at end ${res.rssEndPerConnKb.toFixed(2)})`
            : `FAILED: ${res.error}`) +
          `${s && s.errors.length > 0 ? ` [${s.errors[0]}]` : ''}\n`,
      );
    }
  }
}

// The table: medians per broker, ratios Petrel/Mosquitto and Petrel/Aedes, and losses over all reps.
interface Row {
  label: string;
  higherIsBetter: boolean;
  pick: (r: RunResult) => number | undefined;
}
const rowsFor = (sc: Scenario): Row[] =>
  sc.metric === 'msgs'
    ? [{ label: `${sc.name} msg/s`, higherIsBetter: true, pick: (r) => r.summary?.msgs_per_s }]
    : sc.metric === 'latency'
      ? [
          { label: `${sc.name} p50 µs`, higherIsBetter: false, pick: (r) => r.summary?.latency_us.p50 },
          { label: `${sc.name} p99 µs`, higherIsBetter: false, pick: (r) => r.summary?.latency_us.p99 },
        ]
      : [
          { label: `${sc.name} conn/s`, higherIsBetter: true, pick: (r) => r.summary?.connect.per_s },
          { label: `${sc.name} KB/conn`, higherIsBetter: false, pick: (r) => r.rssPerConnKb },
          { label: `${sc.name} KB/conn at end`, higherIsBetter: false, pick: (r) => r.rssEndPerConnKb },
        ];
const fmt = (n: number): string =>
  Number.isNaN(n) ? '—' : n >= 100 ? String(Math.round(n)) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
const header = ['scenario', ...BROKERS, 'P/M', 'P/A', 'lost (P/M/A)', 'gen CPU %'];
const table: string[][] = [];
const json: Record<string, unknown> = {};
for (const sc of chosen) {
  for (const row of rowsFor(sc)) {
    const med: Record<string, number> = {};
    const lost: string[] = [];
    const gen: number[] = [];
    for (const b of BROKERS) {
      const runs = results.get(`${sc.name}|${b}`) ?? [];
      med[b] = median(runs.map(row.pick).filter((x): x is number => x !== undefined));
      const failed = runs.filter((r) => r.summary === undefined).length;
      lost.push(
        `${runs.reduce((n, r) => n + (r.summary?.lost ?? 0), 0)}${failed ? `+${failed} failed` : ''}`,
      );
      gen.push(...runs.map((r) => r.summary?.generator_cpu_pct ?? 0));
    }
    const ratio = (other: BrokerName): string =>
      BROKERS.includes(other) && BROKERS.includes('petrel') ? fmt(med.petrel! / med[other]!) : '—';
    table.push([
      row.label,
      ...BROKERS.map((b) => fmt(med[b]!)),
      ratio('mosquitto'),
      ratio('aedes'),
      lost.join('/'),
      String(median(gen)),
    ]);
    json[row.label] = { medians: med, lost, higherIsBetter: row.higherIsBetter };
  }
}
const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
process.stdout.write(
  `\n${line(header)}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n${table.map(line).join('\n')}\n`,
);
process.stdout.write(
  `\n${reps} reps × ${duration} s (latency at least 5 s) after ${warmup} s of warm-up (latency-5k 3 s, latency-5k-cold none), medians; ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), Node ${process.version}; ` +
    `${Math.round((Date.now() - started) / 1000)} s in all. Ratios > 1 favour Petrel for rates, < 1 for latency and memory.\n`,
);
if (values.json)
  writeFileSync(values.json, JSON.stringify({ results: Object.fromEntries(results), table: json }, null, 2));
rmSync(tmp, { recursive: true, force: true });
