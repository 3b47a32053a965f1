import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { startBroker } from '../helpers/broker.js';

const CLI = new URL('../../src/cli/petrel.ts', import.meta.url).pathname;

async function bench(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const p = spawn(process.execPath, ['--import', 'tsx', CLI, 'bench', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  p.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  p.stderr.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const [code] = (await once(p, 'close')) as [number | null];
  return { code, out, err };
}

describe('cli bench', { concurrency: 2 }, () => {
  it('bench fanin QoS 1 - every acknowledged message is delivered once; the JSON summary says so', {
    timeout: 90_000,
  }, async () => {
    await using b = await startBroker({ mqtt: { max_queued_messages: 100_000 } });
    const r = await bench([
      'fanin',
      '-h',
      '127.0.0.1',
      '-p',
      String(b.port),
      '-V',
      '311',
      '-q',
      '1',
      '-d',
      '1',
      '-c',
      '3',
      '--json',
    ]);
    assert.equal(r.code, 0, r.err + r.out);
    const s = JSON.parse(r.out.trim());
    assert.equal(s.scenario, 'fanin');
    assert.equal(s.publishers, 3);
    assert.ok(s.sent > 0, 'something was sent');
    assert.equal(s.received, s.sent);
    assert.equal(s.expected, s.sent);
    assert.equal(s.lost, 0);
    assert.equal(s.duplicates, 0);
    assert.ok(s.msgs_per_s > 0);
    assert.ok(s.latency_us.p50 > 0 && s.latency_us.p99 >= s.latency_us.p50);
    assert.equal(typeof s.generator_cpu_pct, 'number');
    assert.deepEqual(s.errors, []);
  });

  it('bench - a message the broker drops at QoS 1 is reported as lost, and the exit status is 1', {
    timeout: 90_000,
  }, async () => {
    await using b = await startBroker();
    // An authorization hook that drops every 10th PUBLISH (3.1.1: acknowledged, not delivered).
    let n = 0;
    b.broker.hooks.decide('client.authorize', (req) =>
      req.action === 'publish' && ++n % 10 === 0 ? { result: 'deny' } : { result: 'ignore' },
    );
    const r = await bench([
      'latency',
      '-h',
      '127.0.0.1',
      '-p',
      String(b.port),
      '-V',
      '311',
      '-q',
      '1',
      '-d',
      '1',
      '-r',
      '200',
      '--json',
    ]);
    assert.equal(r.code, 1, r.err + r.out);
    const s = JSON.parse(r.out.trim());
    assert.ok(s.lost >= 15 && s.lost <= 25, `lost ${s.lost} of ${s.sent}`);
    assert.match(s.errors.join('\n'), /QoS 1 message\(s\) lost/);
  });

  it('bench --warmup - messages of the warm-up are delivered and checked but not in the rate or the latencies', {
    timeout: 90_000,
  }, async () => {
    await using b = await startBroker();
    const r = await bench([
      'latency',
      '-h',
      '127.0.0.1',
      '-p',
      String(b.port),
      '-V',
      '5',
      '-q',
      '1',
      '-r',
      '200',
      '--warmup',
      '1',
      '-d',
      '1',
      '--json',
    ]);
    assert.equal(r.code, 0, r.err + r.out);
    const s = JSON.parse(r.out.trim());
    // 2 s at 200 msg/s were sent and all of them arrived; only the second second is measured.
    assert.ok(s.sent >= 350, `sent ${s.sent}`);
    assert.equal(s.received, s.sent);
    assert.equal(s.lost, 0);
    assert.ok(
      s.latency_us.count >= 150 && s.latency_us.count <= 250,
      `latency samples ${s.latency_us.count}`,
    );
    assert.ok(s.msgs_per_s >= 150 && s.msgs_per_s <= 250, `msgs/s ${s.msgs_per_s}`);
    assert.ok(s.duration_s >= 0.9 && s.duration_s < 1.5, `window ${s.duration_s} s`);
  });

  it('bench conn - connects -c clients and reports the connect rate; --mark-phases brackets the window on stderr; bad flags exit 2', {
    timeout: 90_000,
  }, async () => {
    await using b = await startBroker();
    const [r, bad] = await Promise.all([
      bench([
        'conn',
        '-h',
        '127.0.0.1',
        '-p',
        String(b.port),
        '-c',
        '50',
        '-d',
        '0.2',
        '--json',
        '--mark-phases',
      ]),
      bench(['nosuch']),
    ]);
    assert.equal(r.code, 0, r.err);
    const s = JSON.parse(r.out.trim());
    assert.equal(s.connect.connected, 50);
    assert.ok(s.connect.per_s > 0);
    // npm run bench samples the broker's memory between these lines (all connected … before the teardown).
    assert.deepEqual(r.err.match(/^phase: \w+$/gm), ['phase: window', 'phase: end']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /give a scenario: fanin, fanout, latency, wildcard, pub, sub, conn/);
  });
});
