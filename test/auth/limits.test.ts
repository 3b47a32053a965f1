import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PacketType, type ProtocolVersion } from '../../src/codec/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connackCode, connected, expectPacket, opt, subscribe } from '../helpers/raw.js';
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
    await using b = await startBroker(security('limits:\n  max_connections_per_ip: 2\n'));
    await connected(b, 5, 'a');
    await connected(b, 5, 'b');
    assert.equal(await connack(b, 5, 'c'), 0x97);
    await using b2 = await startBroker(security('limits:\n  connection_rate: 0.01\n  connection_burst: 2\n'));
    assert.equal(await connack(b2, 5, 'a'), 0);
    assert.equal(await connack(b2, 5, 'b'), 0);
    assert.equal(await connack(b2, 5, 'c'), 0x9f);
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
