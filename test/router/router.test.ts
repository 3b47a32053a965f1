import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { QoS } from '../../src/codec/index.js';
import type { Message } from '../../src/core/message.js';
import { Router } from '../../src/router/router.js';
import {
  type Delivery,
  Session,
  type SessionObserver,
  type Subscription,
} from '../../src/session/session.js';

// The Router on its own: the fold of one session's overlapping subscriptions, and routes nested inside a
// delivery (a hook or rule that publishes while the broker is delivering).

const observer: SessionObserver = { delivered() {}, acked() {}, dropped() {} };
const limits = { maxQueued: 100, maxQueuedBytes: 0, queueQos0: false, dropPolicy: 'drop_oldest' as const };
const session = (id: string): Session => new Session(id, 0, limits, observer, () => 0);

function sub(
  topicFilter: string,
  qos: QoS,
  subscriptionId?: number,
  retainAsPublished = false,
): Subscription {
  return {
    filter: topicFilter,
    topicFilter,
    group: undefined,
    qos,
    noLocal: false,
    retainAsPublished,
    retainHandling: 0,
    subscriptionId,
  };
}

function message(topic: string, qos: QoS = 2, retain = false): Message {
  return {
    topic,
    payload: Buffer.from('x'),
    qos,
    retain,
    properties: undefined,
    expiresAt: 0,
    from: 'publisher',
    receivedAt: 0,
  };
}

type Got = { to: string; topic: string; qos: QoS; retain: boolean; ids: number[] | undefined };
/** Records deliveries; Subscription Identifiers sorted (their order follows the trie's walk). */
const seen = (out: Got[]) => (s: Session, d: Delivery) =>
  out.push({
    to: s.clientId,
    topic: d.msg.topic,
    qos: d.qos,
    retain: d.retain,
    ids: d.subscriptionIds === undefined ? undefined : [...d.subscriptionIds].sort((x, y) => x - y),
  });

describe('router - fold and nesting', () => {
  it('router - overlapping subscriptions of one session give one delivery at the highest QoS with every Subscription Identifier [MQTT-3.3.4-4]', () => {
    const r = new Router();
    const a = session('a');
    const b = session('b');
    r.add(a, sub('t/#', 0, 1));
    r.add(a, sub('t/+', 2, 2, true));
    r.add(a, sub('t/x', 1, 3));
    r.add(b, sub('t/x', 1));
    for (let round = 0; round < 3; round++) {
      const out: Got[] = [];
      assert.equal(r.route(message('t/x', 2, true), seen(out)), 2);
      out.sort((p, q) => p.to.localeCompare(q.to));
      assert.deepEqual(out[0], { to: 'a', topic: 't/x', qos: 2, retain: true, ids: [1, 2, 3] });
      assert.deepEqual(out[1], { to: 'b', topic: 't/x', qos: 1, retain: false, ids: undefined });
    }
    // A later message folds afresh: nothing carries over from the one before.
    const out: Got[] = [];
    assert.equal(r.route(message('t/y', 0), seen(out)), 1);
    assert.deepEqual(out, [{ to: 'a', topic: 't/y', qos: 0, retain: false, ids: [1, 2] }]);
  });

  it('router - a route nested in a delivery keeps both messages apart, even for the same sessions', () => {
    const r = new Router();
    const sessions = ['a', 'b', 'c'].map(session);
    for (const [i, s] of sessions.entries()) {
      r.add(s, sub('out/#', 1, 10 + i));
      r.add(s, sub('out/+', 0, 20 + i));
    }
    const outer: Got[] = [];
    const inner: Got[] = [];
    let nested = false;
    const n = r.route(message('out/1', 1), (s, d) => {
      seen(outer)(s, d);
      if (!nested) {
        // The first delivery publishes again, as a rule or bridge may; the other two are still to deliver.
        nested = true;
        assert.equal(r.route(message('out/2', 0), seen(inner)), 3);
      }
    });
    assert.equal(n, 3);
    for (const [list, topic, qos] of [
      [outer, 'out/1', 1],
      [inner, 'out/2', 0],
    ] as const) {
      assert.deepEqual(list.map((g) => g.to).sort(), ['a', 'b', 'c'], `${topic} reached every session once`);
      for (const g of list) {
        assert.equal(g.topic, topic);
        assert.equal(g.qos, qos);
        const i = g.to.charCodeAt(0) - 97;
        assert.deepEqual(g.ids, [10 + i, 20 + i]);
      }
    }
  });

  it('router - a delivery that throws leaves the router as it was for the next message', () => {
    const r = new Router();
    const a = session('a');
    const b = session('b');
    r.add(a, sub('t', 1, 1));
    r.add(b, sub('t', 1, 2));
    assert.throws(
      () =>
        r.route(message('t'), () => {
          throw new Error('boom');
        }),
      /boom/,
    );
    const out: Got[] = [];
    assert.equal(r.route(message('t'), seen(out)), 2);
    assert.deepEqual(out.map((g) => [g.to, g.ids]).sort(), [
      ['a', [1]],
      ['b', [2]],
    ]);
  });
});
