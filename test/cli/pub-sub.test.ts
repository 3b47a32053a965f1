import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { collect, startBroker } from '../helpers/broker.js';
import { freePort, hasMosquitto, Mosquitto } from '../helpers/mosquitto.js';

const CLI = new URL('../../src/cli/petrel.ts', import.meta.url).pathname;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) c.kill('SIGKILL');
});

function spawnCli(args: string[], stdin?: string): ChildProcess {
  const p = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (stdin !== undefined) p.stdin!.end(stdin);
  children.add(p);
  p.once('close', () => children.delete(p));
  return p;
}

async function finish(p: ChildProcess): Promise<Result> {
  let stdout = '';
  let stderr = '';
  p.stdout!.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  p.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const [code] = (await once(p, 'close')) as [number | null];
  return { code, stdout, stderr };
}

/** Runs a command to completion. */
function run(args: string[], stdin?: string): Promise<Result> {
  return finish(spawnCli(args, stdin));
}

/**
 * Starts `petrel sub -d …`; resolves once it says it has subscribed, with a promise of its result (wrapped:
 * an async function returning a promise would wait for it).
 */
async function subscribed(args: string[]): Promise<{ done: Promise<Result> }> {
  const p = spawnCli(['sub', '-d', ...args]);
  const result = finish(p);
  let err = '';
  await new Promise<void>((resolve, reject) => {
    p.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      if (err.includes('subscribed:')) resolve();
    });
    p.once('close', () => reject(new Error(`sub exited before subscribing: ${err}`)));
  });
  return { done: result };
}

const at = (port: number): string[] => ['-h', '127.0.0.1', '-p', String(port)];
// Each spawn of `node --import tsx` takes a second or more on a loaded machine: tests run concurrently,
// publish with mqtt.js where the subscriber is under test (and the reverse), and give -W generous room.
const T = { timeout: 90_000 };

describe('cli pub/sub against Petrel', { concurrency: 4 }, () => {
  it(
    'sub - QoS 0, 1 and 2 messages arrive in order; -v prints "topic payload"; exits 0 after -C',
    T,
    async () => {
      await using b = await startBroker();
      const { done: sub } = await subscribed([
        ...at(b.port),
        '-t',
        'cli/#',
        '-q',
        '2',
        '-v',
        '-C',
        '3',
        '-W',
        '60',
      ]);
      const c = await b.client();
      for (const qos of [0, 1, 2] as const) await c.publishAsync(`cli/q${qos}`, `m${qos}`, { qos });
      const r = await sub;
      assert.equal(r.code, 0, `${r.stderr}\nstdout: ${r.stdout}`);
      assert.equal(r.stdout, 'cli/q0 m0\ncli/q1 m1\ncli/q2 m2\n');
    },
  );

  it('pub - QoS 1 and QoS 2 over -L URLs, MQTT 5 properties from -D, -f file payloads', T, async () => {
    await using b = await startBroker();
    const c = await b.client({ protocolVersion: 5 });
    await c.subscribeAsync('p/#', { qos: 2 });
    const got = collect(c, 2, 60_000);
    const file = join(mkdtempSync(join(tmpdir(), 'petrel-pub-')), 'bin');
    writeFileSync(file, Buffer.from([0xff, 0x00, 0xfe]));
    const [r1, r2] = await Promise.all([
      run([
        'pub',
        '-L',
        `mqtt://127.0.0.1:${b.port}/p/text`,
        '-V',
        '5',
        '-q',
        '1',
        '-m',
        'héllo',
        '-D',
        'publish',
        'user-property',
        'k',
        'v',
        '-D',
        'publish',
        'content-type',
        'text/plain',
      ]),
      run(['pub', ...at(b.port), '-V', '5', '-t', 'p/bin', '-q', '2', '-f', file]),
    ]);
    assert.equal(r1.code, 0, r1.stderr);
    assert.equal(r2.code, 0, r2.stderr);
    const msgs = (await got).sort((x, y) => x.topic.localeCompare(y.topic));
    assert.deepEqual(msgs[0]!.payload, Buffer.from([0xff, 0x00, 0xfe]));
    assert.equal(msgs[0]!.packet.qos, 2);
    assert.equal(msgs[1]!.payload.toString(), 'héllo');
    assert.equal(msgs[1]!.packet.qos, 1);
    assert.equal(msgs[1]!.packet.properties?.contentType, 'text/plain');
    assert.deepEqual({ ...msgs[1]!.packet.properties?.userProperties }, { k: 'v' });
  });

  it(
    'sub --json - one JSON line per message: text or base64 payload, qos, retain, MQTT 5 properties',
    T,
    async () => {
      await using b = await startBroker();
      const { done: sub } = await subscribed([
        ...at(b.port),
        '-V',
        '5',
        '-t',
        'j/#',
        '-q',
        '1',
        '--json',
        '-C',
        '2',
        '-W',
        '60',
      ]);
      const c = await b.client({ protocolVersion: 5 });
      await c.publishAsync('j/text', 'héllo', {
        qos: 1,
        properties: { contentType: 'text/plain', userProperties: { k: 'v' } },
      });
      await c.publishAsync('j/bin', Buffer.from([0xff, 0x00, 0xfe]), { qos: 0 });
      const r = await sub;
      assert.equal(r.code, 0, `${r.stderr}\nstdout: ${r.stdout}`);
      const [a, d] = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.deepEqual(a, {
        topic: 'j/text',
        payload: 'héllo',
        qos: 1,
        retain: false,
        properties: { contentType: 'text/plain', userProperties: [['k', 'v']] },
      });
      assert.deepEqual(d, { topic: 'j/bin', payload: '/wD+', encoding: 'base64', qos: 0, retain: false });
    },
  );

  it('pub -l - every non-empty stdin line is one message, in order', T, async () => {
    await using b = await startBroker();
    const c = await b.client();
    await c.subscribeAsync('lines', { qos: 1 });
    const got = collect(c, 3, 60_000);
    const r = await run(['pub', ...at(b.port), '-t', 'lines', '-q', '1', '-l'], 'one\n\ntwo\nthree\n');
    assert.equal(r.code, 0, `${r.stderr}\nstdout: ${r.stdout}`);
    assert.deepEqual(
      (await got).map((m) => m.payload.toString()),
      ['one', 'two', 'three'],
    );
  });

  it(
    'sub --retained-only -F / -R - retained messages are printed (formatted) or skipped as asked',
    T,
    async () => {
      await using b = await startBroker();
      const c = await b.client();
      await c.publishAsync('ret/a', 'kept', { qos: 1, retain: true });
      const [only, live] = await Promise.all([
        run([
          'sub',
          ...at(b.port),
          '-t',
          'ret/#',
          '--retained-only',
          '-F',
          '%t|%p|%q|%r|%l',
          '-C',
          '1',
          '-W',
          '60',
        ]),
        (async () => {
          const { done: sub } = await subscribed([
            ...at(b.port),
            '-t',
            'ret/#',
            '-R',
            '-v',
            '-C',
            '1',
            '-W',
            '60',
          ]);
          await c.publishAsync('ret/b', 'live', { qos: 0 });
          return sub;
        })(),
      ]);
      assert.equal(only.code, 0, only.stderr);
      assert.equal(only.stdout, 'ret/a|kept|0|1|4\n');
      assert.equal(live.code, 0, live.stderr);
      assert.equal(live.stdout, 'ret/b live\n', 'the retained ret/a is not printed with -R');
    },
  );

  it('pub/sub - a refused CONNECT exits 1 naming the reason code (MQTT 5 and 3.1.1)', T, async () => {
    await using b = await startBroker();
    b.broker.hooks.decide('client.authenticate', (req) =>
      req.username === 'good' ? { result: 'allow' } : { result: 'deny', reasonCode: 0x86 },
    );
    const [v5, v3, ok] = await Promise.all([
      run(['pub', ...at(b.port), '-V', '5', '-u', 'bad', '-P', 'x', '-t', 't', '-m', 'm']),
      run(['sub', ...at(b.port), '-V', '311', '-u', 'bad', '-t', 't']),
      run(['pub', ...at(b.port), '-u', 'good', '-t', 't', '-m', 'm']),
    ]);
    assert.equal(v5.code, 1);
    assert.match(v5.stderr, /connection refused: Bad User Name or Password \(0x86\)/);
    assert.equal(v3.code, 1);
    assert.match(v3.stderr, /connection refused: Bad User Name or Password \(0x86\)/);
    assert.equal(ok.code, 0, ok.stderr);
  });

  it('pub/sub - a refused PUBLISH (PUBACK 0x87) or SUBSCRIBE exits 1 naming the reason code', T, async () => {
    await using b = await startBroker();
    b.broker.hooks.decide('client.authorize', (req) =>
      req.topic.startsWith('secret') ? { result: 'deny' } : { result: 'ignore' },
    );
    const [p, s] = await Promise.all([
      run(['pub', ...at(b.port), '-V', '5', '-q', '1', '-t', 'secret/x', '-m', 'm']),
      run(['sub', ...at(b.port), '-V', '5', '-t', 'secret/#', '-W', '60']),
    ]);
    assert.equal(p.code, 1);
    assert.match(p.stderr, /refused the message on "secret\/x": Not authorized \(0x87\)/);
    assert.equal(s.code, 1);
    assert.match(s.stderr, /subscription to "secret\/#" refused: Not authorized \(0x87\)/);
    assert.match(s.stderr, /every subscription was refused/);
  });

  it(
    'sub --will-topic - the broker publishes the will when the client dies without DISCONNECT',
    T,
    async () => {
      await using b = await startBroker();
      const c = await b.client();
      await c.subscribeAsync('wills/#', { qos: 1 });
      const got = collect(c, 1, 60_000);
      const p = spawnCli([
        'sub',
        '-d',
        ...at(b.port),
        '-t',
        'x',
        '--will-topic',
        'wills/a',
        '--will-payload',
        'gone',
      ]);
      let err = '';
      await new Promise<void>((resolve) =>
        p.stderr!.on('data', (chunk: Buffer) => {
          err += chunk.toString();
          if (err.includes('subscribed:')) resolve();
        }),
      );
      p.kill('SIGKILL');
      const [m] = await got;
      assert.equal(m!.topic, 'wills/a');
      assert.equal(m!.payload.toString(), 'gone');
    },
  );

  it('pub/sub - usage errors exit 2; no broker exits 1; -W exits 27', T, async () => {
    await using b = await startBroker();
    const port = await freePort();
    const [bad, noMsg, noId, none, timeout] = await Promise.all([
      run(['pub', '-t', 't', '-m', 'm', '-q', '3']),
      run(['pub', '-t', 't']),
      run(['sub', '-t', 't', '-c']),
      run(['pub', ...at(port), '-t', 't', '-m', 'm']),
      run(['sub', ...at(b.port), '-t', 'quiet', '-W', '1']),
    ]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /-q expects an integer from 0 to 2/);
    assert.equal(noMsg.code, 2);
    assert.match(noMsg.stderr, /one of -m, -f, -s, -l or -n/);
    assert.equal(noId.code, 2);
    assert.match(noId.stderr, /needs a client id/);
    assert.equal(none.code, 1);
    assert.match(none.stderr, new RegExp(`cannot connect to mqtt://127.0.0.1:${port}: connection refused`));
    assert.equal(timeout.code, 27);
    assert.match(timeout.stderr, /timed out after 1 s/);
  });
});

describe('cli pub/sub against Mosquitto', {
  concurrency: 3,
  skip: hasMosquitto ? false : 'needs /usr/sbin/mosquitto',
}, () => {
  for (const v of ['311', '5']) {
    it(`pub/sub - MQTT ${v}: QoS 1 and 2 through Mosquitto over TCP and WebSocket`, T, async () => {
      await using m = await Mosquitto.start({ websockets: true });
      const { done: sub } = await subscribed([
        ...at(m.port),
        '-V',
        v,
        '-t',
        'm/#',
        '-q',
        '2',
        '-v',
        '-C',
        '2',
        '-W',
        '60',
      ]);
      const [tcp, ws] = await Promise.all([
        run(['pub', ...at(m.port), '-V', v, '-t', 'm/tcp', '-m', 'a', '-q', '2']),
        run(['pub', '-L', `ws://127.0.0.1:${m.wsPort}/mqtt`, '-V', v, '-t', 'm/ws', '-m', 'b', '-q', '1']),
      ]);
      assert.equal(tcp.code, 0, tcp.stderr);
      assert.equal(ws.code, 0, ws.stderr);
      const r = await sub;
      assert.equal(r.code, 0, `${r.stderr}\nstdout: ${r.stdout}`);
      assert.deepEqual(r.stdout.trim().split('\n').sort(), ['m/tcp a', 'm/ws b']);
    });
  }

  it('pub/sub - Mosquitto without anonymous access refuses: exit 1, reason by name', T, async () => {
    await using m = await Mosquitto.start({ anonymous: false });
    const [v5, v3] = await Promise.all([
      run(['sub', ...at(m.port), '-V', '5', '-t', 't']),
      run(['pub', ...at(m.port), '-t', 't', '-m', 'x']),
    ]);
    assert.equal(v5.code, 1);
    assert.match(v5.stderr, /connection refused: Not authorized \(0x87\)/);
    assert.equal(v3.code, 1);
    assert.match(v3.stderr, /connection refused: Not authorized \(0x87\)/);
  });
});
