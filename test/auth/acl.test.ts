import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { PacketType } from '../../src/codec/index.js';
import type { ListenerConfig } from '../../src/config/index.js';
import { type ConfigPatch, type RawClient, startBroker } from '../helpers/broker.js';
import { testCerts, tlsListener } from '../helpers/certs.js';
import {
  connected,
  connectOk,
  expectPacket,
  opt,
  publish,
  settle,
  subscribe,
  versions,
} from '../helpers/raw.js';
import { security as securityOf } from '../helpers/security.js';

const dir = mkdtempSync(join(tmpdir(), 'petrel-acl-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const security = (yaml: string): ConfigPatch => securityOf(yaml, dir);

const RULES = `acl:
  superusers: [admin]
  rules:
    - { deny: all, topic: "secret/#" }
    - { deny: subscribe, topic: "test/nosubscribe" }
    - { allow: all, topic: "devices/\${clientid}/#" }
    - { allow: all, topic: "#" }
`;

describe('acl - subscribe', () => {
  test('acl - subscribe: denied filters get 0x87 (v5) / 0x80 (3.1.1); the filter inside $share is checked', async () => {
    await using b = await startBroker(security(RULES));
    for (const v of [5, 4] as const) {
      const r = await connected(b, v, `s${v}`);
      const ack = await subscribe(r, [
        opt('public/x', 1),
        opt('secret/x', 1),
        opt('secret/+/y', 1),
        opt('$share/g/secret/#', 1),
        opt('$share/g/public/#', 1),
        opt('test/nosubscribe', 1),
      ]);
      const no = v === 5 ? 0x87 : 0x80;
      assert.deepEqual(ack.reasonCodes, [1, no, no, no, 1, no]);
    }
  });

  test('acl - subscribe: #, +/x and $share/g/# are granted but never deliver denied topics (live or retained)', async () => {
    await using b = await startBroker(security(RULES));
    const admin = await connected(b, 5, { clientId: 'adm', username: 'admin' });
    await publish(admin, 'secret/old', 'retained', 1, { retain: true });
    await publish(admin, 'public/old', 'retained', 1, { retain: true });
    const r = await connected(b, 5, 'wide');
    const ack = await subscribe(r, [opt('#', 0), opt('+/x', 0), opt('$share/g/#', 0)]);
    assert.deepEqual(ack.reasonCodes, [0, 0, 0]);
    await publish(admin, 'secret/x', 'no', 0);
    await publish(admin, 'test/nosubscribe', 'no', 0);
    await publish(admin, 'public/x', 'yes', 0);
    await settle(admin);
    const got = (await settle(r)).map((p) => (p.type === PacketType.Publish ? p.topic : `type ${p.type}`));
    assert.ok(!got.some((t) => t.startsWith('secret/') || t === 'test/nosubscribe'), JSON.stringify(got));
    assert.ok(got.includes('public/old') && got.includes('public/x'), JSON.stringify(got));
  });

  test('acl - subscribe: acl.suback_deny_code 128 answers 0x80 to MQTT 5 clients', async () => {
    await using b = await startBroker(security(`${RULES}  suback_deny_code: 128\n`));
    const r = await connected(b, 5, 'x');
    const ack = await subscribe(r, [opt('test/nosubscribe', 0)]);
    assert.deepEqual(ack.reasonCodes, [0x80]);
  });

  test('acl - subscribe: $SYS is for superusers only while an ACL is active; superusers bypass rules', async () => {
    await using b = await startBroker(security(RULES));
    const r = await connected(b, 5, { clientId: 'u', username: 'user' });
    assert.deepEqual((await subscribe(r, [opt('$SYS/#', 0)])).reasonCodes, [0x87]);
    const a = await connected(b, 5, { clientId: 'a', username: 'admin' });
    assert.deepEqual((await subscribe(a, [opt('$SYS/#', 0), opt('secret/#', 0)])).reasonCodes, [0, 0]);
  });

  test('acl - subscribe: __proto__ and constructor client ids and topic levels are ordinary strings', async () => {
    await using b = await startBroker(security(RULES));
    for (const id of ['__proto__', 'constructor']) {
      const r = await connected(b, 5, id);
      const ack = await subscribe(r, [
        opt(`devices/${id}/#`, 0),
        opt('__proto__/constructor', 0),
        opt('secret/__proto__', 0),
      ]);
      assert.deepEqual(ack.reasonCodes, [0, 0, 0x87]);
    }
  });
});

describe('acl - publish', () => {
  test('acl - publish: denied PUBLISH gets PUBACK 0x87 (v5) and is not delivered; 3.1.1 is acked and dropped', async () => {
    await using b = await startBroker(security(RULES));
    const admin = await connected(b, 5, { clientId: 'adm', username: 'admin' });
    await subscribe(admin, 'secret/#', 1);
    const r5 = await connected(b, 5, 'p5');
    r5.send({
      type: PacketType.Publish,
      topic: 'secret/a',
      payload: Buffer.from('x'),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 7,
    });
    const ack = await expectPacket(r5, PacketType.Puback);
    assert.equal(ack.reasonCode, 0x87);
    const r4 = await connected(b, 4, 'p4');
    await publish(r4, 'secret/b', 'x', 1);
    await publish(r4, 'secret/c', 'x', 0);
    assert.deepEqual(await settle(admin), []);
    assert.equal(r4.closed, false);
  });

  test('acl - publish: acl.deny_action disconnect closes a 3.1.1 publisher [MQTT-3.3.5-2]', async () => {
    await using b = await startBroker(security(`${RULES}  deny_action: disconnect\n`));
    const r = await connected(b, 4, 'p');
    r.send({
      type: PacketType.Publish,
      topic: 'secret/a',
      payload: Buffer.from('x'),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 1,
    });
    assert.equal(await r.waitClosed(), true);
  });

  test('acl - publish: a retained message on a denied topic is never stored for later subscribers', async () => {
    await using b = await startBroker(security(RULES));
    const r = await connected(b, 5, 'p');
    await publish(r, 'secret/r', 'x', 1, { retain: true });
    const admin = await connected(b, 5, { clientId: 'adm', username: 'admin' });
    await subscribe(admin, 'secret/#', 1);
    assert.deepEqual(await settle(admin), []);
  });
});

describe('acl - wills', () => {
  test('acl - wills: a will on a denied topic or under $SYS refuses the CONNECT (0x87 v5 / 5 for 3.1.1)', async () => {
    await using b = await startBroker(security(RULES));
    for (const [v, topic] of [
      [5, 'secret/will'],
      [4, 'secret/will'],
      [5, '$SYS/broker/fake'],
    ] as const) {
      const r = await b.raw(v);
      r.send({
        type: PacketType.Connect,
        protocolName: 'MQTT',
        protocolVersion: v,
        clean: true,
        keepAlive: 60,
        clientId: 'w',
        will: { topic, payload: Buffer.from('bye'), qos: 0, retain: false },
      });
      const ack = await expectPacket(r, PacketType.Connack);
      assert.equal(ack.reasonCode, 0x87, `${v} ${topic}`);
      assert.equal(await r.waitClosed(), true);
    }
    const ok = await b.raw(5);
    await connectOk(ok, {
      clientId: 'w2',
      will: { topic: 'public/will', payload: Buffer.from('bye'), qos: 0, retain: false },
    });
  });
});

describe('acl - file', () => {
  test('acl - file: Mosquitto acl_file users and patterns apply; no_match denies', async () => {
    const f = join(dir, 'acl.conf');
    writeFileSync(f, 'user alice\ntopic readwrite alice/#\npattern read devices/%c/#\n');
    await using b = await startBroker(security(`acl:\n  file: ${f}\n`));
    const r = await connected(b, 5, { clientId: 'd1', username: 'alice' });
    const ack = await subscribe(r, [
      opt('alice/x', 0),
      opt('devices/d1/#', 0),
      opt('devices/d2/#', 0),
      opt('bob/x', 0),
    ]);
    assert.deepEqual(ack.reasonCodes, [0, 0, 0x87, 0x87]);
    writeFileSync(f, 'user alice\ntopic readwrite bob/#\n');
    b.server.security.reload();
    assert.deepEqual((await subscribe(r, [opt('alice/y', 0), opt('bob/y', 0)], 2)).reasonCodes, [0x87, 0]);
  });
});

describe('acl - ${cert_cn} over TLS', () => {
  const certs = testCerts();
  const dev1 = certs.issueClient('dev1');
  const dev2 = certs.issueClient('dev2');
  const CERT_RULES =
    'acl:\n  rules:\n    - { allow: all, topic: "devices/${cert_cn}/#" }\n  no_match: deny\n';

  /** A TLS listener that trusts the test CA and asks for client certificates as `over` says. */
  const tlsBroker = (over: Partial<Extract<ListenerConfig, { type: 'tls' }>>) =>
    startBroker({
      ...security(CERT_RULES),
      listeners: [tlsListener(certs, over)],
    });

  const tlsOpts = (c?: { cert: string; key: string }) => ({
    ca: readFileSync(certs.ca),
    ...(c !== undefined ? { cert: readFileSync(c.cert), key: readFileSync(c.key) } : {}),
  });

  /** PUBLISH QoS 1 and the PUBACK's reason code (3.1.1 PUBACKs have none: 0). */
  const pubAck = async (r: RawClient, topic: string, packetId: number): Promise<number> => {
    r.send({
      type: PacketType.Publish,
      topic,
      payload: Buffer.from('x'),
      qos: 1,
      retain: false,
      dup: false,
      packetId,
    });
    const ack = await expectPacket(r, PacketType.Puback);
    assert.equal(ack.packetId, packetId);
    return ack.reasonCode ?? 0;
  };

  for (const { v, name } of versions(5, 4)) {
    test(`acl - \${cert_cn} over TLS (${name}): CN=dev1 may use devices/dev1/#, not devices/dev2/# (username dev2 changes nothing)`, async () => {
      await using b = await tlsBroker({ require_client_cert: true });
      const watcher = await b.rawTls(v, tlsOpts(dev2));
      await connectOk(watcher, { clientId: 'w2' });
      assert.deepEqual((await subscribe(watcher, [opt('devices/dev2/#', 1)])).reasonCodes, [1]);

      const r = await b.rawTls(v, tlsOpts(dev1));
      await connectOk(r, { clientId: 'dev2', username: 'dev2' });
      const no = v === 5 ? 0x87 : 0x80;
      const suback = await subscribe(r, [
        opt('devices/dev1/#', 1),
        opt('devices/dev2/#', 1),
        opt('devices/+/x', 1),
      ]);
      assert.deepEqual(suback.reasonCodes, [1, no, no]);
      // Allowed: delivered back to its own subscription and acknowledged with 0x00.
      r.send({
        type: PacketType.Publish,
        topic: 'devices/dev1/x',
        payload: Buffer.from('x'),
        qos: 1,
        retain: false,
        dup: false,
        packetId: 11,
      });
      const got = [await r.next(), await r.next()];
      const own = got.find((p) => p.type === PacketType.Publish);
      const ack = got.find((p) => p.type === PacketType.Puback);
      assert.equal(own?.type === PacketType.Publish && own.topic, 'devices/dev1/x', JSON.stringify(got));
      assert.equal(ack?.type === PacketType.Puback && (ack.reasonCode ?? 0), 0, JSON.stringify(got));
      // Denied: v5 PUBACK 0x87; 3.1.1 acknowledged and dropped (acl.deny_action: ignore).
      assert.equal(await pubAck(r, 'devices/dev2/x', 12), v === 5 ? 0x87 : 0);
      assert.deepEqual(await settle(r), []);
      // Nothing reached dev2's subscriber.
      assert.deepEqual(await settle(watcher), []);
      assert.ok(!r.closed);
    });
  }

  test('acl - ${cert_cn} over TLS: without a verified certificate the placeholder matches nothing (no_match: deny)', async () => {
    // use_cn_as_username asks for a certificate without requiring one.
    await using b = await tlsBroker({ use_cn_as_username: true });
    const anon = await b.rawTls(5, tlsOpts());
    await connectOk(anon, { clientId: 'dev1' });
    assert.deepEqual((await subscribe(anon, [opt('devices/dev1/#', 1)])).reasonCodes, [0x87]);
    assert.equal(await pubAck(anon, 'devices/dev1/x', 21), 0x87);
    const withCert = await b.rawTls(5, tlsOpts(dev1));
    await connectOk(withCert, { clientId: 'c1' });
    assert.deepEqual((await subscribe(withCert, [opt('devices/dev1/#', 1)])).reasonCodes, [1]);
  });
});
