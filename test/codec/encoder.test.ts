import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decodeAll,
  encode,
  encodedSize,
  encodePublishHeader,
  encodePublishShared,
  type Packet,
  PacketType,
  type PublishPacket,
} from '../../src/codec/index.js';
import { hex } from './fixtures.js';
import { Rng, randomPacket } from './random.js';

const publish = (topic: string, payload: Buffer = Buffer.alloc(0)): Packet => ({
  type: PacketType.Publish,
  topic,
  payload,
  qos: 0,
  retain: false,
  dup: false,
});

describe('codec encoder', () => {
  test('encoder - encodedSize, encode and encodePublishHeader agree, and decode inverts encode (2,000 random packets)', () => {
    const rng = new Rng(99);
    for (let i = 0; i < 2000; i++) {
      const version = rng.bool() ? 4 : 5;
      const p = randomPacket(rng, version);
      const bytes = encode(p, version);
      assert.equal(encodedSize(p, version), bytes.length);
      assert.deepStrictEqual(decodeAll(bytes, { protocolVersion: version }), [p]);
      if (p.type === PacketType.Publish) {
        assert.deepStrictEqual(Buffer.concat([encodePublishHeader(p, version), p.payload]), bytes);
      }
    }
  });

  test('encoder - encodePublishShared equals encode for every subscriber of a message, whatever the QoS, id, flags and version', () => {
    const rng = new Rng(7);
    const payload = Buffer.from('payload ü');
    const properties = { contentType: 'text/plain', userProperties: [['k', 'v']] as [string, string][] };
    for (let i = 0; i < 500; i++) {
      const version = rng.bool() ? (rng.bool() ? 3 : 4) : 5;
      // Subscribers of one message share topic, payload and properties; the rest varies per delivery.
      const p: PublishPacket = {
        type: PacketType.Publish,
        topic: rng.bool() ? 'a/b' : 'a/ü',
        payload,
        qos: rng.int(0, 2) as 0 | 1 | 2,
        retain: rng.bool(),
        dup: rng.bool(),
        properties: version === 5 && rng.bool() ? properties : undefined,
      };
      if (p.qos > 0) p.packetId = rng.int(1, 65535);
      assert.deepStrictEqual(encodePublishShared(p, version), encode(p, version));
    }
  });

  test('encoder - encodePublishShared gives QoS 0 subscribers one buffer, QoS 1/2 their own', () => {
    const p: PublishPacket = { ...(publish('x/y', Buffer.from('hi')) as PublishPacket) };
    const a = encodePublishShared(p, 4);
    assert.equal(encodePublishShared({ ...p }, 4), a);
    const q1 = { ...p, qos: 1 as const, packetId: 7 };
    const b = encodePublishShared(q1, 4);
    const c = encodePublishShared({ ...q1, packetId: 8 }, 4);
    assert.notEqual(b, c);
    assert.deepStrictEqual(c, encode({ ...q1, packetId: 8 }, 4));
    assert.deepStrictEqual(b, encode(q1, 4));
  });

  test('[MQTT-1.5.4] a string longer than 65,535 bytes is refused, not written with a wrapped length', () => {
    assert.equal(encode(publish('t'.repeat(65535)), 4).length, 1 + 3 + 2 + 65535);
    assert.throws(() => encode(publish('t'.repeat(70_000)), 4), RangeError);
    assert.throws(
      () =>
        encode(
          {
            type: PacketType.Connect,
            protocolName: 'MQTT',
            protocolVersion: 4,
            clean: true,
            keepAlive: 0,
            clientId: 'c',
            username: 'u',
            password: Buffer.alloc(65536),
          },
          4,
        ),
      RangeError,
    );
    assert.throws(() => encode({ type: PacketType.Puback, packetId: 65536, reasonCode: 0 }, 4), RangeError);
  });

  test('[MQTT-2.2.3] a packet over the largest Remaining Length (268,435,455) is refused', () => {
    // The size pass reads only the payload's length: no need to allocate 256 MiB.
    const huge = { length: 268_435_455 } as Buffer;
    assert.throws(() => encodedSize(publish('t', huge), 4), /packet too large to encode/);
    assert.equal(encodedSize(publish('', { length: 268_435_453 } as Buffer), 4), 1 + 4 + 268_435_455);
  });

  test('encoder - AUTH and properties not allowed in a packet are programming errors', () => {
    assert.throws(() => encode({ type: PacketType.Auth, reasonCode: 0 }, 4), TypeError);
    const bad = { ...publish('t'), properties: { sessionExpiryInterval: 1 } } as Packet;
    assert.throws(() => encode(bad, 5), /Session Expiry Interval is not allowed in PUBLISH/);
  });

  test('encoder - MQTT 5 reason codes are mapped to 3.1.1 return codes at the edge', () => {
    const connack = (reasonCode: number): Packet => ({
      type: PacketType.Connack,
      sessionPresent: false,
      reasonCode,
    });
    assert.deepStrictEqual(encode(connack(0x88), 4), hex('20 02 00 03'), 'Server unavailable -> 3');
    assert.deepStrictEqual(encode(connack(0x8a), 4), hex('20 02 00 05'), 'Banned -> 5 Not authorized');
    assert.deepStrictEqual(encode(connack(0x85), 4), hex('20 02 00 02'), 'Client Identifier not valid -> 2');
    assert.deepStrictEqual(
      encode(connack(0x80), 4),
      hex('20 02 00 03'),
      'anything else -> 3 Server unavailable',
    );
    const suback: Packet = { type: PacketType.Suback, packetId: 1, reasonCodes: [0x01, 0x87, 0xa2] };
    assert.deepStrictEqual(encode(suback, 4), hex('90 05 00 01 01 80 80'), 'every failure is 0x80 in 3.1.1');
  });

  test('encoder - 3.1.1 drops what MQTT 5 adds (properties, ack reason codes, UNSUBACK payload)', () => {
    const p: Packet = {
      type: PacketType.Puback,
      packetId: 7,
      reasonCode: 0x10,
      properties: { reasonString: 'x' },
    };
    assert.deepStrictEqual(encode(p, 4), hex('40 02 00 07'));
    const u: Packet = { type: PacketType.Unsuback, packetId: 2, reasonCodes: [0, 0x11] };
    assert.deepStrictEqual(encode(u, 4), hex('b0 02 00 02'));
    const d: Packet = { type: PacketType.Disconnect, reasonCode: 0x8e };
    assert.deepStrictEqual(encode(d, 4), hex('e0 00'));
  });

  test('encoder - a CONNECT without a protocol name gets the one for the level', () => {
    const c: Packet = {
      type: PacketType.Connect,
      protocolName: '',
      protocolVersion: 3,
      clean: true,
      keepAlive: 0,
      clientId: 'a',
    };
    assert.deepStrictEqual(encode(c, 3).subarray(2, 10), hex('00 06 4d 51 49 73 64 70'));
    assert.deepStrictEqual(encode({ ...c, protocolVersion: 4 }, 4).subarray(2, 8), hex('00 04 4d 51 54 54'));
  });
});
