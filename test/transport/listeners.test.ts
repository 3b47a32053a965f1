import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import mqtt from 'mqtt';
import { PacketType, type ProtocolVersion } from '../../src/codec/index.js';
import { defaultConfig } from '../../src/config/index.js';
import { connectPacket, startBroker } from '../helpers/broker.js';
import { testCerts } from '../helpers/certs.js';
import { connectOk, expectPacket, versions } from '../helpers/raw.js';

describe('transport - max_connections', () => {
  for (const { v, name } of versions(3, 4, 5)) {
    it(`max_connections - past the limit a CONNECT gets CONNACK ${v === 5 ? '0x97' : '0x03'}, then close (${name})`, async () => {
      await using b = await startBroker({
        listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0, max_connections: 2, proxy_protocol: false }],
      });
      const a = await b.raw(v);
      await connectOk(a, 'first');
      const c = await b.raw(v);
      await connectOk(c, 'second');
      const over = await b.raw(v);
      const wire = once(over.socket, 'data') as Promise<[Buffer]>;
      over.send(connectPacket(v as ProtocolVersion, { clientId: 'third' }));
      await expectPacket(over, PacketType.Connack);
      const [bytes] = await wire;
      // v5: 0x97 Quota exceeded (+ Reason String); 3.x: return code 0x03 Server unavailable.
      if (v === 5) assert.equal(bytes[3], 0x97);
      else assert.deepEqual([...bytes], [0x20, 0x02, 0x00, 0x03]);
      assert.ok(await over.waitClosed());
      assert.equal(b.broker.stats['connections.rejected'], 1);
      // A slot frees when a connection closes.
      a.destroy();
      await once(a.socket, 'close');
      const d = await b.raw(v);
      // The close may reach the listener a moment after our side sees it: retry a bounded number of times.
      let ok = false;
      for (let i = 0; i < 20 && !ok; i++) {
        const r = i === 0 ? d : await b.raw(v);
        r.send(connectPacket(v as ProtocolVersion, { clientId: `fourth-${i}` }));
        ok = (await expectPacket(r, PacketType.Connack)).reasonCode === 0;
      }
      assert.ok(ok, 'no connection admitted after one closed');
    });
  }

  it('max_connections - applies to WebSocket listeners too', async () => {
    await using b = await startBroker({
      listeners: [
        { type: 'ws', host: '127.0.0.1', port: 0, path: '/mqtt', max_connections: 1, proxy_protocol: false },
      ],
    });
    const url = `ws://127.0.0.1:${b.port}/mqtt`;
    const first = mqtt.connect(url, { reconnectPeriod: 0, protocolVersion: 5 });
    b.clients.push(first);
    await new Promise((r) => first.once('connect', r));
    const second = mqtt.connect(url, { reconnectPeriod: 0, protocolVersion: 5 });
    b.clients.push(second);
    const err = await new Promise<Error & { code?: number }>((r) => second.once('error', r));
    assert.equal(err.code, 0x97);
  });
});

describe('transport - a reset connection', () => {
  it('reset - a client whose TCP connection is reset (RST) loses it abnormally: its will goes out, its slot frees, the broker serves on [MQTT-3.1.2-8]', async () => {
    await using b = await startBroker({
      listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0, max_connections: 2, proxy_protocol: false }],
    });
    const watcher = await b.client({ clientId: 'watcher' });
    await watcher.subscribeAsync('wills/#', { qos: 1 });
    const will = new Promise<string>((r) => watcher.once('message', (t, m) => r(`${t}=${m.toString()}`)));
    const victim = await b.raw(4);
    victim.send(
      connectPacket(4, {
        clientId: 'victim',
        will: { topic: 'wills/victim', payload: Buffer.from('gone'), qos: 1, retain: false },
      }),
    );
    assert.equal((await expectPacket(victim, PacketType.Connack)).reasonCode, 0);
    victim.socket.resetAndDestroy();
    assert.equal(await will, 'wills/victim=gone');
    // Both slots were taken (watcher, victim): the reset one is free again.
    let ok = false;
    for (let i = 0; i < 20 && !ok; i++) {
      const r = await b.raw(4);
      r.send(connectPacket(4, { clientId: `after-${i}` }));
      ok = (await expectPacket(r, PacketType.Connack)).reasonCode === 0;
      if (!ok) await new Promise((res) => setTimeout(res, 10));
    }
    assert.ok(ok, 'the reset connection still holds its slot');
  });
});

describe('transport - defaults and the CLI', () => {
  it('defaults - without a config: TCP 127.0.0.1:1883 and WebSocket 127.0.0.1:8083 /mqtt', () => {
    const l = defaultConfig().listeners;
    assert.deepEqual(
      l.map((x) => [x.type, x.host, x.port, x.type === 'ws' ? x.path : undefined]),
      [
        ['tcp', '127.0.0.1', 1883, undefined],
        ['ws', '127.0.0.1', 8083, '/mqtt'],
      ],
    );
  });

  /** Spawns `petrel start ARGS` and collects its JSON log lines. */
  function start(args: string[]): {
    p: ChildProcess;
    lines: Record<string, unknown>[];
    wait(msg: string): Promise<Record<string, unknown>[]>;
  } {
    const CLI = new URL('../../src/cli/petrel.ts', import.meta.url).pathname;
    const p = spawn(process.execPath, ['--import', 'tsx', CLI, 'start', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: Record<string, unknown>[] = [];
    let buf = '';
    const waiters: (() => void)[] = [];
    p.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i = buf.indexOf('\n');
      while (i !== -1) {
        lines.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
        i = buf.indexOf('\n');
      }
      for (const w of waiters.splice(0)) w();
    });
    const wait = async (msg: string): Promise<Record<string, unknown>[]> => {
      for (let i = 0; i < 200; i++) {
        const found = lines.filter((l) => String(l.msg).startsWith(msg));
        if (found.length > 0) return found;
        if (p.exitCode !== null || p.signalCode !== null) break;
        await Promise.race([new Promise<void>((r) => waiters.push(r)), once(p, 'exit')]);
      }
      throw new Error(`no "${msg}" log line: ${JSON.stringify(lines)}`);
    };
    return { p, lines, wait };
  }

  it('cli - start opens TCP and WebSocket listeners (--ws-port); mqtt.js connects over ws', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'petrel-ws-'));
    writeFileSync(
      join(dir, 'petrel.yaml'),
      'http: { host: 127.0.0.1, port: 0 }\nstorage: { type: memory }\n',
    );
    const s = start(['--config', join(dir, 'petrel.yaml'), '--port', '0', '--ws-port', '0']);
    try {
      const [ws] = await s.wait('listening on ws');
      assert.equal(ws!.host, '127.0.0.1');
      assert.ok(Number(ws!.port) > 0);
      await s.wait('listening on tcp');
      const c = mqtt.connect(`ws://127.0.0.1:${ws!.port}/mqtt`, { reconnectPeriod: 0 });
      await new Promise((r) => c.once('connect', r));
      c.end(true);
    } finally {
      s.p.kill('SIGKILL');
    }
  });

  it('cli - SIGHUP reloads TLS certificate files and the broker keeps running', async () => {
    const certs = testCerts();
    const dir = mkdtempSync(join(tmpdir(), 'petrel-hup-'));
    writeFileSync(
      join(dir, 'petrel.yaml'),
      `http: { host: 127.0.0.1, port: 0 }\nstorage: { type: memory }\nlisteners:\n  - { type: tls, host: 127.0.0.1, port: 0, cert: ${certs.serverCert}, key: ${certs.serverKey} }\n`,
    );
    const s = start(['--config', join(dir, 'petrel.yaml')]);
    try {
      await s.wait('listening on tls');
      s.p.kill('SIGHUP');
      const [line] = await s.wait('tls_reloaded');
      assert.equal(line!.listeners, 1);
      assert.equal(s.p.exitCode, null);
    } finally {
      s.p.kill('SIGKILL');
    }
  });
});
