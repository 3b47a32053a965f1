import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect as netConnect } from 'node:net';
import { describe, it } from 'node:test';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import WebSocket from 'ws';
import { Decoder, encode, type Packet, PacketType } from '../../src/codec/index.js';
import type { ListenerConfig } from '../../src/config/index.js';
import { collect, connectPacket, startBroker, type TestBroker } from '../helpers/broker.js';
import { testCerts } from '../helpers/certs.js';

const certs = testCerts();

const wsListener = (over: Partial<Extract<ListenerConfig, { type: 'ws' }>> = {}): ListenerConfig => ({
  type: 'ws',
  host: '127.0.0.1',
  port: 0,
  path: '/mqtt',
  max_connections: 0,
  proxy_protocol: false,
  ...over,
});

const wssListener = (): ListenerConfig => ({
  type: 'wss',
  host: '127.0.0.1',
  port: 0,
  path: '/mqtt',
  max_connections: 0,
  proxy_protocol: false,
  cert: certs.serverCert,
  key: certs.serverKey,
  require_client_cert: false,
  use_cn_as_username: false,
  min_version: 'TLSv1.2',
});

async function wsClient(url: string, opts: IClientOptions, b: TestBroker): Promise<MqttClient> {
  const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  b.clients.push(c);
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
    c.once('close', () => reject(new Error('closed before CONNACK')));
  });
  return c;
}

/** A raw WebSocket client: sends our codec's bytes in whatever framing the test chooses, decodes replies. */
class RawWs {
  readonly inbox: Packet[] = [];
  readonly decoder = new Decoder({ protocolVersion: 5 });
  closeCode: number | undefined;
  private wake: (() => void) | undefined;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (d: Buffer) => {
      const err = this.decoder.feed(d, this.inbox);
      if (err) throw err;
      this.wake?.();
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      this.wake?.();
    });
    ws.on('error', () => {});
  }

  static async open(port: number, protocols: string[] = ['mqtt'], path = '/mqtt'): Promise<RawWs> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, protocols);
    await once(ws, 'open');
    return new RawWs(ws);
  }

  async next(ms = 2000): Promise<Packet> {
    const deadline = Date.now() + ms;
    for (;;) {
      const p = this.inbox.shift();
      if (p !== undefined) return p;
      if (this.closeCode !== undefined)
        throw new Error(`closed (${this.closeCode}) while waiting for a packet`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no packet within ${ms} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.wake = () => {
          clearTimeout(t);
          this.wake = undefined;
          r();
        };
      });
    }
  }

  async closed(ms = 2000): Promise<number> {
    if (this.closeCode !== undefined) return this.closeCode;
    const [code] = (await Promise.race([
      once(this.ws, 'close'),
      new Promise((_, rej) => setTimeout(() => rej(new Error('not closed in time')), ms)),
    ])) as [number];
    return code;
  }
}

describe('transport - websocket', () => {
  it('ws - mqtt.js over ws:// and wss:// exchange messages with a TCP client', async () => {
    await using b = await startBroker({
      listeners: [
        { type: 'tcp', host: '127.0.0.1', port: 0, max_connections: 0, proxy_protocol: false },
        wsListener(),
        wssListener(),
      ],
    });
    const [, ws, wss] = b.server.addresses();
    assert.ok(ws!.port > 0 && wss!.port > 0);
    const viaWs = await wsClient(`ws://127.0.0.1:${ws!.port}/mqtt`, { protocolVersion: 5 }, b);
    const viaWss = await wsClient(`wss://127.0.0.1:${wss!.port}/mqtt`, { ca: readFileSync(certs.ca) }, b);
    await viaWs.subscribeAsync('ws/#', { qos: 1 });
    await viaWss.subscribeAsync('ws/#', { qos: 1 });
    const a = collect(viaWs, 2);
    const c = collect(viaWss, 2);
    const tcp = await b.client();
    await tcp.publishAsync('ws/1', 'from tcp', { qos: 1 });
    await viaWss.publishAsync('ws/2', 'from wss', { qos: 1 });
    for (const got of [await a, await c]) {
      assert.deepEqual(got.map((m) => m.payload.toString()).sort(), ['from tcp', 'from wss']);
    }
  });

  it('ws - packets split over many frames and several packets in one frame are decoded [MQTT-6.0.0-2]', async () => {
    await using b = await startBroker({ listeners: [wsListener()] });
    const r = await RawWs.open(b.port);
    const connect = encode(connectPacket(5, { clientId: 'ws-split' }), 5);
    // CONNECT one byte per frame.
    for (const byte of connect) r.ws.send(Buffer.from([byte]));
    const ack = await r.next();
    assert.equal(ack.type, PacketType.Connack);
    // SUBSCRIBE + PUBLISH + PINGREQ in one frame.
    const three = Buffer.concat([
      encode(
        {
          type: PacketType.Subscribe,
          packetId: 1,
          subscriptions: [
            { topicFilter: 'split/t', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
          ],
        },
        5,
      ),
      encode(
        {
          type: PacketType.Publish,
          topic: 'split/t',
          payload: Buffer.from('one frame'),
          qos: 0,
          retain: false,
          dup: false,
        } as Packet,
        5,
      ),
      encode({ type: PacketType.Pingreq }, 5),
    ]);
    r.ws.send(three);
    const types: number[] = [];
    for (let i = 0; i < 3; i++) types.push((await r.next()).type);
    assert.deepEqual(types.sort(), [PacketType.Publish, PacketType.Pingresp, PacketType.Suback].sort());
    r.ws.close();
  });

  it('ws - the mqtt, mqttv3.1 and mqttv5 subprotocols are accepted; another is not', async () => {
    await using b = await startBroker({ listeners: [wsListener()] });
    for (const proto of ['mqtt', 'mqttv3.1', 'mqttv5']) {
      const r = await RawWs.open(b.port, [proto]);
      assert.equal(r.ws.protocol, proto);
      r.ws.close();
    }
    const ws = new WebSocket(`ws://127.0.0.1:${b.port}/mqtt`, ['stomp']);
    const [err] = (await once(ws, 'error')) as [Error];
    assert.match(err.message, /protocol/i);
  });

  it('ws - a text frame closes the connection with 1003 [MQTT-6.0.0-1]', async () => {
    await using b = await startBroker({ listeners: [wsListener()] });
    const r = await RawWs.open(b.port);
    r.ws.send(encode(connectPacket(5, { clientId: 'ws-text' }), 5));
    assert.equal((await r.next()).type, PacketType.Connack);
    r.ws.send('this is text');
    assert.equal(await r.closed(), 1003);
  });

  it('ws - a wrong path gets HTTP 404 (upgrade and plain GET)', async () => {
    await using b = await startBroker({ listeners: [wsListener()] });
    const ws = new WebSocket(`ws://127.0.0.1:${b.port}/other`, ['mqtt']);
    const [, res] = (await once(ws, 'unexpected-response')) as [unknown, { statusCode: number }];
    assert.equal(res.statusCode, 404);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: b.port, path: '/nope' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 404);
  });

  it('ws - a connection that never completes the HTTP upgrade is closed after connect_timeout', async () => {
    await using b = await startBroker({ listeners: [wsListener()], mqtt: { connect_timeout: 1 } });
    const s = netConnect({ host: '127.0.0.1', port: b.port });
    await once(s, 'connect');
    s.write('GET /mqtt HTTP/1.1\r\nHost: x\r\n'); // headers never finished
    const started = Date.now();
    await Promise.race([
      once(s, 'close'),
      new Promise((_, rej) => setTimeout(() => rej(new Error('still open after 3 s')), 3000)),
    ]);
    assert.ok(Date.now() - started >= 500, 'closed before the timeout');
  });

  it('ws - WebSocket ping is answered with pong', async () => {
    await using b = await startBroker({ listeners: [wsListener()] });
    const r = await RawWs.open(b.port);
    r.ws.ping(Buffer.from('are you there'));
    const [data] = (await once(r.ws, 'pong')) as [Buffer];
    assert.equal(data.toString(), 'are you there');
    r.ws.close();
  });
});
