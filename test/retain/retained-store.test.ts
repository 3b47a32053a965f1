import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Message } from '../../src/core/message.js';
import { RetainedStore } from '../../src/retain/retained-store.js';

const msg = (topic: string, payload: string, from = 'client'): Message => ({
  topic,
  payload: Buffer.from(payload),
  qos: 0,
  retain: true,
  properties: undefined,
  expiresAt: 0,
  from,
  receivedAt: 0,
});

describe('retained store', () => {
  it("limits - the broker's own topics take no client room, also after one of them is deleted", () => {
    const r = new RetainedStore({ maxMessages: 1, maxPayload: 4 });
    assert.equal(r.set(msg('$SYS/a', 'x', '')), 'stored');
    assert.equal(r.set(msg('$SYS/b', 'x', '')), 'stored');
    assert.equal(r.set(msg('$SYS/a', '', '')), 'deleted');
    assert.equal(r.set(msg('c/1', 'x')), 'stored');
    assert.equal(r.accepts(msg('c/2', 'x')), false);
    assert.equal(r.set(msg('c/2', 'x')), 'full');
    assert.equal(r.set(msg('c/1', 'toolong')), 'too_large');
    assert.equal(r.accepts(msg('c/1', 'y')), true, 'replacing an existing topic is always room');
    assert.equal(r.size, 2);
  });
});
