import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from 'node:tls';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { ListenerConfig } from '../../src/config/index.js';
import { loadConfig, parseConfig } from '../../src/config/index.js';
import type { AuthenticateRequest } from '../../src/hooks/hooks.js';
import { collect, startBroker, type TestBroker } from '../helpers/broker.js';
import { testCerts, tlsListener as tlsListenerOf } from '../helpers/certs.js';

const certs = testCerts();

const tlsListener = (over: Partial<Extract<ListenerConfig, { type: 'tls' }>> = {}) =>
  tlsListenerOf(certs, over);

/** An mqtt.js client over TLS that trusts the test CA; resolves on CONNACK, rejects on error or close. */
async function mqtts(b: TestBroker, opts: IClientOptions = {}): Promise<MqttClient> {
  const c = mqtt.connect(`mqtts://127.0.0.1:${b.port}`, {
    ca: readFileSync(certs.ca),
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...opts,
  });
  b.clients.push(c);
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
    c.once('close', () => reject(new Error('closed before CONNACK')));
  });
  return c;
}

/** Resolves with the TLS socket once the handshake is done, or rejects with the failure. */
function handshake(port: number, opts: ConnectionOptions = {}): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca: readFileSync(certs.ca), ...opts }, () => resolve(s));
    s.once('error', reject);
    s.once('close', () => reject(new Error('closed during handshake')));
  });
}

/** A mutual-TLS refusal shows up as an error or a close before any MQTT data: resolves with its message. */
async function refused(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  throw new Error('expected the connection to be refused');
}

describe('transport - tls', () => {
  it('tls - mqtt.js publishes and subscribes over TLS, verifying the server certificate', async () => {
    await using b = await startBroker({ listeners: [tlsListener()] });
    const sub = await mqtts(b);
    await sub.subscribeAsync('tls/t', { qos: 1 });
    const got = collect(sub, 1);
    const pub = await mqtts(b);
    await pub.publishAsync('tls/t', 'over tls', { qos: 1 });
    const [m] = await got;
    assert.equal(m!.payload.toString(), 'over tls');
  });

  it('tls - mosquitto_sub --cafile receives a message over TLS', async () => {
    await using b = await startBroker({ listeners: [tlsListener()] });
    const subscribed = new Promise<void>((r) => b.broker.hooks.on('session.subscribed', () => r()));
    const p = spawn(
      'mosquitto_sub',
      [
        '-h',
        '127.0.0.1',
        '-p',
        String(b.port),
        '--cafile',
        certs.ca,
        '-t',
        'mosq/tls',
        '-C',
        '1',
        '-W',
        '10',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const exited = once(p, 'exit');
    try {
      await Promise.race([subscribed, exited.then(() => Promise.reject(new Error(`mosquitto_sub: ${err}`)))]);
      const pub = await mqtts(b);
      await pub.publishAsync('mosq/tls', 'hello mosquitto', { qos: 1 });
      const [code] = await exited;
      assert.equal(code, 0, err);
      assert.equal(out.trim(), 'hello mosquitto');
    } finally {
      p.kill();
    }
  });

  it('tls - mutual TLS: mosquitto_pub with --cert/--key is accepted; without a certificate it is refused', async () => {
    await using b = await startBroker({ listeners: [tlsListener({ require_client_cert: true })] });
    const sub = await mqtts(b, { cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey) });
    await sub.subscribeAsync('mtls/t');
    const got = collect(sub, 1);
    const run = (extra: string[]) => {
      const p = spawn(
        'mosquitto_pub',
        [
          '-h',
          '127.0.0.1',
          '-p',
          String(b.port),
          '--cafile',
          certs.ca,
          '-t',
          'mtls/t',
          '-m',
          'mtls',
          ...extra,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let err = '';
      p.stderr.on('data', (d: Buffer) => {
        err += d.toString();
      });
      return once(p, 'exit').then(([code]) => ({ code: code as number, err }));
    };
    const ok = await run(['--cert', certs.clientCert, '--key', certs.clientKey]);
    assert.equal(ok.code, 0, ok.err);
    assert.equal((await got)[0]!.payload.toString(), 'mtls');
    const bad = await run([]);
    assert.notEqual(bad.code, 0, 'mosquitto_pub without a client certificate must fail');
  });

  it('tls - mutual TLS: no certificate, or one from another CA, is refused at the handshake', async () => {
    await using b = await startBroker({ listeners: [tlsListener({ require_client_cert: true })] });
    const accepted: string[] = [];
    b.broker.hooks.on('client.connected', (c) => accepted.push(c.clientId));
    await refused(mqtts(b, { clientId: 'no-cert' }));
    await refused(
      mqtts(b, { clientId: 'rogue', cert: readFileSync(certs.rogueCert), key: readFileSync(certs.rogueKey) }),
    );
    const ok = await mqtts(b, {
      clientId: 'alice-ok',
      cert: readFileSync(certs.clientCert),
      key: readFileSync(certs.clientKey),
    });
    assert.ok(ok.connected);
    assert.deepEqual(accepted, ['alice-ok']);
  });

  it('tls - use_cn_as_username: the certificate CN is the username the authenticate hook sees', async () => {
    await using b = await startBroker({
      listeners: [tlsListener({ require_client_cert: true, use_cn_as_username: true })],
    });
    const seen: AuthenticateRequest[] = [];
    b.broker.hooks.decide('client.authenticate', (req) => {
      seen.push(req);
      return req.username === 'alice' ? { result: 'allow' } : { result: 'deny' };
    });
    const c = await mqtts(b, {
      username: 'not-alice',
      password: 'x',
      cert: readFileSync(certs.clientCert),
      key: readFileSync(certs.clientKey),
    });
    assert.ok(c.connected);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.username, 'alice');
    assert.equal(seen[0]!.certCommonName, 'alice');
    assert.equal(seen[0]!.listener, 'tls:0');
  });

  it('tls - min_version TLSv1.3 refuses a TLS 1.2 client', async () => {
    await using b = await startBroker({ listeners: [tlsListener({ min_version: 'TLSv1.3' })] });
    const msg = await refused(handshake(b.port, { maxVersion: 'TLSv1.2' }));
    assert.match(msg, /version|alert|closed/i);
    const s = await handshake(b.port);
    assert.equal(s.getProtocol(), 'TLSv1.3');
    s.destroy();
  });

  it('tls - reloadTls() serves new certificate files to new handshakes without dropping connections', async () => {
    const dir = certs.dir;
    const cert = join(dir, 'reload.pem');
    const key = join(dir, 'reload.key');
    copyFileSync(certs.serverCert, cert);
    copyFileSync(certs.serverKey, key);
    await using b = await startBroker({ listeners: [tlsListener({ cert, key })] });
    const before = await handshake(b.port);
    assert.equal(before.getPeerCertificate().subject.CN, 'localhost');
    before.destroy();
    const sub = await mqtts(b);
    await sub.subscribeAsync('reload/t');
    const next = certs.issueServer('petrel-reloaded');
    copyFileSync(next.cert, cert);
    copyFileSync(next.key, key);
    assert.equal(b.server.reloadTls(), 1);
    const after = await handshake(b.port);
    assert.equal(after.getPeerCertificate().subject.CN, 'petrel-reloaded');
    after.destroy();
    // The connection made before the reload still works.
    const got = collect(sub, 1);
    const pub = await mqtts(b);
    await pub.publishAsync('reload/t', 'still here');
    assert.equal((await got)[0]!.payload.toString(), 'still here');
    assert.ok(sub.connected);
  });

  it('tls - at start-up (loadConfig) a missing certificate file is an error naming the file, line and key', () => {
    const yaml = `listeners:\n  - type: tls\n    port: 0\n    cert: ${certs.serverCert}\n    key: ${join(certs.dir, 'nope.key')}\n`;
    assert.throws(
      () => {
        const file = join(certs.dir, 'petrel.yaml');
        writeFileSync(file, yaml);
        loadConfig({ file });
      },
      (e: Error) => {
        assert.match(e.message, /petrel\.yaml:5/);
        assert.match(
          e.message,
          /listeners\[0\]\.key: cannot read private key file ".*nope\.key": no such file/,
        );
        return true;
      },
    );
  });

  it('tls - relative certificate paths resolve against the config file folder', () => {
    const yaml = 'listeners:\n  - { type: wss, port: 0, cert: server.pem, key: server.key, ca: ca.pem }\n';
    const c = parseConfig(yaml, join(certs.dir, 'petrel.yaml'));
    const l = c.listeners[0]!;
    assert.equal(l.type, 'wss');
    if (l.type !== 'wss') return;
    assert.equal(l.cert, certs.serverCert);
    assert.equal(l.ca, certs.ca);
    assert.equal(l.path, '/mqtt');
    assert.equal(l.min_version, 'TLSv1.2');
  });
});
