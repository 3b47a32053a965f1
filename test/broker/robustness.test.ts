import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import {
  type DisconnectPacket,
  encode,
  PacketType,
  type ProtocolVersion,
  type PublishPacket,
  ReasonCode,
} from '../../src/codec/index.js';
import { collect, connectPacket, type RawClient, startBroker, type TestBroker } from '../helpers/broker.js';
import { connected } from '../helpers/raw.js';

let healthSeq = 0;
/** The broker still serves: a fresh subscriber and publisher exchange a QoS 1 message. */
async function assertHealthy(b: TestBroker): Promise<void> {
  const n = ++healthSeq;
  const sub = await b.client({ protocolVersion: 4, clientId: `health-sub-${n}` });
  await sub.subscribeAsync(`health/${n}`, { qos: 1 });
  const pub = await b.client({ protocolVersion: 5, clientId: `health-pub-${n}` });
  const got = collect(sub, 1);
  await pub.publishAsync(`health/${n}`, 'alive', { qos: 1 });
  const [m] = await got;
  assert.equal(m!.payload.toString(), 'alive');
  sub.end(true);
  pub.end(true);
}

/** For 5.0: the DISCONNECT the server sent before closing (asserted), for 3.x: nothing but the close. */
async function assertEnded(r: RawClient, rc: number | undefined): Promise<void> {
  if (r.version === 5 && rc !== undefined) {
    const p = await r.next();
    assert.equal(p.type, PacketType.Disconnect, `expected DISCONNECT, got ${JSON.stringify(p)}`);
    assert.equal(
      (p as DisconnectPacket).reasonCode,
      rc,
      `reason 0x${(p as DisconnectPacket).reasonCode.toString(16)}, expected 0x${rc.toString(16)}`,
    );
  }
  assert.equal(await r.waitClosed(), true, 'server did not close the connection');
  if (r.version !== 5) {
    const extra = r.pending().filter((p) => p.type !== PacketType.Disconnect);
    assert.deepEqual(extra, [], 'a 3.x client gets nothing before the close');
  }
}

/** Deterministic pseudo-random bytes (xorshift32), so a failure can be replayed. */
function randomBytes(seed: number, n: number): Buffer {
  let x = seed >>> 0 || 1;
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

interface BadInput {
  name: string;
  /** Bytes sent after a successful CONNECT (3.1.1 layout). */
  hex: string;
  /** The same input in the 5.0 layout, where it differs (property lengths). */
  hex5?: string;
  /** The DISCONNECT reason code a 5.0 client gets (undefined: only check the close). */
  rc5: number | undefined;
}

const BAD_INPUTS: BadInput[] = [
  { name: 'reserved packet type 0', hex: '00 00', rc5: ReasonCode.MalformedPacket },
  { name: 'PINGREQ with flags 0001 [MQTT-2.2.2-2]', hex: 'c1 00', rc5: ReasonCode.MalformedPacket },
  {
    name: 'SUBSCRIBE with flags 0000 [MQTT-3.8.1-1]',
    hex: '80 06 0001 0001 61 00',
    hex5: '80 07 0001 00 0001 61 00',
    rc5: ReasonCode.MalformedPacket,
  },
  { name: 'PUBREL with flags 0000 [MQTT-3.6.1-1]', hex: '60 02 0001', rc5: ReasonCode.MalformedPacket },
  {
    name: 'PUBLISH with QoS 3 [MQTT-3.3.1-4]',
    hex: '36 06 0001 61 0001 00',
    rc5: ReasonCode.MalformedPacket,
  },
  {
    name: 'PUBLISH QoS 0 with DUP set [MQTT-3.3.1-2]',
    hex: '38 04 0001 61 00',
    rc5: ReasonCode.MalformedPacket,
  },
  {
    name: 'Remaining Length of 5 bytes [MQTT-1.5.5]',
    hex: '30 ff ff ff ff 7f',
    rc5: ReasonCode.MalformedPacket,
  },
  { name: 'PINGREQ with a body', hex: 'c0 01 00', rc5: ReasonCode.MalformedPacket },
  {
    name: 'CONNACK from a client',
    hex: '20 02 00 00',
    hex5: '20 03 00 00 00',
    rc5: ReasonCode.ProtocolError,
  },
  {
    name: 'SUBSCRIBE with packet id 0 [MQTT-2.2.1-3]',
    hex: '82 06 0000 0001 61 00',
    hex5: '82 07 0000 00 0001 61 00',
    rc5: undefined,
  },
  {
    name: 'PUBLISH topic length past the packet end',
    hex: '30 04 00 10 61 62',
    rc5: ReasonCode.MalformedPacket,
  },
];

describe('robustness', () => {
  for (const v of [4, 5] as const) {
    for (const bad of BAD_INPUTS) {
      const hex = v === 5 ? (bad.hex5 ?? bad.hex) : bad.hex;
      it(`malformed - ${bad.name} ends only that connection (${v === 5 ? '5.0' : '3.1.1'})`, async () => {
        await using b = await startBroker();
        const bystander = await connected(b, v, 'bystander');
        const r = await connected(b, v, 'victim');
        r.write(hex);
        await assertEnded(r, v === 5 ? bad.rc5 : undefined);
        assert.equal(bystander.closed, false, 'another connection was closed');
        bystander.send({ type: PacketType.Pingreq });
        assert.deepEqual(await bystander.next(), { type: PacketType.Pingresp });
        await assertHealthy(b);
        assert.equal(b.broker.sessions.has('victim'), false, 'the clean session of the bad client ended');
      });
    }
  }

  it('malformed - reserved packet type 0 before CONNECT closes without a reply', async () => {
    await using b = await startBroker();
    const r = await b.raw(4);
    r.write('00 00');
    assert.equal(await r.waitClosed(), true);
    assert.deepEqual(r.pending(), []);
    await assertHealthy(b);
  });

  it('malformed - AUTH (type 15) from a 3.1.1 client is malformed: closed', async () => {
    await using b = await startBroker();
    const r = await connected(b, 4, 'auth-v4');
    r.write('f0 00');
    await assertEnded(r, undefined);
    await assertHealthy(b);
  });

  it('packet size - a 5.0 client sending 2 KiB with mqtt.max_packet_size 1024 gets DISCONNECT 0x95 [MQTT-3.2.2-?]', async () => {
    await using b = await startBroker({ mqtt: { max_packet_size: 1024 } });
    const sub = await b.client({ protocolVersion: 4, clientId: 'big-watch' });
    await sub.subscribeAsync('big', { qos: 0 });
    const r = await connected(b, 5, 'big5');
    r.send({
      type: PacketType.Publish,
      topic: 'big',
      payload: Buffer.alloc(2048, 1),
      qos: 0,
      retain: false,
      dup: false,
    });
    await assertEnded(r, ReasonCode.PacketTooLarge);
    // Nothing of it was routed.
    const got = collect(sub, 1, 200);
    await assert.rejects(got);
    await assertHealthy(b);
  });

  it('packet size - the limit is checked at the fixed header, before the body arrives', async () => {
    await using b = await startBroker({ mqtt: { max_packet_size: 1024 } });
    const r = await connected(b, 5, 'header-only');
    r.write('30 80 10'); // PUBLISH, Remaining Length 2048, and no body at all
    await assertEnded(r, ReasonCode.PacketTooLarge);
    const r4 = await connected(b, 4, 'header-only-4');
    r4.write('30 ff ff ff 7f'); // Remaining Length 268,435,455
    await assertEnded(r4, undefined);
    await assertHealthy(b);
  });

  it('packet size - a packet of exactly mqtt.max_packet_size is accepted, one byte more is not', async () => {
    await using b = await startBroker({ mqtt: { max_packet_size: 1024 } });
    const sub = await b.client({ protocolVersion: 4, clientId: 'edge-watch' });
    await sub.subscribeAsync('edge', { qos: 0 });
    const r = await connected(b, 4, 'edge');
    const base: PublishPacket = {
      type: PacketType.Publish,
      topic: 'edge',
      payload: Buffer.alloc(0),
      qos: 0,
      retain: false,
      dup: false,
    };
    // 1 + 2 (Remaining Length) + 2 + 4 (topic) + payload = 1024
    const fits = { ...base, payload: Buffer.alloc(1024 - 9, 7) };
    assert.equal(encode(fits, 4).length, 1024);
    const got = collect(sub, 1);
    r.send(fits);
    const [m] = await got;
    assert.equal(m!.payload.length, 1015);
    r.send({ ...base, payload: Buffer.alloc(1016, 7) });
    await assertEnded(r, undefined);
  });

  it('packet size - 3.1.1 client over mqtt.max_packet_size is closed', async () => {
    await using b = await startBroker({ mqtt: { max_packet_size: 1024 } });
    const r = await connected(b, 4, 'big4');
    r.send({
      type: PacketType.Publish,
      topic: 'big',
      payload: Buffer.alloc(2048, 1),
      qos: 1,
      packetId: 1,
      retain: false,
      dup: false,
    });
    await assertEnded(r, undefined);
    await assertHealthy(b);
  });

  for (const [what, topicHex] of [
    ['invalid UTF-8 (ff fe)', '0002 fffe'],
    ['an overlong encoding (c0 af)', '0002 c0af'],
    ['a UTF-16 surrogate (ed a0 80)', '0003 eda080'],
    ['U+0000 [MQTT-1.5.4-2]', '0003 610062'],
  ] as const) {
    for (const v of [4, 5] as const) {
      it(`topic - a PUBLISH topic with ${what} ends the connection (${v === 5 ? '5.0: DISCONNECT 0x81' : '3.1.1'}) [MQTT-1.5.4-1]`, async () => {
        await using b = await startBroker();
        const r = await connected(b, v, 'utf8');
        const body = Buffer.concat([
          Buffer.from(topicHex.replace(/\s+/g, ''), 'hex'),
          v === 5 ? Buffer.from([0]) : Buffer.alloc(0),
          Buffer.from('p'),
        ]);
        r.write(Buffer.concat([Buffer.from([0x30, body.length]), body]));
        await assertEnded(r, ReasonCode.MalformedPacket);
        await assertHealthy(b);
      });
    }
  }

  for (const topic of ['a/+', '#', 'a/#/b', 's+']) {
    for (const v of [4, 5] as const) {
      it(`topic - PUBLISH to "${topic}" (wildcards) ends the connection (${v === 5 ? '5.0: DISCONNECT 0x90' : '3.1.1'}) [MQTT-3.3.2-2]`, async () => {
        await using b = await startBroker();
        const sub = await b.client({ protocolVersion: 4, clientId: 'wild-watch' });
        await sub.subscribeAsync('#', { qos: 0 });
        const r = await connected(b, v, 'wild');
        r.send({
          type: PacketType.Publish,
          topic,
          payload: Buffer.from('x'),
          qos: 1,
          packetId: 7,
          retain: false,
          dup: false,
        });
        await assertEnded(r, ReasonCode.TopicNameInvalid);
        await assert.rejects(collect(sub, 1, 200), 'the message was not routed');
        await assertHealthy(b);
      });
    }
  }

  it('garbage - random bytes after CONNECT never crash the broker or disturb other clients', async () => {
    await using b = await startBroker();
    const sub = await b.client({ protocolVersion: 5, clientId: 'garbage-watch' });
    await sub.subscribeAsync('steady', { qos: 1 });
    const pub = await b.client({ protocolVersion: 4, clientId: 'garbage-pub' });
    // 40 clients at once: each sends its garbage, then half-closes; the broker must end each one cleanly.
    await Promise.all(
      Array.from({ length: 40 }, async (_, k) => {
        const seed = k + 1;
        const r = await connected(b, seed % 2 === 0 ? 4 : 5, `garbage-${seed}`);
        r.write(randomBytes(seed * 7919, 16 + ((seed * 37) % 512)));
        r.socket.end();
        assert.equal(await r.waitClosed(3000), true, `garbage client ${seed} not closed`);
      }),
    );
    assert.equal(sub.connected, true, 'the subscriber was disconnected');
    const got = collect(sub, 1);
    await pub.publishAsync('steady', 'still here', { qos: 1 });
    assert.equal((await got)[0]!.payload.toString(), 'still here');
    await assertHealthy(b);
  });

  it('garbage - random bytes instead of CONNECT never crash the broker', async () => {
    await using b = await startBroker();
    await Promise.all(
      Array.from({ length: 40 }, async (_, k) => {
        const seed = k + 1;
        const r = await b.raw(4);
        const junk = randomBytes(seed * 104729, 1 + ((seed * 53) % 300));
        if (seed % 4 === 0) junk[0] = 0x10; // half-plausible CONNECT headers
        r.write(junk);
        r.socket.end();
        assert.equal(await r.waitClosed(3000), true, `garbage client ${seed} not closed`);
      }),
    );
    assert.equal(b.broker.sessions.size, 0);
    await assertHealthy(b);
  });

  it('mid-packet - a client that disconnects in the middle of a packet gets its will published', async () => {
    await using b = await startBroker();
    const sub = await b.client({ protocolVersion: 4, clientId: 'mid-watch' });
    await sub.subscribeAsync('will/mid', { qos: 1 });
    const r = await b.raw(4);
    r.send(
      connectPacket(4, {
        clientId: 'mid',
        will: { topic: 'will/mid', payload: Buffer.from('cut off'), qos: 1, retain: false },
      }),
    );
    assert.equal((await r.next()).type, PacketType.Connack);
    const will = collect(sub, 1);
    const whole = encode(
      {
        type: PacketType.Publish,
        topic: 'mid/x',
        payload: Buffer.alloc(500, 1),
        qos: 1,
        packetId: 3,
        retain: false,
        dup: false,
      },
      4,
    );
    r.write(whole.subarray(0, 200));
    r.destroy();
    const [m] = await will;
    assert.equal(m!.payload.toString(), 'cut off');
    await assertHealthy(b);
    assert.equal(b.broker.sessions.has('mid'), false);
  });

  it('mid-packet - a client that disconnects in the middle of CONNECT or of a fixed header leaves nothing behind', async () => {
    await using b = await startBroker();
    const full = encode(connectPacket(5, { clientId: 'half', properties: { sessionExpiryInterval: 0 } }), 5);
    for (const cut of [1, 2, 5, full.length - 1]) {
      const r = await b.raw(5);
      r.write(full.subarray(0, cut));
      r.destroy();
    }
    const r = await connected(b, 4, 'header-cut');
    r.write('30 ff'); // half a Remaining Length
    r.destroy();
    await assertHealthy(b);
    const deadline = Date.now() + 2000;
    while (b.broker.sessions.has('header-cut') && Date.now() < deadline)
      await new Promise((res) => setTimeout(res, 10));
    assert.equal(b.broker.sessions.has('header-cut'), false);
    assert.equal(b.broker.sessions.has('half'), false);
  });

  it('churn - 200 connections opened and closed rapidly leave no clean session and no client behind', async () => {
    await using b = await startBroker();
    const sockets = [];
    for (let i = 0; i < 200; i++) {
      const s = connect({ host: '127.0.0.1', port: b.port });
      s.on('error', () => {});
      s.resume(); // read (and drop) what the server sends, so 'end' and 'close' can happen
      sockets.push(
        (async () => {
          await once(s, 'connect');
          const v: ProtocolVersion = i % 3 === 0 ? 5 : 4;
          // Five of them (those that wait for CONNACK) keep their session, as a control.
          const keep = i % 4 === 3 && i < 20;
          const props = keep && v === 5 ? { sessionExpiryInterval: 300 } : undefined;
          s.write(encode(connectPacket(v, { clientId: `churn-${i}`, clean: !keep, properties: props }), v));
          switch (i % 4) {
            case 0: // a normal DISCONNECT
              s.write(encode({ type: PacketType.Disconnect, reasonCode: 0 }, v));
              s.end();
              break;
            case 1: // vanish right after CONNECT (maybe before CONNACK)
              s.destroy();
              return;
            case 2: // half-close
              s.end();
              break;
            default: // wait for CONNACK, then drop
              await once(s, 'data');
              s.destroy();
              return;
          }
          await once(s, 'close');
        })(),
      );
    }
    await Promise.all(sockets);
    const deadline = Date.now() + 5000;
    while ((b.broker.sessions.size > 5 || b.broker.clients.size > 0) && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 10));
    }
    const left = [...b.broker.sessions.keys()].sort();
    assert.deepEqual(
      left,
      ['churn-11', 'churn-15', 'churn-19', 'churn-3', 'churn-7'],
      'only the persistent sessions remain',
    );
    assert.equal(b.broker.clients.size, 0);
    assert.ok(
      b.broker.stats['connections.accepted'] >= 150,
      `accepted ${b.broker.stats['connections.accepted']}`,
    );
    await assertHealthy(b);
  });
});
