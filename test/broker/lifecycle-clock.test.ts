import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Broker, type ClientHandle } from '../../src/broker/broker.js';
import type { Will } from '../../src/codec/index.js';
import type { Message } from '../../src/core/message.js';
import { FakeClock } from '../helpers/clock.js';

const DAY = 86_400;

function setup() {
  const clock = new FakeClock();
  const broker = new Broker(
    {
      maxQueuedMessages: 10,
      queueQos0Messages: false,
      queueDropPolicy: 'drop_oldest',
      retainAvailable: true,
      maxRetainedMessages: 0,
      maxRetainedPayload: 0,
    },
    clock,
  );
  const published: Message[] = [];
  broker.hooks.on('message.publish', (m) => published.push(m));
  const handle = (clientId: string): ClientHandle => ({ clientId, disconnect: () => {} });
  return { clock, broker, published, handle };
}

const will = (delay: number): Will => ({
  topic: 'wills/x',
  payload: Buffer.from('gone'),
  qos: 1,
  retain: false,
  properties: { willDelayInterval: delay },
});

describe('session lifecycle with a fake clock', () => {
  it('expiry - a 30-day session outlives setTimeout limits and ends exactly on time', () => {
    const { clock, broker, handle } = setup();
    const h = handle('c1');
    const { session } = broker.openSession('c1', false, 30 * DAY, h);
    broker.closeConnection(session, h, undefined);
    clock.advance(30 * DAY * 1000 - 1);
    assert.ok(broker.sessions.has('c1'), 'still there 1 ms before expiry');
    clock.advance(1);
    assert.ok(!broker.sessions.has('c1'), 'gone at expiry');
    assert.equal(broker.stats['sessions.expired'], 1);
  });

  it('expiry - 0xFFFFFFFF never expires (MQTT 5.0 §3.1.2.11.2)', () => {
    const { clock, broker, handle } = setup();
    const h = handle('c1');
    const { session } = broker.openSession('c1', false, 0xffffffff, h);
    broker.closeConnection(session, h, undefined);
    assert.equal(clock.pending, 0);
    clock.advance(400 * DAY * 1000);
    assert.ok(broker.sessions.has('c1'));
  });

  it('will - delay shorter than expiry: published when the delay ends [MQTT-3.1.3-9]', () => {
    const { clock, broker, published, handle } = setup();
    const h = handle('c1');
    const { session } = broker.openSession('c1', false, 2 * DAY, h);
    broker.closeConnection(session, h, will(DAY));
    clock.advance(DAY * 1000 - 1);
    assert.equal(published.length, 0);
    clock.advance(1);
    assert.equal(published.length, 1);
    assert.equal(published[0]!.topic, 'wills/x');
    assert.ok(broker.sessions.has('c1'), 'the session outlives its will');
  });

  it('will - expiry shorter than delay: published when the session ends', () => {
    const { clock, broker, published, handle } = setup();
    const h = handle('c1');
    const { session } = broker.openSession('c1', false, 10, h);
    broker.closeConnection(session, h, will(DAY));
    clock.advance(9_999);
    assert.equal(published.length, 0);
    clock.advance(1);
    assert.equal(published.length, 1);
    assert.ok(!broker.sessions.has('c1'));
  });

  it('will - a new connection before the delay ends cancels it [MQTT-3.1.2-10]', () => {
    const { clock, broker, published, handle } = setup();
    const h = handle('c1');
    const { session } = broker.openSession('c1', false, DAY, h);
    broker.closeConnection(session, h, will(60));
    clock.advance(30_000);
    const again = broker.openSession('c1', false, DAY, handle('c1'));
    assert.equal(again.present, true);
    clock.advance(DAY * 1000 * 2);
    assert.equal(published.length, 0);
  });
});
