import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { ClientRequestArgs } from 'node:http';
import { connect as netConnect } from 'node:net';
import { Duplex, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { pino } from 'pino';
import WebSocket from 'ws';
import { encode, PacketType } from '../../src/codec/index.js';
import { defaultConfig, type ListenerConfig } from '../../src/config/index.js';
import type { ClientInfo } from '../../src/core/client-info.js';
import type { AuthorizeRequest } from '../../src/hooks/hooks.js';
import { PetrelServer } from '../../src/server/server.js';
import { parseProxyHeader } from '../../src/transport/proxy-protocol.js';
import { connectPacket, RawClient } from '../helpers/broker.js';
import { testCerts } from '../helpers/certs.js';
import { expectPacket } from '../helpers/raw.js';

const V2_SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

function v2(cmd: number, fam: number, body: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h[0] = 0x20 | cmd;
  h[1] = fam;
  h.writeUInt16BE(body.length, 2);
  return Buffer.concat([V2_SIG, h, body]);
}

function v2ipv4(src: string, sport: number, tlv = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(12);
  src.split('.').forEach((o, i) => {
    b[i] = Number(o);
  });
  b.set([127, 0, 0, 1], 4);
  b.writeUInt16BE(sport, 8);
  b.writeUInt16BE(1883, 10);
  return v2(1, 0x11, Buffer.concat([b, tlv]));
}

describe('transport - PROXY protocol parser', () => {
  it('proxy - v1 TCP4, TCP6 and UNKNOWN', () => {
    const a = parseProxyHeader(Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 51000 1883\r\nMQTT'));
    assert.deepEqual(a, {
      status: 'done',
      address: { remoteAddress: '203.0.113.7', remotePort: 51000 },
      length: 44,
    });
    const b = parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::7 2001:db8::1 4000 1883\r\n'));
    assert.deepEqual(b.status === 'done' && b.address, { remoteAddress: '2001:db8::7', remotePort: 4000 });
    const c = parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'));
    assert.deepEqual(c, { status: 'done', address: undefined, length: 15 });
  });

  it('proxy - v2 IPv4 (with TLVs), IPv6 and LOCAL', () => {
    const tlv = Buffer.from([0x04, 0x00, 0x02, 0xab, 0xcd]);
    const a = parseProxyHeader(Buffer.concat([v2ipv4('198.51.100.9', 40000, tlv), Buffer.from([0x10])]));
    assert.deepEqual(a, {
      status: 'done',
      address: { remoteAddress: '198.51.100.9', remotePort: 40000 },
      length: 16 + 12 + 5,
    });
    const body6 = Buffer.alloc(36);
    Buffer.from('20010db8000000000000000000000009', 'hex').copy(body6, 0);
    body6.writeUInt16BE(5555, 32);
    const b = parseProxyHeader(v2(1, 0x21, body6));
    assert.deepEqual(b.status === 'done' && b.address, { remoteAddress: '2001:db8::9', remotePort: 5555 });
    const c = parseProxyHeader(v2(0, 0x00, Buffer.alloc(0)));
    assert.deepEqual(c, { status: 'done', address: undefined, length: 16 });
  });

  it('proxy - every strict prefix of a valid header is partial', () => {
    for (const h of [Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), v2ipv4('1.2.3.4', 1)]) {
      for (let i = 0; i < h.length; i++) {
        assert.equal(parseProxyHeader(h.subarray(0, i)).status, 'partial', `prefix of ${i} bytes`);
      }
      assert.equal(parseProxyHeader(h).status, 'done');
    }
  });

  it('proxy - malformed headers are errors', () => {
    const bad = [
      Buffer.from('\x10\x0c\x00\x04MQTT'), // a CONNECT without a header
      Buffer.from('PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n'),
      Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n'),
      Buffer.from('PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n'),
      Buffer.from('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'),
      Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'),
      Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`),
      Buffer.concat([V2_SIG, Buffer.from([0x31, 0x11, 0, 12]), Buffer.alloc(12)]), // version 3
      Buffer.concat([V2_SIG, Buffer.from([0x22, 0x11, 0, 12]), Buffer.alloc(12)]), // command 2
      v2(1, 0x11, Buffer.alloc(4)), // IPv4 block too short
    ];
    for (const b of bad)
      assert.equal(parseProxyHeader(b).status, 'error', JSON.stringify(b.toString('latin1')));
  });
});

/** A broker with `listeners`, a debug logger captured in `logs`, and hooks recording what they see. */
async function proxyBroker(listeners: ListenerConfig[]) {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line !== '') logs.push(JSON.parse(line));
      cb();
    },
  });
  const config = { ...defaultConfig(), listeners, storage: { type: 'memory' as const } };
  const server = new PetrelServer(config, { logger: pino({ level: 'debug' }, sink) });
  const addrs = await server.listen();
  assert.ok(addrs.every((a) => a.port > 0));
  const connected: ClientInfo[] = [];
  const authorized: AuthorizeRequest[] = [];
  server.broker.hooks.on('client.connected', (c) => connected.push(c));
  server.broker.hooks.decide('client.authorize', (req) => {
    authorized.push(req);
    return req.client.remoteAddress === '203.0.113.7' ? { result: 'deny' } : { result: 'allow' };
  });
  return {
    server,
    ports: addrs.map((a) => a.port),
    logs,
    connected,
    authorized,
    async [Symbol.asyncDispose]() {
      await server.close();
    },
  };
}

const listener = (over: Partial<ListenerConfig> & { type: ListenerConfig['type'] }): ListenerConfig =>
  ({ host: '127.0.0.1', port: 0, max_connections: 0, proxy_protocol: true, ...over }) as ListenerConfig;

describe('transport - PROXY protocol on listeners', () => {
  it('proxy - v1 on tcp: the logged, hook-visible and ACL-visible address is the one in the header', async () => {
    await using b = await proxyBroker([listener({ type: 'tcp' })]);
    const r = await RawClient.connect(b.ports[0]!, 4);
    // Header and CONNECT in one write: the bytes after the header must reach the decoder.
    r.write(
      Buffer.concat([
        Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 51000 1883\r\n'),
        encode(connectPacket(4, { clientId: 'behind-haproxy' }), 4),
      ]),
    );
    await expectPacket(r, PacketType.Connack);
    assert.equal(b.connected[0]?.remoteAddress, '203.0.113.7');
    assert.equal(b.connected[0]?.remotePort, 51000);
    const log = b.logs.find((l) => l.msg === 'client_connected');
    assert.equal(log?.remote, '203.0.113.7:51000');
    // The ACL hook denies this address: its SUBSCRIBE gets the failure return code 0x80.
    r.send({
      type: PacketType.Subscribe,
      packetId: 1,
      subscriptions: [
        { topicFilter: 'x', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
    });
    const suback = await expectPacket(r, PacketType.Suback);
    assert.deepEqual(suback.reasonCodes, [0x80]);
    assert.equal(b.authorized[0]?.client.remoteAddress, '203.0.113.7');
    r.destroy();
  });

  it('proxy - v2 on tcp, header split over writes: the address is the one in the header', async () => {
    await using b = await proxyBroker([listener({ type: 'tcp' })]);
    const r = await RawClient.connect(b.ports[0]!, 5);
    const bytes = Buffer.concat([
      v2ipv4('198.51.100.9', 40000),
      encode(connectPacket(5, { clientId: 'v2' }), 5),
    ]);
    r.write(bytes.subarray(0, 7));
    r.write(bytes.subarray(7, 20));
    r.write(bytes.subarray(20));
    await expectPacket(r, PacketType.Connack);
    assert.equal(b.connected[0]?.remoteAddress, '198.51.100.9');
    assert.equal(b.connected[0]?.remotePort, 40000);
    r.destroy();
  });

  it('proxy - a malformed header, or none, closes the connection without an answer', async () => {
    await using b = await proxyBroker([listener({ type: 'tcp' })]);
    for (const first of [Buffer.from('PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n'), encode(connectPacket(4), 4)]) {
      const r = await RawClient.connect(b.ports[0]!, 4);
      r.write(first);
      assert.ok(await r.waitClosed(), 'connection left open');
      assert.deepEqual(r.pending(), []);
    }
    assert.equal(b.logs.filter((l) => l.msg === 'proxy_header_invalid').length, 2);
    assert.equal(b.connected.length, 0);
  });

  it('proxy - v1 before a TLS handshake and before a WebSocket upgrade', async () => {
    const certs = testCerts();
    await using b = await proxyBroker([
      listener({
        type: 'tls',
        cert: certs.serverCert,
        key: certs.serverKey,
        require_client_cert: false,
        use_cn_as_username: false,
        min_version: 'TLSv1.2',
      }),
      listener({ type: 'ws', path: '/mqtt' }),
    ]);
    // TLS: the header and the ClientHello in one write, so the bytes after the header must be handed to TLS.
    const raw = netConnect({ host: '127.0.0.1', port: b.ports[0]! });
    await once(raw, 'connect');
    let header: Buffer | undefined = Buffer.from('PROXY TCP4 192.0.2.10 10.0.0.1 1111 8883\r\n');
    const via = new Duplex({
      write(chunk: Buffer, _enc, cb) {
        raw.write(header === undefined ? chunk : Buffer.concat([header, chunk]), cb);
        header = undefined;
      },
      read() {},
    });
    raw.on('data', (c: Buffer) => via.push(c));
    raw.on('close', () => via.destroy());
    const t = tlsConnect({ socket: via, ca: readFileSync(certs.ca), servername: 'localhost' });
    await once(t, 'secureConnect');
    t.write(encode(connectPacket(4, { clientId: 'tls-proxied' }), 4));
    await once(t, 'data');
    // WebSocket: header, then the HTTP upgrade on the same connection.
    const ws = new WebSocket(`ws://127.0.0.1:${b.ports[1]}/mqtt`, ['mqtt'], {
      createConnection: (opts: ClientRequestArgs) => {
        const s = netConnect({ host: '127.0.0.1', port: Number(opts.port) });
        s.write('PROXY TCP4 192.0.2.20 10.0.0.1 2222 8083\r\n');
        return s;
      },
    });
    await once(ws, 'open');
    ws.send(encode(connectPacket(4, { clientId: 'ws-proxied' }), 4));
    await once(ws, 'message');
    const seen = Object.fromEntries(
      b.connected.map((c) => [c.clientId, `${c.remoteAddress}:${c.remotePort}`]),
    );
    assert.deepEqual(seen, { 'tls-proxied': '192.0.2.10:1111', 'ws-proxied': '192.0.2.20:2222' });
    t.destroy();
    ws.terminate();
  });
});
