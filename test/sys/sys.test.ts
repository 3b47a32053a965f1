import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PacketType, type PublishPacket, ReasonCode } from '../../src/codec/index.js';
import { PETREL_VERSION } from '../../src/core/version.js';
import { type RawClient, startBroker } from '../helpers/broker.js';
import { connected, expectPacket, opt, publish, settle, subscribe } from '../helpers/raw.js';

/** Reads PUBLISH packets until one whose topic is `topic` and whose payload passes `ok` (bounded by `ms`). */
async function until(
  r: RawClient,
  topic: string,
  ok: (payload: string) => boolean = () => true,
  ms = 4000,
): Promise<PublishPacket> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no ${topic} message as expected within ${ms} ms`);
    const p = await r.next(left);
    if (p.type === PacketType.Publish && p.topic === topic && ok(p.payload.toString())) return p;
  }
}

/** Every PUBLISH among the packets that arrive before a PINGRESP, as topic → payload (last one wins). */
async function retainedValues(r: RawClient): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  for (const p of await settle(r)) if (p.type === PacketType.Publish) m.set(p.topic, p.payload.toString());
  return m;
}

/** The latest value of each topic a raw subscriber has received; waits for a value to pass a check. */
class Latest {
  readonly values = new Map<string, string>();
  constructor(private readonly r: RawClient) {}

  async wait(topic: string, ok: (payload: string) => boolean, ms = 4000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = this.values.get(topic);
      if (v !== undefined && ok(v)) return v;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${topic} is ${v ?? 'unset'} after ${ms} ms`);
      const p = await this.r.next(left);
      if (p.type === PacketType.Publish) this.values.set(p.topic, p.payload.toString());
    }
  }
}

describe('$SYS', () => {
  it('$SYS - a $SYS/# subscriber gets the retained Mosquitto-style tree at once', async () => {
    await using b = await startBroker({ sys_interval: 1 });
    const sub = await connected(b, 5, 'sys-sub');
    await subscribe(sub, '$SYS/#', 0);
    const v = await retainedValues(sub);
    assert.equal(v.get('$SYS/broker/version'), `petrel version ${PETREL_VERSION}`);
    assert.match(v.get('$SYS/broker/uptime') ?? '', /^\d+ seconds$/);
    for (const t of [
      'clients/connected',
      'clients/disconnected',
      'clients/total',
      'clients/maximum',
      'clients/expired',
      'messages/received',
      'messages/sent',
      'publish/messages/received',
      'publish/messages/sent',
      'publish/messages/dropped',
      'bytes/received',
      'bytes/sent',
      'subscriptions/count',
      'retained messages/count',
      'heap/current',
      'heap/maximum',
      'memory/rss',
    ]) {
      assert.match(v.get(`$SYS/broker/${t}`) ?? 'missing', /^\d+$/, `$SYS/broker/${t}`);
    }
    for (const t of ['messages/received', 'messages/sent', 'bytes/received', 'publish/sent', 'connections'])
      for (const p of ['1min', '5min', '15min'])
        assert.match(v.get(`$SYS/broker/load/${t}/${p}`) ?? 'missing', /^\d+\.\d\d$/, `load/${t}/${p}`);
    // Retained: a subscription made later still sees every value.
    const late = await connected(b, 4, 'sys-late');
    await subscribe(late, '$SYS/broker/version', 0);
    const p = await expectPacket(late, PacketType.Publish);
    assert.equal(p.retain, true);
    assert.ok(Number(v.get('$SYS/broker/heap/current')) > 0);
  });

  it('$SYS - values follow the traffic: clients, subscriptions, publish and byte counters', async () => {
    await using b = await startBroker({ sys_interval: 1 });
    const sub = await connected(b, 5, 'sys-sub');
    await subscribe(sub, [opt('$SYS/broker/#', 0), opt('data/#', 1)]);
    const pub = await connected(b, 4, 'sys-pub');
    for (let i = 0; i < 5; i++) await publish(pub, 'data/x', `m${i}`, 1);
    // Within the next rounds: 2 clients, 2 subscriptions, 5 PUBLISH in (plus none from the subscriber).
    const v = new Latest(sub);
    await v.wait('$SYS/broker/clients/connected', (s) => s === '2');
    await v.wait('$SYS/broker/subscriptions/count', (s) => s === '2');
    await v.wait('$SYS/broker/publish/messages/received', (s) => s === '5');
    await v.wait('$SYS/broker/clients/maximum', (s) => s === '2');
    await v.wait('$SYS/broker/bytes/received', (s) => Number(s) > 5 * 9);
    await v.wait('$SYS/broker/load/publish/received/1min', (s) => Number(s) > 0);
    pub.destroy();
    await v.wait('$SYS/broker/clients/connected', (s) => s === '1');
    await v.wait('$SYS/broker/clients/total', (s) => s === '1');
    await v.wait('$SYS/broker/clients/maximum', (s) => s === '2');
  });

  it('$SYS - sys_interval 1: uptime is published about once a second', async () => {
    await using b = await startBroker({ sys_interval: 1 });
    const sub = await connected(b, 4, 'sys-sub');
    await subscribe(sub, '$SYS/broker/uptime', 0);
    const first = await expectPacket(sub, PacketType.Publish); // the retained value
    assert.equal(first.retain, true);
    const t0 = Date.now();
    const a = await until(sub, '$SYS/broker/uptime', () => true, 2500);
    const t1 = Date.now();
    const c = await until(sub, '$SYS/broker/uptime', () => true, 2500);
    const t2 = Date.now();
    assert.equal(a.retain, false, 'a live update to an existing subscription has RETAIN 0 [MQTT-3.3.1-9]');
    assert.ok(t1 - t0 <= 1500, `first update after ${t1 - t0} ms`);
    assert.ok(t2 - t1 >= 700 && t2 - t1 <= 1500, `updates ${t2 - t1} ms apart`);
    const secs = (p: PublishPacket) => Number(/^(\d+) seconds$/.exec(p.payload.toString())![1]);
    assert.equal(secs(c), secs(a) + 1);
  });

  it("$SYS - '#' and '+/…' never match $SYS topics [MQTT-4.7.2-1]", async () => {
    await using b = await startBroker({ sys_interval: 1 });
    const all = await connected(b, 5, 'all');
    await subscribe(all, [opt('#', 0), opt('+/broker/#', 0), opt('+/broker/uptime', 0)]);
    const sys = await connected(b, 5, 'sys');
    await subscribe(sys, '$SYS/broker/uptime', 0);
    await expectPacket(sys, PacketType.Publish); // retained
    await until(sys, '$SYS/broker/uptime'); // one live round went by
    const pub = await connected(b, 5, 'pub');
    await publish(pub, 'normal/topic', 'x', 1);
    const got = (await settle(all)).map((p) => (p as PublishPacket).topic);
    assert.deepEqual(got, ['normal/topic']);
  });

  it('$SYS - client events: connected and disconnected JSON as EMQX publishes them', async () => {
    await using b = await startBroker({ sys_interval: 60 });
    const node = b.server.sys!.node;
    const sub = await connected(b, 5, 'watcher');
    await subscribe(sub, '$SYS/brokers/+/clients/#', 0);
    const c = await connected(b, 5, {
      clientId: 'ev-1',
      username: 'alice',
      keepAlive: 30,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    const con = await until(sub, `$SYS/brokers/${node}/clients/ev-1/connected`);
    assert.equal(con.retain, false);
    const e = JSON.parse(con.payload.toString());
    assert.equal(e.clientid, 'ev-1');
    assert.equal(e.username, 'alice');
    assert.equal(e.ipaddress, '127.0.0.1');
    assert.equal(e.port, c.socket.localPort);
    assert.equal(e.proto_name, 'MQTT');
    assert.equal(e.proto_ver, 5);
    assert.equal(e.keepalive, 30);
    assert.equal(e.clean_start, false);
    assert.equal(e.session_present, false);
    assert.ok(Math.abs(e.connected_at - Date.now()) < 5000);
    c.send({ type: PacketType.Disconnect, reasonCode: 0 });
    const dis = await until(sub, `$SYS/brokers/${node}/clients/ev-1/disconnected`);
    const d = JSON.parse(dis.payload.toString());
    assert.equal(d.clientid, 'ev-1');
    assert.equal(d.username, 'alice');
    assert.equal(d.reason, 'client disconnected');
    assert.equal(d.connected_at, e.connected_at);
    assert.ok(d.disconnected_at >= d.connected_at);

    // A 3.1.1 client whose id holds '/' and '+': one escaped topic level; no keep alive given is 0.
    const v3 = await connected(b, 4, { clientId: 'a/b+c', keepAlive: 0, clean: true });
    const con3 = await until(sub, `$SYS/brokers/${node}/clients/a%2Fb%2Bc/connected`);
    const e3 = JSON.parse(con3.payload.toString());
    assert.equal(e3.clientid, 'a/b+c');
    assert.equal(e3.proto_ver, 4);
    assert.equal(e3.username, null);
    assert.equal(e3.keepalive, 0);
    assert.equal(e3.clean_start, true);
    v3.destroy();
    const dis3 = await until(sub, `$SYS/brokers/${node}/clients/a%2Fb%2Bc/disconnected`);
    assert.match(JSON.parse(dis3.payload.toString()).reason, /closed/);
  });

  it('$SYS - takeover: the old connection gets a disconnected event, the new one a connected event', async () => {
    await using b = await startBroker({ sys_interval: 60 });
    const node = b.server.sys!.node;
    const sub = await connected(b, 5, 'watcher');
    await subscribe(sub, '$SYS/brokers/+/clients/#', 0);
    await connected(b, 5, 'same');
    await until(sub, `$SYS/brokers/${node}/clients/same/connected`);
    await connected(b, 5, 'same');
    const d = await until(sub, `$SYS/brokers/${node}/clients/same/disconnected`);
    assert.match(JSON.parse(d.payload.toString()).reason, /taken over/);
    await until(sub, `$SYS/brokers/${node}/clients/same/connected`);
  });

  for (const v of [4, 5] as const) {
    it(`$SYS - clients may not publish to $SYS topics (${v === 5 ? 'v5: PUBACK/PUBREC 0x87' : 'v3.1.1: acknowledged and dropped'})`, async () => {
      await using b = await startBroker({ sys_interval: 60 });
      const sub = await connected(b, 5, 'sys-sub');
      await subscribe(sub, [opt('$SYS/broker/#', 0), opt('$SYSTEM/#', 0)]);
      await settle(sub); // the retained tree
      const c = await connected(b, v, 'intruder');
      for (const qos of [0, 1, 2] as const) {
        for (const topic of ['$SYS/broker/version', '$SYS']) {
          const pid = 500 + qos;
          c.send({
            type: PacketType.Publish,
            topic,
            payload: Buffer.from('fake'),
            qos,
            retain: true,
            dup: false,
            packetId: qos > 0 ? pid : undefined,
          });
          if (qos === 1) {
            const ack = await expectPacket(c, PacketType.Puback);
            assert.equal(ack.reasonCode, v === 5 ? ReasonCode.NotAuthorized : 0);
          } else if (qos === 2) {
            const rec = await expectPacket(c, PacketType.Pubrec);
            assert.equal(rec.reasonCode, v === 5 ? ReasonCode.NotAuthorized : 0);
            if (v === 4) {
              c.send({ type: PacketType.Pubrel, packetId: pid, reasonCode: 0 });
              await expectPacket(c, PacketType.Pubcomp);
            }
          }
        }
      }
      assert.deepEqual(await settle(c), [], 'the connection stays open and nothing else arrives');
      // Other '$' topics are not the broker's: '$SYSTEM/x' is routed as usual.
      await publish(c, '$SYSTEM/x', 'ok', 1);
      const got = (await settle(sub)).map(
        (p) => `${(p as PublishPacket).topic}=${(p as PublishPacket).payload}`,
      );
      assert.deepEqual(got, ['$SYSTEM/x=ok']);
      // The retained value is still the broker's.
      const late = await connected(b, 5, 'late');
      await subscribe(late, '$SYS/broker/version', 0);
      assert.equal(
        (await expectPacket(late, PacketType.Publish)).payload.toString(),
        `petrel version ${PETREL_VERSION}`,
      );
      assert.equal(b.broker.stats['messages.dropped.not_authorized'], 6);
    });
  }

  it('$SYS - the retained $SYS tree takes no room from max_retained_messages', async () => {
    await using b = await startBroker({ sys_interval: 1, mqtt: { max_retained_messages: 2 } });
    assert.ok(b.broker.retained.size > 2, 'the $SYS tree is retained');
    const c = await connected(b, 5, 'retainer');
    for (const t of ['r/1', 'r/2', 'r/3']) {
      c.send({
        type: PacketType.Publish,
        topic: t,
        payload: Buffer.from(t),
        qos: 1,
        retain: true,
        dup: false,
        packetId: 7,
      });
      const ack = await expectPacket(c, PacketType.Puback);
      // Two client topics fit; the third is over the limit (0x97 Quota exceeded).
      assert.equal(
        ack.reasonCode,
        t === 'r/3' ? ReasonCode.QuotaExceeded : ReasonCode.NoMatchingSubscribers,
        t,
      );
    }
    assert.equal(b.broker.stats['messages.retained'], 2, 'only client messages are counted');
  });

  it('$SYS - sys_interval 0 turns $SYS topics and client events off', async () => {
    await using b = await startBroker({ sys_interval: 0 });
    assert.equal(b.server.sys, undefined);
    const sub = await connected(b, 5, 'sys-sub');
    await subscribe(sub, '$SYS/#', 0);
    await connected(b, 5, 'other');
    assert.deepEqual(await settle(sub), []);
    assert.equal(b.broker.retained.size, 0);
  });
});
