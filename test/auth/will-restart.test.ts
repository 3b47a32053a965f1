/**
 * A will waiting for its Will Delay Interval survives a restart in the store. When it is finally published it is
 * authorized again, as the client it belongs to (client id, username, address, listener, certificate CN are
 * stored with it): rules tightened while the broker was down apply, and a restored will never bypasses the ACL.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Will } from '../../src/codec/index.js';
import { collect, startBroker } from '../helpers/broker.js';
import { disconnected, rawConnect } from '../helpers/raw.js';
import { security } from '../helpers/security.js';

const dir = mkdtempSync(join(tmpdir(), 'petrel-will-acl-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const will = (topic: string, from: string, delay: number): Will => ({
  topic,
  payload: Buffer.from(`will of ${from}`),
  qos: 1,
  retain: false,
  properties: { willDelayInterval: delay },
});

describe('auth - restored wills', () => {
  test('auth - restored wills: a will restored from the store is authorized as its client when published [MQTT-3.1.3-9]', async () => {
    const storage = {
      type: 'embedded' as const,
      dir: join(dir, 'data'),
      durability: 'sync' as const,
      batch_ms: 100,
      memory_queue: 1000,
    };
    // Before the restart anyone may publish under status/: both wills pass the check at CONNECT.
    const open = `acl:\n  superusers: [admin]\n  rules:\n    - { allow: all, topic: "status/#" }\n`;
    {
      await using b = await startBroker({ ...security(open), storage });
      for (const [clientId, username, delay] of [
        ['c-alice', 'alice', 1],
        ['c-bob', 'bob', 2],
      ] as const) {
        const { r } = await rawConnect(b, 5, {
          clientId,
          username,
          clean: false,
          properties: { sessionExpiryInterval: 600 },
          will: will('status/bob', username, delay),
        });
        const gone = disconnected(b, clientId);
        r.destroy();
        await gone;
      }
    }
    // After it, each user may publish only under its own name: alice's will to status/bob is denied now.
    const tight = `acl:\n  superusers: [admin]\n  rules:\n    - { allow: publish, topic: "status/\${username}" }\n  no_match: deny\n`;
    await using b = await startBroker({ ...security(tight), storage });
    const sub = await b.client({ clientId: 'watch', username: 'admin', protocolVersion: 5 });
    await sub.subscribeAsync('status/#', { qos: 1 });
    const got = collect(sub, 1, 5000);
    // bob's will (2 s) comes after alice's (1 s): the first message is alice's if it got through.
    const [m] = await got;
    assert.equal(m!.payload.toString(), 'will of bob');
    assert.equal(b.broker.stats['messages.dropped.not_authorized'], 1);
    assert.equal(b.broker.stats['wills.published'], 1);
  });
});
