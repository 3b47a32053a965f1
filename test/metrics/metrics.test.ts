import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PacketType, ReasonCode } from '../../src/codec/index.js';
import { PETREL_VERSION } from '../../src/core/version.js';
import { collect, startBroker, type TestBroker } from '../helpers/broker.js';
import { connected, expectPacket, opt, publish, subscribe } from '../helpers/raw.js';

const HTTP = { http: { host: '127.0.0.1', port: 0 } };

function httpUrl(b: TestBroker, path: string): string {
  const a = b.server.httpAddress();
  assert.ok(a !== undefined && a.port > 0, `the HTTP listener did not bind: ${JSON.stringify(a)}`);
  return `http://127.0.0.1:${a.port}${path}`;
}

/** Scrapes /metrics and returns the text. */
async function scrape(b: TestBroker): Promise<string> {
  const res = await fetch(httpUrl(b, '/metrics'));
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return res.text();
}

/** The value of one sample, `name{labels}` exactly as Prometheus text writes it ('' = no labels). */
function sample(text: string, name: string, labels = ''): number {
  const key = labels === '' ? name : `${name}{${labels}}`;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${key} `)) return Number(line.slice(key.length + 1));
  }
  throw new Error(`no sample ${key} in:\n${text}`);
}

describe('metrics', () => {
  it('metrics - /metrics and /healthz on the bound port; build info, memory and event-loop delay', async () => {
    await using b = await startBroker(HTTP);
    const health = await fetch(httpUrl(b, '/healthz'));
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok', connections: 0 });
    const text = await scrape(b);
    assert.match(text, /# TYPE petrel_messages_received_total counter/);
    assert.match(text, /# HELP petrel_connections /);
    assert.equal(sample(text, 'petrel_build_info', `version="${PETREL_VERSION}"`), 1);
    assert.ok(sample(text, 'petrel_memory_bytes', 'type="rss"') > 0);
    assert.ok(sample(text, 'petrel_memory_bytes', 'type="heap_used"') > 0);
    assert.ok(sample(text, 'petrel_eventloop_delay_seconds', 'stat="max"') >= 0);
    assert.ok(sample(text, 'petrel_uptime_seconds') >= 0);
    assert.equal(sample(text, 'petrel_connections'), 0);
    const missing = await fetch(httpUrl(b, '/nothing'));
    assert.equal(missing.status, 404);
  });

  it('metrics - counters move as traffic flows: connections, sessions, messages by QoS, bytes, packets', async () => {
    await using b = await startBroker({ ...HTTP, sys_interval: 0 });
    const before = await scrape(b);
    assert.equal(sample(before, 'petrel_messages_received_total', 'qos="1"'), 0);
    assert.equal(sample(before, 'petrel_bytes_received_total'), 0);

    const sub = await b.client({
      clientId: 'm-sub',
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    await sub.subscribeAsync('m/#', { qos: 2 });
    const pub = await b.client({ clientId: 'm-pub' });
    const got = collect(sub, 6);
    for (const qos of [0, 1, 2, 1, 2, 2] as const) await pub.publishAsync('m/x', 'hello', { qos });
    await got;
    await pub.publishAsync('r/kept', 'retained', { qos: 1, retain: true });
    await pub.publishAsync('nobody/here', 'x', { qos: 1 });

    const t = await scrape(b);
    assert.equal(sample(t, 'petrel_connections'), 2);
    assert.equal(sample(t, 'petrel_connections_accepted_total'), 2);
    assert.equal(sample(t, 'petrel_sessions', 'state="online"'), 2);
    assert.equal(sample(t, 'petrel_subscriptions'), 1);
    assert.equal(sample(t, 'petrel_retained_messages'), 1);
    assert.equal(sample(t, 'petrel_messages_received_total', 'qos="0"'), 1);
    assert.equal(sample(t, 'petrel_messages_received_total', 'qos="1"'), 4);
    assert.equal(sample(t, 'petrel_messages_received_total', 'qos="2"'), 3);
    assert.equal(sample(t, 'petrel_messages_sent_total', 'qos="0"'), 1);
    assert.equal(sample(t, 'petrel_messages_sent_total', 'qos="1"'), 2);
    assert.equal(sample(t, 'petrel_messages_sent_total', 'qos="2"'), 3);
    assert.equal(sample(t, 'petrel_messages_dropped_total', 'reason="no_subscribers"'), 2);
    assert.equal(sample(t, 'petrel_packets_received_total', 'type="connect"'), 2);
    assert.equal(sample(t, 'petrel_packets_sent_total', 'type="connack"'), 2);
    assert.equal(sample(t, 'petrel_packets_received_total', 'type="publish"'), 8);
    assert.equal(sample(t, 'petrel_packets_received_total', 'type="subscribe"'), 1);
    assert.equal(sample(t, 'petrel_packets_received_total', 'type="pubrel"'), 3);
    assert.equal(sample(t, 'petrel_packets_sent_total', 'type="pubcomp"'), 3);
    assert.equal(sample(t, 'petrel_packets_sent_total', 'type="publish"'), 6);
    assert.ok(sample(t, 'petrel_bytes_received_total') > 8 * 12);
    assert.ok(sample(t, 'petrel_bytes_sent_total') > 6 * 12);

    // The subscriber goes away: its session stays offline and its QoS 1 messages are queued.
    sub.end(true);
    await new Promise<void>((resolve) => {
      const off = b.broker.hooks.on('client.disconnected', (c) => {
        if (c.clientId !== 'm-sub') return;
        off();
        resolve();
      });
    });
    const after = await scrape(b);
    assert.equal(sample(after, 'petrel_connections'), 1);
    assert.equal(sample(after, 'petrel_sessions', 'state="online"'), 1);
    assert.equal(sample(after, 'petrel_sessions', 'state="offline"'), 1);
  });

  it('metrics - authentication failures and refused $SYS publishes are counted', async () => {
    await using b = await startBroker(HTTP);
    b.broker.hooks.decide('client.authenticate', (req) =>
      req.username === 'bad'
        ? { result: 'deny', reasonCode: ReasonCode.BadUserNameOrPassword }
        : { result: 'ignore' },
    );
    const r = await b.raw(5);
    r.send({
      type: PacketType.Connect,
      protocolName: 'MQTT',
      protocolVersion: 5,
      clean: true,
      keepAlive: 0,
      clientId: 'x',
      username: 'bad',
      password: Buffer.from('p'),
    });
    assert.equal((await expectPacket(r, PacketType.Connack)).reasonCode, ReasonCode.BadUserNameOrPassword);
    const c = await connected(b, 5, 'ok');
    await subscribe(c, [opt('a', 0)]);
    await publish(c, '$SYS/broker/uptime', 'forever', 1);
    const t = await scrape(b);
    assert.equal(sample(t, 'petrel_auth_failures_total'), 1);
    assert.equal(sample(t, 'petrel_connections_rejected_total'), 1);
    assert.equal(sample(t, 'petrel_messages_dropped_total', 'reason="not_authorized"'), 1);
  });

  it('metrics - the HTTP listener stops with the server; http: null has none', async () => {
    const b = await startBroker(HTTP);
    const url = httpUrl(b, '/healthz');
    assert.equal((await fetch(url)).status, 200);
    await b.close();
    assert.equal(b.server.httpAddress(), undefined);
    await assert.rejects(fetch(url));
    await using off = await startBroker({ http: null });
    assert.equal(off.server.httpAddress(), undefined);
  });

  it('metrics - a port already in use makes listen() fail with the address in the error', async () => {
    await using a = await startBroker(HTTP);
    const port = a.server.httpAddress()!.port;
    await assert.rejects(
      startBroker({ http: { host: '127.0.0.1', port } }),
      /EADDRINUSE|address already in use/i,
    );
  });
});
