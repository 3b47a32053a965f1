import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  Decoder,
  decodeAll,
  encode,
  encodedSize,
  encodePublishHeader,
  type Packet,
  PacketType,
  PROPERTY_TABLE,
  type Properties,
  WILL_PROPERTIES,
} from '../../src/codec/index.js';
import { DECODE_ONLY, FIXTURES, type Fixture } from './fixtures.js';

function decodeOne(f: Fixture): Packet {
  const out = decodeAll(f.bytes, { protocolVersion: f.version });
  assert.equal(out.length, 1, 'exactly one packet');
  return out[0]!;
}

/** Feeds `parts` to a fresh Decoder and returns the packets; fails on any error. */
function feedParts(f: Fixture, parts: Buffer[]): Packet[] {
  const d = new Decoder({ protocolVersion: f.version });
  const out: Packet[] = [];
  for (const part of parts) {
    const err = d.feed(part, out);
    assert.equal(err, undefined, err?.message);
  }
  assert.equal(d.buffered, 0, 'nothing left buffered');
  return out;
}

describe('codec fixtures', () => {
  test('fixtures - names are unique and every packet type is covered for 3.1.1 and 5.0', () => {
    const names = new Set(FIXTURES.map((f) => f.name));
    assert.equal(names.size, FIXTURES.length);
    for (const version of [4, 5] as const) {
      const types = new Set(FIXTURES.filter((f) => f.version === version).map((f) => f.packet.type));
      for (const t of Object.values(PacketType)) {
        if (t === PacketType.Auth && version === 4) continue;
        assert.ok(types.has(t), `v${version} has a fixture for packet type ${t}`);
      }
    }
    assert.ok(FIXTURES.some((f) => f.version === 3 && f.packet.type === PacketType.Connect));
  });

  test('fixtures - every MQTT 5 property appears in some v5 fixture, in every place it is allowed', () => {
    const seen = new Map<number, Set<string>>(); // packet type (0 = will) -> property keys
    const note = (ptype: number, props: Properties | undefined) => {
      if (props === undefined) return;
      let s = seen.get(ptype);
      if (s === undefined) seen.set(ptype, (s = new Set()));
      for (const k of Object.keys(props)) s.add(k);
    };
    for (const f of FIXTURES) {
      if (f.version !== 5) continue;
      const p = f.packet;
      if ('properties' in p) note(p.type, p.properties);
      if (p.type === PacketType.Connect && p.will !== undefined) note(WILL_PROPERTIES, p.will.properties);
    }
    const all = new Set([...seen.values()].flatMap((s) => [...s]));
    for (const def of PROPERTY_TABLE) {
      assert.ok(all.has(def.key), `property 0x${def.id.toString(16)} ${def.name} is covered by a fixture`);
      if (def.packets.has(WILL_PROPERTIES)) {
        assert.ok(seen.get(WILL_PROPERTIES)?.has(def.key), `${def.name} is covered as a Will Property`);
      }
    }
  });

  for (const f of FIXTURES) {
    describe(f.name, () => {
      test('parse', () => {
        assert.deepStrictEqual(decodeOne(f), f.packet);
      });

      test('encode', () => {
        assert.deepStrictEqual(encode(f.packet, f.version), f.bytes);
        assert.equal(encodedSize(f.packet, f.version), f.bytes.length);
      });

      test('round trip', () => {
        const once = decodeOne(f);
        const bytes = encode(once, f.version);
        assert.deepStrictEqual(bytes, f.bytes);
        assert.deepStrictEqual(decodeAll(bytes, { protocolVersion: f.version }), [f.packet]);
      });

      test('split at every byte', () => {
        for (let i = 1; i < f.bytes.length; i++) {
          const out = feedParts(f, [f.bytes.subarray(0, i), f.bytes.subarray(i)]);
          assert.deepStrictEqual(out, [f.packet], `split at ${i}`);
        }
        const bytewise: Buffer[] = [];
        for (let i = 0; i < f.bytes.length; i++) bytewise.push(f.bytes.subarray(i, i + 1));
        assert.deepStrictEqual(feedParts(f, bytewise), [f.packet], 'one byte at a time');
      });

      if (f.packet.type === PacketType.Publish) {
        const p = f.packet;
        test('encodePublishHeader + payload equals encode', () => {
          const header = encodePublishHeader(p, f.version);
          assert.deepStrictEqual(Buffer.concat([header, p.payload]), f.bytes);
          assert.equal(header.length, f.bytes.length - p.payload.length);
        });
      }
    });
  }

  for (const f of DECODE_ONLY) {
    test(`decode only - ${f.name}`, () => {
      assert.deepStrictEqual(decodeOne(f), f.packet);
      const canonical = encode(f.packet, f.version);
      assert.ok(canonical.length <= f.bytes.length, 'our encoding is never longer');
      assert.deepStrictEqual(decodeAll(canonical, { protocolVersion: f.version }), [f.packet]);
      for (let i = 1; i < f.bytes.length; i++) {
        assert.deepStrictEqual(feedParts(f, [f.bytes.subarray(0, i), f.bytes.subarray(i)]), [f.packet]);
      }
    });
  }

  for (const version of [3, 4, 5] as const) {
    const group = FIXTURES.filter((f) => f.version === version);
    test(`many packets in one chunk - all v${version} fixtures back to back`, () => {
      const all = Buffer.concat(group.map((f) => f.bytes));
      const expected = group.map((f) => f.packet);
      assert.deepStrictEqual(decodeAll(all, { protocolVersion: version }), expected);
      // The same stream in uneven chunks, as a socket would deliver it.
      for (const size of [1, 2, 3, 7, 64, 1000]) {
        const d = new Decoder({ protocolVersion: version });
        const out: Packet[] = [];
        for (let i = 0; i < all.length; i += size)
          assert.equal(d.feed(all.subarray(i, i + size), out), undefined);
        assert.deepStrictEqual(out, expected, `chunks of ${size}`);
        assert.equal(d.buffered, 0);
      }
    });
  }

  test('decoder - packets sharing a chunk are copied, a packet alone in its chunk is a view', () => {
    const f = FIXTURES.find((x) => x.name === 'v4 PUBLISH QoS 0')!;
    const two = Buffer.concat([f.bytes, f.bytes]);
    const [a] = decodeAll(two);
    assert.ok(a !== undefined && a.type === PacketType.Publish);
    two.fill(0); // the socket chunk is reused
    assert.deepStrictEqual(a.payload, Buffer.from('hi'), 'copied out of the chunk');
    const alone = Buffer.from(f.bytes);
    const [c] = decodeAll(alone);
    assert.ok(c !== undefined && c.type === PacketType.Publish);
    alone.fill(0x7a);
    assert.deepStrictEqual(c.payload, Buffer.from('zz'), 'a view into its own buffer');
  });

  test('decoder - topic names: a recent one decodes to the same string; distinct names sharing a cache slot, non-ASCII and long names decode to themselves', () => {
    const publish = (topic: string): Buffer =>
      encode(
        { type: PacketType.Publish, topic, payload: Buffer.from('x'), qos: 0, retain: false, dup: false },
        4,
      );
    const topicOf = (bytes: Buffer): string => {
      const [p] = decodeAll(bytes);
      assert.ok(p !== undefined && p.type === PacketType.Publish);
      return p.topic;
    };
    const first = topicOf(publish('sensors/kitchen/temp'));
    assert.equal(first, 'sensors/kitchen/temp');
    assert.ok(Object.is(topicOf(publish('sensors/kitchen/temp')), first));
    // 5,000 names in a 1,024-slot cache: many share a slot, and each must still come back as itself,
    // in any order (a hit is checked byte for byte, never trusted on the hash).
    const names = Array.from({ length: 5000 }, (_, i) => `d/${i}/t`);
    const packets = names.map(publish);
    for (const round of [0, 1]) {
      for (let k = 0; k < names.length; k++) {
        const i = round === 0 ? k : (k * 7919) % names.length;
        assert.equal(topicOf(packets[i]!), names[i], `round ${round}, name ${i}`);
      }
    }
    // Same length, one byte apart.
    assert.equal(topicOf(publish('a/b/c')), 'a/b/c');
    assert.equal(topicOf(publish('a/b/d')), 'a/b/d');
    assert.equal(topicOf(publish('a/b/c')), 'a/b/c');
    for (const name of ['température/°C', 'ß/ü', `long/${'x'.repeat(300)}`, `long/${'x'.repeat(299)}y`]) {
      assert.equal(topicOf(publish(name)), name);
      assert.equal(topicOf(publish(name)), name);
    }
  });

  test('decoder - a CONNECT switches the decoder to its protocol level', () => {
    const d = new Decoder();
    assert.equal(d.version, 4);
    const out: Packet[] = [];
    const v5 = FIXTURES.find((f) => f.name === 'v5 CONNECT minimal')!;
    const auth = FIXTURES.find((f) => f.name === 'v5 AUTH short form')!;
    assert.equal(d.feed(Buffer.concat([v5.bytes, auth.bytes]), out), undefined);
    assert.equal(d.version, 5);
    assert.deepStrictEqual(out, [v5.packet, auth.packet]);
  });
});
