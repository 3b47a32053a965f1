// A real browser: headless Chromium (Debian `chromium`, driven by playwright-core) loads a page served by
// this test, which uses mqtt.js's browser bundle to connect over ws://, subscribe, publish and see its message.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import { startBroker } from '../helpers/broker.js';

const BUNDLE = readFileSync(new URL('../../node_modules/mqtt/dist/mqtt.min.js', import.meta.url));

const PAGE = `<!doctype html><html><head><script src="/mqtt.min.js"></script></head><body><script>
window.runMqtt = (url) => new Promise((resolve, reject) => {
  const c = mqtt.connect(url, { protocolVersion: 5, reconnectPeriod: 0, clientId: 'chromium' });
  const t = setTimeout(() => reject(new Error('timeout')), 8000);
  c.on('error', (e) => reject(new Error(String(e && e.message))));
  c.on('message', (topic, payload) => {
    clearTimeout(t);
    c.end();
    resolve({ topic, payload: payload.toString() });
  });
  c.on('connect', () => c.subscribe('browser/t', { qos: 1 }, (err) => {
    if (err) return reject(err);
    c.publish('browser/t', 'hello from chromium', { qos: 1 });
  }));
});
</script></body></html>`;

describe('transport - browser', () => {
  it('browser - headless Chromium with mqtt.js connects over ws://, subscribes, publishes and receives', async () => {
    await using b = await startBroker({
      listeners: [
        { type: 'ws', host: '127.0.0.1', port: 0, path: '/mqtt', max_connections: 0, proxy_protocol: false },
      ],
    });
    const connected: string[] = [];
    b.broker.hooks.on('client.connected', (c) => connected.push(`${c.clientId}@${c.listener}`));
    const http = createServer((req, res) => {
      if (req.url === '/mqtt.min.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' });
        res.end(BUNDLE);
      } else {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end(PAGE);
      }
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const pagePort = (http.address() as AddressInfo).port;
    assert.ok(pagePort > 0);
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${pagePort}/`);
      const got = await page.evaluate(
        (url) => (globalThis as unknown as { runMqtt(u: string): Promise<unknown> }).runMqtt(url),
        `ws://127.0.0.1:${b.port}/mqtt`,
      );
      assert.deepEqual(got, { topic: 'browser/t', payload: 'hello from chromium' });
      assert.deepEqual(connected, [`chromium@ws:0`]);
    } finally {
      await browser.close();
      http.close();
    }
  });
});
