import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PacketType, type ProtocolVersion } from '../../src/codec/index.js';
import { defaultConfig } from '../../src/config/index.js';
import { connectPacket, type RawClient, startBroker, type TestBroker } from '../helpers/broker.js';
import { connackCode, connected, disconnected, expectPacket, opt, subscribe } from '../helpers/raw.js';
import { security } from '../helpers/security.js';

/** CONNECT; the connection stays open (per-IP limits count it). Returns the CONNACK reason code. */
const connack = (b: TestBroker, v: ProtocolVersion, clientId: string, username?: string) =>
  connackCode(b, v, { clientId, username });

describe('limits - connections', () => {
  test('limits - connections: bans by client id, username and CIDR get CONNACK 0x8A (v5) / 5 (3.1.1); expired bans do not', async () => {
    await using b = await startBroker(
      security(`bans:
  - { clientid: evil }
  - { username: mallory }
  - { ip: 127.0.0.0/8, until: "2000-01-01T00:00:00Z" }
`),
    );
    assert.equal(await connack(b, 5, 'evil'), 0x8a);
    assert.equal(await connack(b, 5, 'x', 'mallory'), 0x8a);
    assert.equal(await connack(b, 4, 'evil'), 0x87);
    assert.equal(await connack(b, 5, 'fine'), 0);
    await using b2 = await startBroker(security('bans:\n  - { ip: 127.0.0.1/32 }\n'));
    assert.equal(await connack(b2, 5, 'any'), 0x8a);
  });

  test('limits - connections: flapping (N CONNECTs in the window) bans the client id', async () => {
    await using b = await startBroker(security('limits:\n  flapping_connects: 3\n  flapping_ban_s: 60\n'));
    assert.equal(await connack(b, 5, 'flap'), 0);
    assert.equal(await connack(b, 5, 'flap'), 0);
    assert.equal(await connack(b, 5, 'flap'), 0x8a);
    assert.equal(await connack(b, 5, 'flap'), 0x8a);
    assert.equal(await connack(b, 5, 'other'), 0);
  });

  test('limits - connections: per-IP maximum (0x97) and per-listener connection rate (0x9F)', async () => {
    await using b = await startBroker(
      security('limits:\n  max_connections_per_ip: 2\n  per_ip_exempt: []\n'),
    );
    await connected(b, 5, 'a');
    await connected(b, 5, 'b');
    assert.equal(await connack(b, 5, 'c'), 0x97);
    await using b2 = await startBroker(security('limits:\n  connection_rate: 0.01\n  connection_burst: 2\n'));
    assert.equal(await connack(b2, 5, 'a'), 0);
    assert.equal(await connack(b2, 5, 'b'), 0);
    assert.equal(await connack(b2, 5, 'c'), 0x9f);
  });
});

/** A PROXY v1 listener on 127.0.0.1 port 0: each test connection says which client address it stands for. */
const PROXY_LISTENER = [
  { type: 'tcp' as const, host: '127.0.0.1', port: 0, max_connections: 0, proxy_protocol: true },
];

/**
 * Opens `n` raw clients (in batches, so the listen backlog never overflows), each sending a PROXY v1 header from
 * `from` first when given.
 */
async function openClients(
  b: TestBroker,
  n: number,
  from?: string,
  v: ProtocolVersion = 5,
): Promise<RawClient[]> {
  const out: RawClient[] = [];
  while (out.length < n) {
    const batch = Math.min(200, n - out.length);
    out.push(...(await Promise.all(Array.from({ length: batch }, () => b.raw(v)))));
  }
  if (from !== undefined) {
    const fam = from.includes(':') ? 'TCP6' : 'TCP4';
    const dst = fam === 'TCP6' ? '::1' : '127.0.0.1';
    for (const r of out) r.write(Buffer.from(`PROXY ${fam} ${from} ${dst} 40000 1883\r\n`));
  }
  return out;
}

/** Sends CONNECT on each client at once and returns every CONNACK reason code, in order. */
async function connectAll(clients: RawClient[], prefix: string): Promise<number[]> {
  for (const [i, r] of clients.entries()) r.send(connectPacket(5, { clientId: `${prefix}-${i}` }));
  return Promise.all(
    clients.map(async (r) => (await expectPacket(r, PacketType.Connack, 10_000)).reasonCode),
  );
}

describe('limits - defaults', () => {
  test('limits - defaults: the documented values (connection rate 1000/s, burst 1000, 1000 per IP, loopback exempt)', () => {
    const l = defaultConfig().limits;
    assert.equal(l.connection_rate, 1000);
    assert.equal(l.connection_burst, 1000);
    assert.equal(l.max_connections_per_ip, 1000);
    assert.deepEqual(l.per_ip_exempt, ['127.0.0.0/8', '::1']);
    assert.equal(l.message_rate, 0);
    assert.equal(l.byte_rate, 0);
    assert.equal(l.flapping_connects, 0);
  });

  test('limits - defaults: a CONNECT burst beyond 1000 on one listener gets CONNACK 0x9F past the bucket; loopback is not capped per IP', async () => {
    await using b = await startBroker();
    const clients = await openClients(b, 2500);
    const t0 = performance.now();
    const codes = await connectAll(clients, 'burst');
    const seconds = (performance.now() - t0) / 1000;
    const accepted = codes.filter((c) => c === 0).length;
    const limited = codes.filter((c) => c === 0x9f).length;
    assert.equal(accepted + limited, codes.length, `only 0x00 and 0x9F expected: ${[...new Set(codes)]}`);
    // The whole bucket, plus what 1000/s refilled while the burst was being answered; never more.
    assert.ok(accepted >= 1000, `accepted ${accepted}`);
    assert.ok(accepted <= 1000 + Math.ceil(seconds * 1000) + 1, `accepted ${accepted} in ${seconds} s`);
    assert.ok(limited > 0, `none limited in ${seconds} s`);
    // 127.0.0.1 is in per_ip_exempt: more than 1000 connections from it (what refilled), none refused with 0x97.
    assert.ok(accepted > 1000, `accepted ${accepted}`);
  });

  test('limits - defaults: 1000 connections per client address are counted (0x97 past them, 3.1.1: 3), other addresses unaffected', async () => {
    await using b = await startBroker({
      ...security('limits:\n  connection_rate: 0\n'),
      listeners: PROXY_LISTENER,
    });
    const first: RawClient[] = [];
    for (let i = 0; i < 1000; i += 250) {
      const batch = await openClients(b, 250, '192.0.2.1');
      assert.deepEqual(new Set(await connectAll(batch, `a${i}`)), new Set([0]));
      first.push(...batch);
    }
    assert.deepEqual(await connectAll(await openClients(b, 1, '192.0.2.1'), 'over'), [0x97]);
    const v3 = (await openClients(b, 1, '192.0.2.1', 4))[0]!;
    v3.send(connectPacket(4, { clientId: 'over-v3' }));
    // 3.1.1 return code 3 (Server unavailable), read back as its MQTT 5 equivalent.
    assert.equal((await expectPacket(v3, PacketType.Connack)).reasonCode, 0x88);
    assert.deepEqual(await connectAll(await openClients(b, 1, '192.0.2.2'), 'other'), [0]);
    // A client that leaves frees its place.
    const gone = disconnected(b, 'a0-0');
    first[0]!.destroy();
    await gone;
    assert.deepEqual(await connectAll(await openClients(b, 1, '192.0.2.1'), 'again'), [0]);
    assert.deepEqual(await connectAll(await openClients(b, 1, '192.0.2.1'), 'again-over'), [0x97]);
  });

  test('limits - defaults: per_ip_exempt holds loopback (127.0.0.0/8 and ::1 are not counted, 192.0.2.1 is)', async () => {
    await using b = await startBroker({
      ...security('limits:\n  max_connections_per_ip: 2\n'),
      listeners: PROXY_LISTENER,
    });
    const one = async (from: string, id: string) => (await connectAll(await openClients(b, 1, from), id))[0];
    const three = async (from: string) => [
      await one(from, `${from}-1`),
      await one(from, `${from}-2`),
      await one(from, `${from}-3`),
    ];
    assert.deepEqual(await three('127.0.0.1'), [0, 0, 0]);
    assert.deepEqual(await three('127.0.0.9'), [0, 0, 0]);
    assert.deepEqual(await three('::1'), [0, 0, 0]);
    assert.deepEqual(await three('192.0.2.1'), [0, 0, 0x97]);
  });
});

describe('limits - clients', () => {
  test('limits - clients: subscriptions beyond the maximum get 0x97; replacing one still works', async () => {
    await using b = await startBroker(security('limits:\n  max_subscriptions_per_client: 2\n'));
    const r = await connected(b, 5, 's');
    const ack = await subscribe(r, [opt('a', 0), opt('b', 0)]);
    assert.deepEqual(ack.reasonCodes, [0, 0]);
    assert.deepEqual((await subscribe(r, [opt('c', 0), opt('a', 1)], 2)).reasonCodes, [0x97, 1]);
  });

  test('limits - clients: message_rate slows a fast publisher (reads paused) instead of dropping', async () => {
    await using b = await startBroker(security('limits:\n  message_rate: 20\n  message_burst: 5\n'));
    const sub = await b.client({ clientId: 'sub' });
    await sub.subscribeAsync('rate/#', { qos: 1 });
    const pubc = await connected(b, 5, 'pub');
    const n = 15;
    let got = 0;
    const all = new Promise<void>((resolve) =>
      sub.on('message', () => {
        if (++got === n) resolve();
      }),
    );
    const t0 = Date.now();
    for (let i = 0; i < n; i++)
      pubc.send({
        type: PacketType.Publish,
        topic: `rate/${i}`,
        payload: Buffer.from('x'),
        qos: 1,
        retain: false,
        dup: false,
        packetId: i + 1,
      });
    for (let i = 0; i < n; i++) await expectPacket(pubc, PacketType.Puback, 5000);
    await all;
    const ms = Date.now() - t0;
    // 5 in the burst, 10 more at 20/s: about 500 ms; nothing dropped.
    assert.ok(ms >= 400, `15 messages took ${ms} ms`);
    assert.equal(got, n);
  });
});
