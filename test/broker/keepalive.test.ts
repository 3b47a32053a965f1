import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DisconnectPacket, PacketType, ReasonCode } from '../../src/codec/index.js';
import { collect, connectPacket, type RawClient, startBroker, type TestBroker } from '../helpers/broker.js';
import { FakeClock } from '../helpers/clock.js';
import { connectOk, publish } from '../helpers/raw.js';

/** A mqtt.js subscriber to `topic` (keep alive 0, so it never times out itself). */
async function watcher(b: TestBroker, topic: string) {
  const c = await b.client({ protocolVersion: 4, clientId: `watch-${topic}`, keepalive: 0 });
  await c.subscribeAsync(topic, { qos: 1 });
  return c;
}

/** Waits until the server closes `r`, returning how long after `since` it happened. */
async function closedAfter(r: RawClient, since: number, ms = 4000): Promise<number> {
  assert.equal(await r.waitClosed(ms), true, `connection still open after ${ms} ms`);
  return Date.now() - since;
}

// Several tests wait about 1.5 s of real time; they use independent brokers, so they run concurrently.
describe('keep alive', { concurrency: true }, () => {
  it('keep alive - a silent 3.1.1 client is closed after 1.5 x Keep Alive and its will is published [MQTT-3.1.2-24]', async () => {
    await using b = await startBroker();
    const sub = await watcher(b, 'will/ka4');
    const r = await b.raw(4);
    await connectOk(
      r,
      connectPacket(4, {
        clientId: 'ka4',
        keepAlive: 1,
        will: { topic: 'will/ka4', payload: Buffer.from('timed out'), qos: 1, retain: false },
      }),
    );
    const since = Date.now();
    const will = collect(sub, 1, 4000);
    const elapsed = await closedAfter(r, since);
    assert.ok(elapsed >= 1000 && elapsed <= 2500, `closed after ${elapsed} ms`);
    assert.deepEqual(r.pending(), [], 'a 3.1.1 client gets no packet before the close');
    const [m] = await will;
    assert.equal(m!.payload.toString(), 'timed out');
    assert.equal(m!.packet.qos, 1);
    assert.equal(b.broker.sessions.has('ka4'), false, 'the clean session ended');
  });

  it('keep alive - a silent 5.0 client gets DISCONNECT 0x8D before the close, and its will is published', async () => {
    await using b = await startBroker();
    const sub = await watcher(b, 'will/ka5');
    const r = await b.raw(5);
    await connectOk(
      r,
      connectPacket(5, {
        clientId: 'ka5',
        keepAlive: 1,
        will: { topic: 'will/ka5', payload: Buffer.from('timed out'), qos: 0, retain: false },
      }),
    );
    const since = Date.now();
    const will = collect(sub, 1, 4000);
    const p = await r.next(4000);
    const elapsed = Date.now() - since;
    assert.equal(p.type, PacketType.Disconnect, JSON.stringify(p));
    assert.equal((p as DisconnectPacket).reasonCode, ReasonCode.KeepAliveTimeout);
    assert.ok(elapsed >= 1000 && elapsed <= 2500, `DISCONNECT after ${elapsed} ms`);
    assert.equal(await r.waitClosed(), true);
    const [m] = await will;
    assert.equal(m!.payload.toString(), 'timed out');
  });

  it('keep alive - PINGREQ gets PINGRESP (d0 00) for 3.1.1 and 5.0 [MQTT-3.12.4-1]', async () => {
    await using b = await startBroker();
    for (const v of [3, 4, 5] as const) {
      const r = await b.raw(v);
      await connectOk(r, connectPacket(v, { clientId: `ping-${v}` }));
      const chunks: Buffer[] = [];
      r.socket.on('data', (c: Buffer) => chunks.push(c));
      r.write('c0 00');
      assert.deepEqual(await r.next(), { type: PacketType.Pingresp });
      assert.equal(Buffer.concat(chunks).toString('hex'), 'd000', `level ${v}`);
    }
  });

  it('keep alive - PINGREQs or PUBLISHes every 0.5 s keep a Keep Alive 1 connection open past 1.5 s', async () => {
    // The broker's clock is a FakeClock: time moves only when the test advances it.
    const clock = new FakeClock();
    await using b = await startBroker({}, { clock });
    const pinger = await b.raw(4);
    await connectOk(pinger, connectPacket(4, { clientId: 'pinger', keepAlive: 1 }));
    const publisher = await b.raw(5);
    await connectOk(publisher, connectPacket(5, { clientId: 'publisher', keepAlive: 1 }));
    for (let i = 0; i < 5; i++) {
      clock.advance(500);
      pinger.send({ type: PacketType.Pingreq });
      assert.deepEqual(await pinger.next(), { type: PacketType.Pingresp });
      // The PUBACK is the latch that the broker has seen the PUBLISH before time moves on.
      await publish(publisher, 'ka/activity', String(i), 1);
    }
    assert.equal(pinger.closed, false, 'pinging client was closed');
    assert.equal(publisher.closed, false, 'publishing client was closed');
    assert.deepEqual(publisher.pending(), [], 'no DISCONNECT was sent to the active client');
    // 2.5 s have passed. Silence from now on: past 1.5 x Keep Alive both are closed (the sweeper may be up to a
    // quarter of that late: 1.5 s + 375 ms).
    clock.advance(1900);
    assert.equal(await pinger.waitClosed(), true, 'silent 3.1.1 client still open');
    const p = await publisher.next();
    assert.equal(p.type, PacketType.Disconnect, JSON.stringify(p));
    assert.equal((p as DisconnectPacket).reasonCode, ReasonCode.KeepAliveTimeout);
    assert.equal(await publisher.waitClosed(), true, 'silent 5.0 client still open');
  });

  it('keep alive - Keep Alive 0 turns the mechanism off [MQTT-3.1.2-10]', async () => {
    const clock = new FakeClock();
    await using b = await startBroker({}, { clock });
    const off = await b.raw(4);
    await connectOk(off, connectPacket(4, { clientId: 'ka-off', keepAlive: 0 }));
    const off5 = await b.raw(5);
    await connectOk(off5, connectPacket(5, { clientId: 'ka-off5', keepAlive: 0 }));
    // A Keep Alive 1 client, silent for as long, is the yardstick.
    const timed = await b.raw(4);
    await connectOk(timed, connectPacket(4, { clientId: 'ka-1', keepAlive: 1 }));
    clock.advance(1900); // 1.5 x Keep Alive, plus the sweeper's quarter of it
    assert.equal(await timed.waitClosed(), true, 'the Keep Alive 1 client is closed after 1.5 s of silence');
    clock.advance(60_000);
    // Still open a minute later: a PINGREQ round trip on each proves it.
    for (const r of [off, off5]) {
      r.send({ type: PacketType.Pingreq });
      assert.deepEqual(await r.next(), { type: PacketType.Pingresp });
      assert.equal(r.closed, false, `Keep Alive 0 client (level ${r.version}) was closed`);
    }
  });

  it('server keep alive - with mqtt.max_keepalive 10 a 5.0 client asking 60 gets Server Keep Alive 10 [MQTT-3.2.2-21]', async () => {
    await using b = await startBroker({ mqtt: { max_keepalive: 10 } });
    const r = await b.raw(5);
    const ack = await connectOk(r, connectPacket(5, { clientId: 'ska', keepAlive: 60 }));
    assert.equal(ack.properties?.serverKeepAlive, 10);
    // A client within the cap gets no Server Keep Alive.
    const r2 = await b.raw(5);
    const ack2 = await connectOk(r2, connectPacket(5, { clientId: 'ska2', keepAlive: 5 }));
    assert.equal(ack2.properties?.serverKeepAlive, undefined);
  });

  it('server keep alive - with mqtt.max_keepalive 10 a 5.0 client asking 0 (no keep alive) gets Server Keep Alive 10', async () => {
    await using b = await startBroker({ mqtt: { max_keepalive: 10 } });
    const r = await b.raw(5);
    const ack = await connectOk(r, connectPacket(5, { clientId: 'ska0', keepAlive: 0 }));
    assert.equal(ack.properties?.serverKeepAlive, 10);
  });

  it('server keep alive - the Server Keep Alive is enforced, not only announced [MQTT-3.2.2-22]', async () => {
    await using b = await startBroker({ mqtt: { max_keepalive: 1 } });
    const r = await b.raw(5);
    const ack = await connectOk(r, connectPacket(5, { clientId: 'ska-enforced', keepAlive: 60 }));
    assert.equal(ack.properties?.serverKeepAlive, 1);
    const since = Date.now();
    const p = await r.next(4000);
    const elapsed = Date.now() - since;
    assert.equal(p.type, PacketType.Disconnect, JSON.stringify(p));
    assert.equal((p as DisconnectPacket).reasonCode, ReasonCode.KeepAliveTimeout);
    assert.ok(elapsed >= 1000 && elapsed <= 2500, `closed after ${elapsed} ms`);
  });

  it('server keep alive - mqtt.js 5.0 client sees Server Keep Alive in CONNACK', async () => {
    await using b = await startBroker({ mqtt: { max_keepalive: 10 } });
    const c = await b.client({ protocolVersion: 5, clientId: 'mqttjs-ska', keepalive: 60 });
    assert.equal(c.serverProperties?.serverKeepAlive, 10);
    // mqtt.js adopts the server's value [MQTT-3.2.2-22].
    assert.equal(c.keepalive, 10);
  });

  it('server keep alive - with mqtt.max_keepalive 10 a 3.1.1 client asking 60 gets CONNACK 0x02 and close (as Mosquitto)', async () => {
    await using b = await startBroker({ mqtt: { max_keepalive: 10 } });
    const r = await b.raw(4);
    const chunks: Buffer[] = [];
    r.socket.on('data', (c: Buffer) => chunks.push(c));
    r.send(connectPacket(4, { clientId: 'ka-too-long', keepAlive: 60 }));
    assert.equal(await r.waitClosed(), true);
    assert.equal(Buffer.concat(chunks).toString('hex'), '20020002');
    assert.equal(b.broker.sessions.size, 0);
    // At the cap is fine.
    const ok = await b.raw(4);
    await connectOk(ok, connectPacket(4, { clientId: 'ka-at-cap', keepAlive: 10 }));
  });
});
