import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { PacketType, type PublishPacket } from '../../src/codec/index.js';
import { connectPacket, RawClient } from '../helpers/broker.js';
import { tempDir } from '../helpers/tmp.js';

const CLI = new URL('../../src/cli/petrel.ts', import.meta.url).pathname;
const dataDir = (): string => tempDir('petrel-crash-');

/** A broker process with the embedded store in `dir`; resolves with its port once it listens. */
async function startProcess(dir: string, extra = ''): Promise<{ p: ChildProcess; port: number }> {
  const cfg = join(dir, 'petrel.yaml');
  writeFileSync(
    cfg,
    `listeners:\n  - { type: tcp, host: 127.0.0.1, port: 0 }\nlog:\n  level: info\nhttp: null\n${extra.includes('mqtt:') ? '' : 'mqtt:\n  max_queued_messages: 20000\n'}storage:\n  type: embedded\n  dir: ${join(dir, 'data')}\n  durability: sync\n${extra}`,
  );
  const p = spawn(process.execPath, ['--import', 'tsx', CLI, 'start', '--config', cfg], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  p.stderr!.on('data', (c: Buffer) => {
    err += c.toString();
  });
  for await (const chunk of p.stdout!) {
    out += chunk.toString();
    const m = /"port":(\d+),"msg":"listening on tcp/.exec(out);
    if (m) {
      p.stdout!.resume();
      return { p, port: Number(m[1]) };
    }
  }
  throw new Error(`broker exited before listening: ${out}\n${err}`);
}

async function kill9(p: ChildProcess): Promise<void> {
  const exited = once(p, 'exit');
  p.kill('SIGKILL');
  await exited;
}

function connectClient(port: number, opts: mqtt.IClientOptions): MqttClient {
  return mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
}

async function connected(c: MqttClient): Promise<void> {
  if (c.connected) return;
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
  });
}

/** Streams `count` messages at `qos`, killing the broker after `killAfter` acknowledgements. */
async function streamAndKill(port: number, p: ChildProcess, qos: 1 | 2, count: number, killAfter: number) {
  const pub = connectClient(port, { clientId: `pub-${qos}`, protocolVersion: 4 });
  await connected(pub);
  const acked = new Set<number>();
  let killed: Promise<void> | undefined;
  await new Promise<void>((resolve) => {
    for (let i = 0; i < count; i++) {
      pub.publish('crash/x', String(i), { qos }, (err) => {
        if (err) return;
        acked.add(i);
        if (acked.size === killAfter && killed === undefined) {
          killed = kill9(p);
          void killed.then(() => resolve());
        }
        if (acked.size === count) resolve();
      });
    }
  });
  await killed;
  pub.end(true);
  return acked;
}

/**
 * Reconnects a persistent subscriber and collects payloads until every one of `expected` arrived, or until no
 * message came for 2 s (then the caller's assertions say what is missing).
 */
async function drain(port: number, clientId: string, expected: Set<number>): Promise<number[]> {
  const got: number[] = [];
  const missing = new Set(expected);
  const c = connectClient(port, {
    clientId,
    clean: false,
    protocolVersion: 5,
    properties: { sessionExpiryInterval: 3600 },
  });
  await new Promise<void>((resolve, reject) => {
    c.once('error', reject);
    let quiet = setTimeout(resolve, 2000);
    c.on('message', (_t, payload) => {
      const n = Number(payload.toString());
      got.push(n);
      missing.delete(n);
      clearTimeout(quiet);
      if (missing.size === 0) resolve();
      else quiet = setTimeout(resolve, 2000);
    });
  });
  c.end(true);
  return got;
}

async function persistentSubscriber(port: number, clientId: string, qos: 1 | 2): Promise<void> {
  const c = connectClient(port, {
    clientId,
    clean: false,
    protocolVersion: 5,
    properties: { sessionExpiryInterval: 3600 },
  });
  await connected(c);
  await c.subscribeAsync('crash/#', { qos });
  await c.endAsync();
}

describe('durable storage - kill -9 and restart', () => {
  it('crash - every QoS 1 message the publisher got PUBACK for reaches the offline persistent subscriber', async () => {
    const dir = dataDir();
    const a = await startProcess(dir);
    await persistentSubscriber(a.port, 'sub1', 1);
    const acked = await streamAndKill(a.port, a.p, 1, 10_000, 3_000);
    assert.ok(acked.size >= 3_000);
    const b = await startProcess(dir);
    try {
      const got = await drain(b.port, 'sub1', acked);
      const missing = [...acked].filter((i) => !got.includes(i));
      assert.equal(
        missing.length,
        0,
        `${missing.length} acknowledged messages lost, e.g. ${missing.slice(0, 5)}`,
      );
    } finally {
      await kill9(b.p);
    }
  });

  it('crash - QoS 2: none lost, none duplicated', async () => {
    const dir = dataDir();
    const a = await startProcess(dir);
    await persistentSubscriber(a.port, 'sub2', 2);
    const acked = await streamAndKill(a.port, a.p, 2, 5_000, 1_500);
    const b = await startProcess(dir);
    try {
      const got = await drain(b.port, 'sub2', acked);
      const missing = [...acked].filter((i) => !got.includes(i));
      assert.equal(missing.length, 0, `${missing.length} acknowledged QoS 2 messages lost`);
      assert.equal(new Set(got).size, got.length, 'a QoS 2 message was delivered twice');
    } finally {
      await kill9(b.p);
    }
  });

  it('crash - in-flight messages unacknowledged at the crash are resent with DUP=1 [MQTT-4.4.0-1]', async () => {
    const dir = dataDir();
    const a = await startProcess(dir, 'mqtt:\n  max_inflight: 5\n');
    const r = await RawClient.connect(a.port, 4);
    r.send(connectPacket(4, { clientId: 'lazy', clean: false }));
    assert.equal((await r.next()).type, PacketType.Connack);
    r.send({
      type: PacketType.Subscribe,
      packetId: 1,
      subscriptions: [
        { topicFilter: 'crash/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
    });
    assert.equal((await r.next()).type, PacketType.Suback);
    const pub = connectClient(a.port, { clientId: 'p3', protocolVersion: 4 });
    await connected(pub);
    for (let i = 0; i < 8; i++) await pub.publishAsync('crash/x', `m${i}`, { qos: 1 });
    const first: PublishPacket[] = [];
    for (let i = 0; i < 5; i++) first.push((await r.next()) as PublishPacket);
    pub.end(true);
    r.destroy();
    await kill9(a.p);
    const b = await startProcess(dir);
    try {
      const r2 = await RawClient.connect(b.port, 4);
      r2.send(connectPacket(4, { clientId: 'lazy', clean: false }));
      const ack = await r2.next();
      assert.deepEqual(ack, { type: PacketType.Connack, sessionPresent: true, reasonCode: 0 });
      const again: PublishPacket[] = [];
      for (let i = 0; i < 5; i++) again.push((await r2.next()) as PublishPacket);
      assert.deepEqual(
        again.map((p) => [p.packetId, p.payload.toString(), p.dup]),
        first.map((p) => [p.packetId, p.payload.toString(), true]),
      );
      // Acknowledging them lets the three queued ones follow.
      for (const p of again) r2.send({ type: PacketType.Puback, packetId: p.packetId!, reasonCode: 0 });
      const rest: string[] = [];
      for (let i = 0; i < 3; i++) rest.push(((await r2.next()) as PublishPacket).payload.toString());
      assert.deepEqual(rest, ['m5', 'm6', 'm7']);
      r2.destroy();
    } finally {
      await kill9(b.p);
    }
  });

  it('crash - retained messages and subscriptions survive; session expiry counts the downtime', async () => {
    const dir = dataDir();
    const a = await startProcess(dir);
    const pub = connectClient(a.port, { clientId: 'p4', protocolVersion: 5 });
    await connected(pub);
    await pub.publishAsync('keep/a', 'retained A', { qos: 1, retain: true });
    await pub.publishAsync('keep/b', 'retained B', { qos: 1, retain: true });
    await pub.publishAsync('keep/b', '', { qos: 1, retain: true });
    pub.end(true);
    await persistentSubscriber(a.port, 'sub4', 1);
    const short = connectClient(a.port, {
      clientId: 'short',
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 1 },
    });
    await connected(short);
    await short.subscribeAsync('x/#', { qos: 1 });
    await short.endAsync();
    const leftAt = Date.now();
    // A latch for the disconnect time being durable (a crash before it would count the session as connected):
    // with durability sync a PUBACK waits for the commit of every write made before its PUBLISH was handled.
    const latch = connectClient(a.port, { clientId: 'latch', protocolVersion: 5 });
    await connected(latch);
    await latch.publishAsync('latch/x', 'x', { qos: 1 });
    await kill9(a.p);
    // What is checked here is that wall-clock time spent down counts: the 1 s session must expire while the
    // broker is down, so wait out what is left of its second (real time: the broker is another process).
    const left = leftAt + 1100 - Date.now();
    if (left > 0) await new Promise((r) => setTimeout(r, left));
    const b = await startProcess(dir);
    try {
      const c = connectClient(b.port, { clientId: 'fresh', protocolVersion: 5 });
      await connected(c);
      const got: string[] = [];
      // The client's own message after SUBSCRIBE is a latch: retained messages are sent before it.
      const marker = new Promise<void>((resolve) => {
        c.on('message', (t, p, packet) => {
          if (t === 'keep/marker') resolve();
          else got.push(`${t}=${p.toString()}:${packet.retain}`);
        });
      });
      await c.subscribeAsync('keep/#', { qos: 1 });
      await c.publishAsync('keep/marker', 'm', { qos: 1 });
      await marker;
      assert.deepEqual(got, ['keep/a=retained A:true']);
      // The persistent subscriber's subscription is still there: a new message reaches its session.
      await c.publishAsync('crash/after', '42', { qos: 1 });
      const drained = await drain(b.port, 'sub4', new Set([42]));
      assert.deepEqual(drained, [42]);
      // The 1 s session expired while the broker was down.
      const s = connectClient(b.port, {
        clientId: 'short',
        clean: false,
        protocolVersion: 5,
        properties: { sessionExpiryInterval: 1 },
      });
      const connack = await new Promise<{ sessionPresent: boolean }>((resolve) => s.once('connect', resolve));
      assert.equal(connack.sessionPresent, false);
      s.end(true);
      c.end(true);
    } finally {
      await kill9(b.p);
    }
  });

  it('crash - a corrupt store stops start-up with a clear message instead of starting empty', async () => {
    const dir = dataDir();
    const a = await startProcess(dir);
    await persistentSubscriber(a.port, 'sub5', 1);
    await kill9(a.p);
    writeFileSync(join(dir, 'data', 'petrel.mdb'), Buffer.alloc(64 * 1024, 0x5a));
    const p = spawn(
      process.execPath,
      ['--import', 'tsx', CLI, 'start', '--config', join(dir, 'petrel.yaml')],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let err = '';
    p.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
    });
    const [code] = await once(p, 'exit');
    assert.equal(code, 1);
    assert.match(err, /cannot open storage/);
  });
});
