// `petrel bench`: an MQTT load generator with delivery checks, in the spirit of emqtt-bench.
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { ClientError, type ConnectOptions, parseBrokerUrl, type Scheme } from '../../client/index.js';
import type { ProtocolVersion, QoS } from '../../codec/index.js';
import { TopicTrie } from '../../topic/index.js';
import { Histogram } from './histogram.js';
import {
  CONNECTED,
  ERRORS,
  type FromWorker,
  RECEIVED,
  SENT,
  SLOTS,
  type SubReport,
  type WorkerInit,
} from './protocol.js';

export const BENCH_USAGE = `Usage: petrel bench SCENARIO [options]

Scenarios:
  fanin     N publishers → 1 subscriber (default 10 → 1, topic bench/%i, filter bench/#)
  fanout    1 publisher → N subscribers (default 1 → 100)
  latency   1 → 1 at a fixed rate (default 5,000 msg/s); report latency percentiles
  wildcard  10 publishers, 100 subscribers holding --filters filters (exact, + and #); each message
            matches one subscriber
  pub       -c publishers only (no delivery check)
  sub       -c subscribers only; counts what arrives from other publishers (petrel bench pub)
  conn      -c idle connections; connect rate

Options:
  -h, --host HOST  -p, --port PORT  -L, --url URL   as in petrel pub (mqtt://, mqtts://, ws://, wss://)
  -V, --protocol-version 31|311|5   (default 5)   -u USER  -P PASS  --insecure
  -c, --clients N          clients for pub / sub / conn (and subscribers for fanout, publishers for fanin)
  --publishers N  --subscribers N
  -q, --qos 0|1|2          (default 0)
  -s, --size BYTES         payload size, at least 16 (default 64)
  -t, --topic TOPIC        publish topic; %i = publisher index
  -f, --filter FILTER      subscription filter; %i = subscriber index
  --filters N              wildcard: total filters (default 10000)
  -r, --rate N             messages/s per publisher (0 = as fast as the closed loop allows)
  --max-outstanding N      closed loop: published but undelivered messages at most (default 10000)
  --inflight N             QoS 1/2 window per publisher (default 32)
  -d, --duration SECS      publishing time measured (default 10)
  --warmup SECS            publish this long first, unmeasured (default 0): a broker with a JIT (Petrel,
                           Aedes) runs its first messages through the interpreter and compiles the hot path
  --connect-rate N         connections per second (default: 200 handshakes at a time per worker)
  -w, --workers N          worker threads (default 2)
  --nap MS                 sleep after each event-loop turn that read something, so reads come in batches
                           (default 2; 0 with --rate, and at QoS 1/2 with fewer than 10 subscribers)
  --json                   print the summary as JSON
  --mark-phases            print "phase: window" when every client is connected and "phase: end" when the
                           publishing window ends, each on its own stderr line (for a harness that samples
                           the broker's memory while it holds the connections, as npm run bench does)
  --help

Every payload carries the publisher id, a sequence number and the send time. Losses at QoS ≥ 1 and
duplicates at QoS 2 are errors (exit status 1); the summary also counts reordering and the generator's
own CPU (above ~70% of a core the generator, not the broker, is the bottleneck).
`;

const SCENARIOS = ['fanin', 'fanout', 'latency', 'wildcard', 'pub', 'sub', 'conn'] as const;
type Scenario = (typeof SCENARIOS)[number];

export interface BenchSummary {
  scenario: Scenario;
  broker: string;
  protocol_version: ProtocolVersion;
  qos: QoS;
  payload_bytes: number;
  publishers: number;
  subscribers: number;
  duration_s: number;
  sent: number;
  expected: number;
  received: number;
  lost: number;
  duplicates: number;
  reordered: number;
  unacked: number;
  refused: number;
  sent_per_s: number;
  msgs_per_s: number;
  latency_us: { p50: number; p99: number; p999: number; max: number; count: number };
  connect: { clients: number; connected: number; per_s: number; ms: number };
  generator_cpu_pct: number;
  errors: string[];
}

class UsageError extends Error {}

function num(name: string, v: string | undefined, def: number, min = 0): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new UsageError(`${name} expects a number ≥ ${min}, got "${v}"`);
  return n;
}

/** Filters for the wildcard scenario: `total` across `subs` subscribers; subscriber s < pubs matches publisher s. */
function wildcardFilters(subs: number, pubs: number, total: number): string[][] {
  const per = Math.max(1, Math.ceil(total / subs));
  const out: string[][] = [];
  for (let s = 0; s < subs; s++) {
    const f: string[] = [];
    for (let k = 0; k < per; k++) {
      const idx = s * per + k;
      if (k === 0 && s < pubs) {
        f.push(s % 3 === 0 ? `w/d${s}/t/data` : s % 3 === 1 ? `w/d${s}/+/data` : `w/d${s}/#`);
      } else {
        f.push(idx % 3 === 0 ? `w/n${idx}/t/data` : idx % 3 === 1 ? `w/n${idx}/+/data` : `w/+/n${idx}/#`);
      }
    }
    out.push(f);
  }
  return out;
}

export async function bench(argv: string[]): Promise<void> {
  try {
    const summary = await runBench(argv);
    if (summary === undefined) return;
    const bad = summary.errors.length > 0;
    process.exitCode = bad ? 1 : 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`petrel bench: ${e.message}\nRun "petrel bench --help" for the flags.\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`petrel bench: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    }
  }
}

/** Parses flags, runs the scenario, prints the summary; undefined after --help. */
export async function runBench(argv: string[]): Promise<BenchSummary | undefined> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        host: { type: 'string', short: 'h' },
        port: { type: 'string', short: 'p' },
        url: { type: 'string', short: 'L' },
        'protocol-version': { type: 'string', short: 'V' },
        username: { type: 'string', short: 'u' },
        pw: { type: 'string', short: 'P' },
        insecure: { type: 'boolean' },
        clients: { type: 'string', short: 'c' },
        publishers: { type: 'string' },
        subscribers: { type: 'string' },
        qos: { type: 'string', short: 'q' },
        size: { type: 'string', short: 's' },
        topic: { type: 'string', short: 't' },
        filter: { type: 'string', short: 'f' },
        filters: { type: 'string' },
        rate: { type: 'string', short: 'r' },
        'max-outstanding': { type: 'string' },
        inflight: { type: 'string' },
        duration: { type: 'string', short: 'd' },
        warmup: { type: 'string' },
        'connect-rate': { type: 'string' },
        workers: { type: 'string', short: 'w' },
        nap: { type: 'string' },
        json: { type: 'boolean' },
        'mark-phases': { type: 'boolean' },
        help: { type: 'boolean' },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  const s = (k: string): string | undefined => v[k] as string | undefined;
  if (v.help) {
    process.stdout.write(BENCH_USAGE);
    return undefined;
  }
  const scenario = parsed.positionals[0] as Scenario;
  if (!SCENARIOS.includes(scenario)) {
    throw new UsageError(`give a scenario: ${SCENARIOS.join(', ')}${scenario ? ` (got "${scenario}")` : ''}`);
  }
  const vText = (s('protocol-version') ?? '5').replace(/^mqttv/, '');
  const version = ({ '31': 3, '311': 4, '5': 5 } as Record<string, ProtocolVersion>)[vText];
  if (version === undefined) throw new UsageError(`-V expects 31, 311 or 5, got "${vText}"`);
  let scheme: Scheme = 'mqtt';
  let host = s('host') ?? 'localhost';
  let port = s('port') !== undefined ? num('-p', s('port'), 1883, 1) : undefined;
  let path = '/mqtt';
  let username = s('username');
  let password = s('pw');
  if (s('url') !== undefined) {
    const u = parseBrokerUrl(s('url')!);
    ({ scheme, host, path } = u);
    port ??= u.port;
    username ??= u.username;
    password ??= u.password;
  }
  port ??= 1883;
  const connect: Omit<ConnectOptions, 'clientId'> = { scheme, host, port, path, version, keepAlive: 300 };
  if (username !== undefined) connect.username = username;
  if (password !== undefined) connect.password = Buffer.from(password);
  if (scheme === 'mqtts' || scheme === 'wss') connect.tls = { rejectUnauthorized: v.insecure !== true };

  const qos = num('-q', s('qos'), 0) as QoS;
  if (![0, 1, 2].includes(qos)) throw new UsageError(`-q expects 0, 1 or 2, got "${s('qos')}"`);
  const clients = s('clients') !== undefined ? num('-c', s('clients'), 1, 1) : undefined;
  let nPubs = 0;
  let nSubs = 0;
  let nIdle = 0;
  let rate = num('-r', s('rate'), 0);
  let topic = 'bench/%i';
  let filter = 'bench/#';
  switch (scenario) {
    case 'fanin':
      nPubs = clients ?? 10;
      nSubs = 1;
      break;
    case 'fanout':
      nPubs = 1;
      nSubs = clients ?? 100;
      topic = 'bench/0';
      break;
    case 'latency':
      nPubs = 1;
      nSubs = 1;
      if (s('rate') === undefined) rate = 5000;
      break;
    case 'wildcard':
      nPubs = 10;
      nSubs = 100;
      topic = 'w/d%i/t/data';
      break;
    case 'pub':
      nPubs = clients ?? 10;
      break;
    case 'sub':
      nSubs = clients ?? 10;
      break;
    case 'conn':
      nIdle = clients ?? 1000;
      break;
  }
  nPubs = num('--publishers', s('publishers'), nPubs);
  nSubs = num('--subscribers', s('subscribers'), nSubs);
  topic = s('topic') ?? topic;
  filter = s('filter') ?? filter;
  const size = num('-s', s('size'), 64, 16);
  const duration = num('-d', s('duration'), 10);
  const warmup = num('--warmup', s('warmup'), 0);
  const nWorkers = Math.max(1, num('-w', s('workers'), 2, 1));
  // A nap lengthens every round trip: at QoS 1/2 with few subscribers their in-flight windows bound the rate,
  // so only fan-out shapes nap there.
  const napMs = num('--nap', s('nap'), rate > 0 || (qos > 0 && nSubs < 10) ? 0 : 2);
  const filterSets =
    scenario === 'wildcard'
      ? wildcardFilters(nSubs, nPubs, num('--filters', s('filters'), 10_000, 1))
      : Array.from({ length: nSubs }, (_, i) => [filter.replaceAll('%i', String(i))]);
  const pubTopics = Array.from({ length: nPubs }, (_, i) => topic.replaceAll('%i', String(i)));

  // Which subscriber receives which publisher (one copy per subscriber however many filters match).
  const trie = new TopicTrie<number, true>();
  filterSets.forEach((fs, sub) => {
    for (const f of fs) trie.add(f, sub, true);
  });
  const receivers = pubTopics.map((t) => {
    const set = new Set<number>();
    trie.match(t, (sub: number) => {
      set.add(sub);
    });
    return set;
  });
  const fanout = nPubs > 0 ? receivers.reduce((n, r) => n + r.size, 0) / nPubs : 0;

  const counters = new SharedArrayBuffer(nWorkers * SLOTS * 4);
  const view = new Int32Array(counters);
  const total = (slot: number): number => {
    let n = 0;
    for (let w = 0; w < nWorkers; w++) n += Atomics.load(view, w * SLOTS + slot);
    return n;
  };
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const workerUrl = new URL(`./worker${ext}`, import.meta.url);
  // Short (≤ 23 characters with the suffix) so that MQTT 3.1 and Aedes' default limit accept it.
  const prefix = `pb${(Date.now() % 60_466_176).toString(36)}`;
  const workers = Array.from({ length: nWorkers }, (_, w) => {
    const init: WorkerInit = {
      index: w,
      workers: nWorkers,
      connect,
      clientPrefix: prefix,
      // Publishers from the first worker on, subscribers from the last one back: fan-in's busy
      // subscriber and its publishers do not share a thread when there are two.
      pubs: pubTopics.map((t, i) => ({ id: i, topic: t })).filter((_, i) => i % nWorkers === w),
      subs: filterSets
        .map((filters, i) => ({ id: i, filters }))
        .filter((_, i) => nWorkers - 1 - (i % nWorkers) === w),
      idle: Array.from({ length: nIdle }, (_, i) => i).filter((i) => i % nWorkers === w),
      qos,
      payloadSize: size,
      rate,
      napMs,
      maxOutstanding: num('--max-outstanding', s('max-outstanding'), 10_000),
      fanout,
      inflight: num('--inflight', s('inflight'), 32, 1),
      connectConcurrency: 200,
      connectRate: num('--connect-rate', s('connect-rate'), 0) / nWorkers,
      counters,
    };
    if (ext === '.js') return new Worker(workerUrl, { workerData: init });
    // Running from source (tsx): the worker thread registers tsx itself before loading worker.ts.
    const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(workerUrl.href)}); })`;
    return new Worker(boot, { eval: true, workerData: init });
  });
  const inbox = workers.map(() => [] as FromWorker[]);
  const waiters: (() => void)[] = [];
  let failed: Error | undefined;
  workers.forEach((w, i) => {
    w.on('message', (m: FromWorker) => {
      inbox[i]!.push(m);
      for (const f of waiters.splice(0)) f();
    });
    w.on('error', (e) => {
      failed ??= new Error(`worker ${i} failed: ${e.message}`);
      for (const f of waiters.splice(0)) f();
    });
  });
  async function all<T extends FromWorker['type']>(type: T): Promise<Extract<FromWorker, { type: T }>[]> {
    for (;;) {
      if (failed) throw failed;
      const got = inbox.map((q) => q.find((m) => m.type === type));
      if (got.every((m) => m !== undefined)) {
        inbox.forEach((q, i) => {
          q.splice(q.indexOf(got[i]!), 1);
        });
        return got as Extract<FromWorker, { type: T }>[];
      }
      await new Promise<void>((r) => waiters.push(r));
    }
  }

  const tty = process.stderr.isTTY && !v.json;
  const errors: string[] = [];
  try {
    const ready = await all('ready');
    const nClients = nPubs + nSubs + nIdle;
    const connected = ready.reduce((n, r) => n + r.connected, 0);
    for (const r of ready) errors.push(...r.errors);
    const first = Math.min(...ready.map((r) => r.firstMs).filter((x) => x > 0));
    const last = Math.max(...ready.map((r) => r.lastMs));
    const connectMs = Number.isFinite(first) && last > first ? last - first : 0;
    if (connected < nClients && errors.length === 0)
      errors.push(`${nClients - connected} client(s) did not connect`);

    // Publish for `duration`; count what arrives inside the window.
    const marks = v['mark-phases'] === true;
    if (marks) process.stderr.write('phase: window\n');
    const recvBefore = total(RECEIVED);
    for (const w of workers) w.postMessage({ type: 'start' });
    if (warmup > 0) {
      await new Promise((r) => setTimeout(r, warmup * 1000));
      for (const w of workers) w.postMessage({ type: 'measure' });
    }
    const cpuStart = process.cpuUsage();
    const t0 = performance.now();
    const recv0 = total(RECEIVED);
    const sent0 = total(SENT);
    let lastLine = { t: t0, sent: sent0, recv: recv0 };
    const progress = setInterval(() => {
      const now = performance.now();
      const sent = total(SENT);
      const recv = total(RECEIVED);
      const dt = (now - lastLine.t) / 1000;
      if (tty) {
        process.stderr.write(
          `\r${((now - t0) / 1000).toFixed(0)}s sent ${sent} (${Math.round((sent - lastLine.sent) / dt)}/s) received ${recv} (${Math.round((recv - lastLine.recv) / dt)}/s) connected ${total(CONNECTED)} errors ${total(ERRORS)}   `,
        );
      }
      lastLine = { t: now, sent, recv };
    }, 1000);
    await new Promise((r) => setTimeout(r, duration * 1000));
    const t1 = performance.now();
    const recv1 = total(RECEIVED);
    const sent1 = total(SENT);
    const cpuEnd = process.cpuUsage(cpuStart);
    if (marks) process.stderr.write('phase: end\n');
    for (const w of workers) w.postMessage({ type: 'stop' });
    const stopped = await all('stopped');
    // Drain: wait until everything expected has arrived, or nothing more arrives for 2 s (10 s at most).
    const sent: Record<number, number> = {};
    for (const st of stopped) Object.assign(sent, st.sent);
    const expected = pubTopics.reduce((n, _t, i) => n + (sent[i] ?? 0) * receivers[i]!.size, 0);
    const drainEnd = performance.now() + 10_000;
    let prev = -1;
    let still = performance.now();
    while (
      nSubs > 0 &&
      nPubs > 0 &&
      total(RECEIVED) - recvBefore < expected &&
      performance.now() < drainEnd
    ) {
      const r = total(RECEIVED);
      if (r !== prev) {
        prev = r;
        still = performance.now();
      } else if (performance.now() - still > 2000) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    clearInterval(progress);
    if (tty) process.stderr.write('\n');
    for (const w of workers) w.postMessage({ type: 'report' });
    const reports = await all('report');
    const hist = new Histogram();
    const subReports: SubReport[] = [];
    for (const r of reports) {
      hist.merge(r.counts, r.max);
      subReports.push(...r.subs);
      for (const e of r.errors) if (!errors.includes(e)) errors.push(e);
    }
    let lost = 0;
    let duplicates = 0;
    let reordered = 0;
    let received = 0;
    for (const r of subReports) {
      duplicates += r.duplicates;
      reordered += r.reordered;
      for (const d of Object.values(r.distinct)) received += d;
    }
    if (nPubs > 0) {
      const bySub = new Map(subReports.map((r) => [r.id, r]));
      pubTopics.forEach((_t, p) => {
        for (const sub of receivers[p]!)
          lost += Math.max(0, (sent[p] ?? 0) - (bySub.get(sub)?.distinct[p] ?? 0));
      });
    }
    const unacked = stopped.reduce((n, st) => n + st.unacked, 0);
    const refused = stopped.reduce((n, st) => n + st.refused, 0);
    if (qos > 0 && lost > 0)
      errors.unshift(`${lost} QoS ${qos} message(s) lost (acknowledged by the broker, never delivered)`);
    if (qos === 2 && duplicates > 0) errors.unshift(`${duplicates} QoS 2 duplicate(s) delivered`);
    if (unacked > 0) errors.unshift(`${unacked} message(s) never acknowledged`);
    if (refused > 0) errors.unshift(`${refused} message(s) refused or dropped by the broker`);
    const window = (t1 - t0) / 1000;
    const summary: BenchSummary = {
      scenario,
      broker: `${scheme}://${host}:${port}`,
      protocol_version: version,
      qos,
      payload_bytes: size,
      publishers: nPubs,
      subscribers: nSubs,
      duration_s: Number(window.toFixed(3)),
      sent: Object.values(sent).reduce((a, b) => a + b, 0),
      expected,
      received,
      lost,
      duplicates,
      reordered,
      unacked,
      refused,
      sent_per_s: Math.round((sent1 - sent0) / window),
      msgs_per_s: Math.round((recv1 - recv0) / window),
      latency_us: {
        p50: Math.round(hist.quantile(0.5)),
        p99: Math.round(hist.quantile(0.99)),
        p999: Math.round(hist.quantile(0.999)),
        max: Math.round(hist.max),
        count: hist.count,
      },
      connect: {
        clients: nClients,
        connected,
        per_s: connectMs > 0 ? Math.round((connected / connectMs) * 1000) : 0,
        ms: Math.round(connectMs),
      },
      generator_cpu_pct: Math.round(((cpuEnd.user + cpuEnd.system) / 1000 / (t1 - t0)) * 100),
      errors,
    };
    if (v.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else process.stdout.write(text(summary));
    return summary;
  } finally {
    for (const w of workers) w.postMessage({ type: 'close' });
    await Promise.race([all('closed').catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

function text(s: BenchSummary): string {
  const l = s.latency_us;
  const lines = [
    `${s.scenario} on ${s.broker} (MQTT ${s.protocol_version === 4 ? '3.1.1' : s.protocol_version === 3 ? '3.1' : '5'}, QoS ${s.qos}, ${s.payload_bytes} B): ${s.publishers} publisher(s), ${s.subscribers} subscriber(s), ${s.duration_s} s`,
    `  connected ${s.connect.connected}/${s.connect.clients} in ${s.connect.ms} ms (${s.connect.per_s}/s)`,
    `  sent ${s.sent} (${s.sent_per_s}/s), received ${s.received} of ${s.expected} (${s.msgs_per_s}/s)`,
    `  lost ${s.lost}, duplicates ${s.duplicates}, reordered ${s.reordered}, unacked ${s.unacked}`,
    `  latency µs: p50 ${l.p50}, p99 ${l.p99}, p99.9 ${l.p999}, max ${l.max} (${l.count} samples)`,
    `  generator CPU ${s.generator_cpu_pct}% of one core${s.generator_cpu_pct > 70 ? ' (above 70%: the generator may be the bottleneck)' : ''}`,
    ...s.errors.map((e) => `  error: ${e}`),
  ];
  return `${lines.join('\n')}\n`;
}

export { ClientError };
