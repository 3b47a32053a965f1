import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { collect, startBroker, type TestBroker } from '../helpers/broker.js';

// Interop smoke tests with third-party clients: Debian's mosquitto_pub / mosquitto_sub (libmosquitto)
// and Python paho-mqtt (python3-paho-mqtt). CI installs both; a case is skipped only when its binary is absent.

const MOSQUITTO_PUB = '/usr/bin/mosquitto_pub';
const MOSQUITTO_SUB = '/usr/bin/mosquitto_sub';
const PYTHON = '/usr/bin/python3';

const noMosquitto =
  existsSync(MOSQUITTO_PUB) && existsSync(MOSQUITTO_SUB) ? false : 'mosquitto-clients is not installed';
const noPaho = (() => {
  if (!existsSync(PYTHON)) return `${PYTHON} is not installed`;
  const r = spawnSync(PYTHON, ['-c', 'import paho.mqtt.client'], { encoding: 'utf8' });
  return r.status === 0 ? false : 'python3-paho-mqtt is not installed';
})();

/** Resolves once the broker has a subscription from `clientId` (a latch on the broker's hook). */
function subscribed(b: TestBroker, clientId: string, ms = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      off();
      reject(new Error(`${clientId} did not subscribe within ${ms} ms`));
    }, ms);
    const off = b.broker.hooks.on('session.subscribed', (id) => {
      if (id !== clientId) return;
      clearTimeout(t);
      off();
      resolve();
    });
  });
}

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a child to completion (killed after `ms`). */
function run(file: string, args: string[], ms = 10_000): Promise<Exit> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: ms, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts a long-running child and returns it with a promise of its exit and output. */
function start(file: string, args: string[], ms = 10_000): { child: ChildProcess; done: Promise<Exit> } {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  const done = new Promise<Exit>((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return { child, done };
}

async function pub(b: TestBroker, version: string, args: string[]): Promise<void> {
  const r = await run(MOSQUITTO_PUB, ['-h', '127.0.0.1', '-p', String(b.port), '-V', version, ...args]);
  assert.equal(r.code, 0, `mosquitto_pub ${args.join(' ')} failed: ${r.stderr}`);
}

describe('interop', { concurrency: true }, () => {
  for (const version of ['mqttv311', 'mqttv5', 'mqttv31'] as const) {
    it(`interop - mosquitto_sub -V ${version} receives QoS 0/1/2 messages from mosquitto_pub`, {
      skip: noMosquitto,
    }, async () => {
      await using b = await startBroker();
      const id = `msub-${version}`;
      const ready = subscribed(b, id);
      const sub = start(MOSQUITTO_SUB, [
        ...['-h', '127.0.0.1', '-p', String(b.port), '-V', version, '-i', id],
        ...['-t', 'mosq/#', '-q', '2', '-C', '3', '-F', '%t|%q|%r|%p'],
      ]);
      await ready;
      await pub(b, version, ['-t', 'mosq/q0', '-q', '0', '-m', 'zero']);
      await pub(b, version, ['-t', 'mosq/q1', '-q', '1', '-m', 'one']);
      await pub(b, version, ['-t', 'mosq/q2', '-q', '2', '-m', 'two']);
      const r = await sub.done;
      assert.equal(r.code, 0, `mosquitto_sub exited ${r.code}: ${r.stderr}`);
      assert.deepEqual(r.stdout.trim().split('\n'), [
        'mosq/q0|0|0|zero',
        'mosq/q1|1|0|one',
        'mosq/q2|2|0|two',
      ]);
    });
  }

  for (const version of ['mqttv311', 'mqttv5'] as const) {
    it(`interop - mosquitto_sub -V ${version} -C 2 gets a retained message from mosquitto_pub -r, then a live one`, {
      skip: noMosquitto,
    }, async () => {
      await using b = await startBroker();
      await pub(b, version, ['-t', 'ret/x', '-q', '1', '-r', '-m', 'stored']);
      const id = `mret-${version}`;
      const ready = subscribed(b, id);
      const sub = start(MOSQUITTO_SUB, [
        ...['-h', '127.0.0.1', '-p', String(b.port), '-V', version, '-i', id],
        ...['-t', 'ret/#', '-q', '1', '-C', '2', '-F', '%t|%q|%r|%p'],
      ]);
      await ready;
      await pub(b, version, ['-t', 'ret/y', '-q', '1', '-m', 'live']);
      const r = await sub.done;
      assert.equal(r.code, 0, `mosquitto_sub exited ${r.code}: ${r.stderr}`);
      assert.deepEqual(r.stdout.trim().split('\n'), ['ret/x|1|1|stored', 'ret/y|1|0|live']);
    });
  }

  it('interop - mosquitto_pub -V mqttv5 user properties and response topic reach mosquitto_sub -V mqttv5', {
    skip: noMosquitto,
  }, async () => {
    await using b = await startBroker();
    const ready = subscribed(b, 'mprops');
    const sub = start(MOSQUITTO_SUB, [
      ...['-h', '127.0.0.1', '-p', String(b.port), '-V', 'mqttv5', '-i', 'mprops'],
      ...['-t', 'props/#', '-q', '1', '-C', '1', '-F', '%t|%P|%R|%p'],
    ]);
    await ready;
    await pub(b, 'mqttv5', [
      ...['-t', 'props/a', '-q', '1', '-m', 'hi'],
      ...['-D', 'publish', 'user-property', 'k', 'v'],
      ...['-D', 'publish', 'response-topic', 'back/here'],
    ]);
    const r = await sub.done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'props/a|k:v|back/here|hi');
  });

  it('interop - an mqtt.js subscriber receives what mosquitto_pub publishes (QoS 2)', {
    skip: noMosquitto,
  }, async () => {
    await using b = await startBroker();
    const c = await b.client({ protocolVersion: 5, clientId: 'js-sub' });
    await c.subscribeAsync('mix/#', { qos: 2 });
    const got = collect(c, 1);
    await pub(b, 'mqttv311', ['-t', 'mix/a', '-q', '2', '-m', 'from mosquitto']);
    const [m] = await got;
    assert.equal(m!.topic, 'mix/a');
    assert.equal(m!.payload.toString(), 'from mosquitto');
    assert.equal(m!.packet.qos, 2);
  });

  // Python paho-mqtt (Debian 1.6.x): one client subscribes to paho/#, publishes QoS 0/1/2 to itself and
  // prints what it received as JSON; an mqtt.js subscriber checks the publishes independently.
  const PAHO_SCRIPT = `
import json, sys, threading
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
port, proto = int(sys.argv[1]), sys.argv[2]
v5 = proto == '5'
got, done, subscribed = [], threading.Event(), threading.Event()
c = mqtt.Client(client_id='paho-' + proto, protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
def on_connect(client, userdata, flags, rc, props=None):
    client.subscribe('paho/#', qos=2)
def on_subscribe(client, userdata, mid, granted, props=None):
    subscribed.set()
def on_message(client, userdata, m):
    ups = getattr(m.properties, 'UserProperty', None) if v5 else None
    got.append({'topic': m.topic, 'payload': m.payload.decode(), 'qos': m.qos, 'user': ups})
    if len(got) == 3:
        done.set()
c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
c.connect('127.0.0.1', port, keepalive=30)
c.loop_start()
if not subscribed.wait(5):
    sys.exit('no SUBACK')
for q in (0, 1, 2):
    props = None
    if v5:
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = [('n', str(q))]
    c.publish('paho/q%d' % q, 'm%d' % q, qos=q, properties=props).wait_for_publish()
if not done.wait(5):
    sys.exit('received %d of 3' % len(got))
c.disconnect()
c.loop_stop()
print(json.dumps(sorted(got, key=lambda g: g['topic'])))
`;

  for (const proto of ['311', '5'] as const) {
    it(`interop - Python paho-mqtt publishes and subscribes over MQTT ${proto === '5' ? '5.0' : '3.1.1'}`, {
      skip: noPaho,
    }, async () => {
      await using b = await startBroker();
      const js = await b.client({ protocolVersion: 5, clientId: `js-${proto}` });
      await js.subscribeAsync('paho/#', { qos: 2 });
      const seen = collect(js, 3, 8000);
      const r = await run(PYTHON, ['-c', PAHO_SCRIPT, String(b.port), proto]);
      assert.equal(r.code, 0, `paho script failed (${r.code}): ${r.stderr}${r.stdout}`);
      const got = JSON.parse(r.stdout) as { topic: string; payload: string; qos: number; user: unknown }[];
      assert.deepEqual(
        got.map((g) => [g.topic, g.payload, g.qos]),
        [
          ['paho/q0', 'm0', 0],
          ['paho/q1', 'm1', 1],
          ['paho/q2', 'm2', 2],
        ],
      );
      if (proto === '5') {
        assert.deepEqual(
          got.map((g) => g.user),
          [[['n', '0']], [['n', '1']], [['n', '2']]],
        );
      }
      const fromPaho = (await seen).map((m) => [m.topic, m.payload.toString(), m.packet.qos]);
      fromPaho.sort((x, y) => String(x[0]).localeCompare(String(y[0])));
      assert.deepEqual(fromPaho, [
        ['paho/q0', 'm0', 0],
        ['paho/q1', 'm1', 1],
        ['paho/q2', 'm2', 2],
      ]);
    });
  }
});
