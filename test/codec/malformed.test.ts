import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CodecError, Decoder, type Packet, type ProtocolVersion } from '../../src/codec/index.js';
import { hex } from './fixtures.js';

const MALFORMED = 0x81;
const PROTOCOL = 0x82;
const UNSUPPORTED = 0x84;

interface Case {
  /** Test name: the spec statement the input violates. */
  name: string;
  version: ProtocolVersion;
  hex: string;
  rc: number;
  message: string;
}

// A CONNECT body after the protocol name and level: flags, keep alive 60, client id "a" (and for the
// CONNECT cases below, the remaining length is spelled out in each input).
const CASES: Case[] = [
  // Fixed header and Remaining Length
  {
    name: '[MQTT-1.5.5] Remaining Length: a Variable Byte Integer is at most 4 bytes (5 given)',
    version: 4,
    hex: '30 ff ff ff ff 7f',
    rc: MALFORMED,
    message: 'longer than 4 bytes',
  },
  {
    name: '[MQTT-1.5.5-1] Remaining Length must use the minimum number of bytes (80 00)',
    version: 4,
    hex: 'c0 80 00',
    rc: MALFORMED,
    message: 'not minimally encoded',
  },
  {
    name: '[MQTT-1.5.5-1] a Property Length must use the minimum number of bytes',
    version: 5,
    hex: '30 05 00 01 61 80 00',
    rc: MALFORMED,
    message: 'not minimally encoded',
  },
  {
    name: '[MQTT-2.1.2] packet type 0 is reserved',
    version: 4,
    hex: '00 00',
    rc: MALFORMED,
    message: 'packet type 0 is reserved',
  },
  {
    name: '[MQTT-2.1.2] packet type 15 (AUTH) is reserved in 3.1.1',
    version: 4,
    hex: 'f0 00',
    rc: MALFORMED,
    message: 'AUTH',
  },
  // Reserved flag bits [MQTT-2.2.2-1] [MQTT-2.2.2-2]
  {
    name: '[MQTT-2.2.2-1] PUBREL flags must be 0010 (0000 given)',
    version: 4,
    hex: '60 02 00 01',
    rc: MALFORMED,
    message: 'PUBREL fixed header flags must be 0b0010',
  },
  {
    name: '[MQTT-3.8.1-1] SUBSCRIBE flags must be 0010 (0000 given)',
    version: 4,
    hex: '80 06 00 01 00 01 61 00',
    rc: MALFORMED,
    message: 'SUBSCRIBE fixed header flags must be 0b0010',
  },
  {
    name: '[MQTT-3.10.1-1] UNSUBSCRIBE flags must be 0010 (1010 given)',
    version: 4,
    hex: 'aa 05 00 01 00 01 61',
    rc: MALFORMED,
    message: 'UNSUBSCRIBE fixed header flags must be 0b0010',
  },
  {
    name: '[MQTT-2.2.2-1] PUBACK flags must be 0000',
    version: 4,
    hex: '42 02 00 01',
    rc: MALFORMED,
    message: 'PUBACK fixed header flags must be 0b0000',
  },
  {
    name: '[MQTT-2.2.2-1] CONNECT flags must be 0000',
    version: 4,
    hex: '11 0d 00 04 4d 51 54 54 04 02 00 3c 00 01 61',
    rc: MALFORMED,
    message: 'CONNECT fixed header flags',
  },
  {
    name: '[MQTT-2.2.2-1] PINGREQ flags must be 0000',
    version: 4,
    hex: 'c1 00',
    rc: MALFORMED,
    message: 'PINGREQ fixed header flags',
  },
  {
    name: '[MQTT-2.2.2-1] DISCONNECT flags must be 0000 (v5)',
    version: 5,
    hex: 'e8 00',
    rc: MALFORMED,
    message: 'DISCONNECT fixed header flags',
  },
  {
    name: '[MQTT-2.2.2-1] AUTH flags must be 0000',
    version: 5,
    hex: 'f1 00',
    rc: MALFORMED,
    message: 'AUTH fixed header flags',
  },
  // PUBLISH fixed header
  {
    name: '[MQTT-3.3.1-4] a PUBLISH must not have both QoS bits set',
    version: 4,
    hex: '36 05 00 01 61 00 01',
    rc: MALFORMED,
    message: 'QoS bits must not both be 1',
  },
  {
    name: '[MQTT-3.3.1-2] the DUP flag must be 0 for QoS 0 messages',
    version: 4,
    hex: '38 03 00 01 61',
    rc: MALFORMED,
    message: 'DUP 0',
  },
  // CONNECT
  {
    name: '[MQTT-3.1.2-1] protocol name "MQIsdp" with level 4',
    version: 4,
    hex: '10 0f 00 06 4d 51 49 73 64 70 04 02 00 3c 00 01 61',
    rc: UNSUPPORTED,
    message: 'does not match level 4',
  },
  {
    name: '[MQTT-3.1.2-1] protocol name "MQTT" with level 3',
    version: 4,
    hex: '10 0d 00 04 4d 51 54 54 03 02 00 3c 00 01 61',
    rc: UNSUPPORTED,
    message: 'does not match level 3',
  },
  {
    name: '[MQTT-3.1.2-1] an unknown protocol name "MQTX"',
    version: 5,
    hex: '10 0e 00 04 4d 51 54 58 05 02 00 3c 00 00 01 61',
    rc: UNSUPPORTED,
    message: 'protocol name "MQTX"',
  },
  {
    name: '[MQTT-3.1.2-2] an unsupported protocol level (6) gets 0x84 Unsupported Protocol Version',
    version: 4,
    hex: '10 0d 00 04 4d 51 54 54 06 02 00 3c 00 01 61',
    rc: UNSUPPORTED,
    message: 'unsupported protocol level 6',
  },
  {
    name: '[MQTT-3.1.2-3] the CONNECT reserved flag must be 0',
    version: 4,
    hex: '10 0d 00 04 4d 51 54 54 04 03 00 3c 00 01 61',
    rc: MALFORMED,
    message: 'reserved flag bit 0',
  },
  {
    name: '[MQTT-3.1.2-11] Will QoS must be 0 when the Will Flag is 0',
    version: 4,
    hex: '10 0d 00 04 4d 51 54 54 04 0a 00 3c 00 01 61',
    rc: MALFORMED,
    message: 'Will QoS and Will Retain must be 0',
  },
  {
    name: '[MQTT-3.1.2-13] Will Retain must be 0 when the Will Flag is 0',
    version: 5,
    hex: '10 0e 00 04 4d 51 54 54 05 22 00 3c 00 00 01 61',
    rc: MALFORMED,
    message: 'Will QoS and Will Retain must be 0',
  },
  {
    name: '[MQTT-3.1.2-12] Will QoS must not be 3',
    version: 4,
    hex: '10 13 00 04 4d 51 54 54 04 1e 00 3c 00 01 61 00 01 77 00 01 78',
    rc: MALFORMED,
    message: 'Will QoS must not be 3',
  },
  {
    name: '[MQTT-3.1.2-22] 3.1.1: the Password Flag requires the User Name Flag',
    version: 4,
    hex: '10 10 00 04 4d 51 54 54 04 42 00 3c 00 01 61 00 01 70',
    rc: MALFORMED,
    message: 'Password Flag set without the User Name Flag',
  },
  {
    name: '[MQTT-3.1.2-22] 3.1: the Password Flag requires the User Name Flag',
    version: 4,
    hex: '10 12 00 06 4d 51 49 73 64 70 03 42 00 3c 00 01 61 00 01 70',
    rc: MALFORMED,
    message: 'Password Flag set without the User Name Flag',
  },
  {
    name: '[MQTT-3.1.3-5] CONNECT: the client id runs past the Remaining Length',
    version: 4,
    hex: '10 0d 00 04 4d 51 54 54 04 02 00 3c 00 05 61',
    rc: MALFORMED,
    message: 'CONNECT client identifier: needs 5 byte(s)',
  },
  {
    name: '[MQTT-3.1.2-9] CONNECT: the Will Flag is set but the will topic is missing',
    version: 4,
    hex: '10 0d 00 04 4d 51 54 54 04 06 00 3c 00 01 61',
    rc: MALFORMED,
    message: 'will topic',
  },
  {
    name: '[MQTT-3.1.3] CONNECT 3.1.1 with bytes after the last field',
    version: 4,
    hex: '10 0e 00 04 4d 51 54 54 04 02 00 3c 00 01 61 ff',
    rc: MALFORMED,
    message: 'CONNECT has 1 unexpected trailing byte(s)',
  },
  // UTF-8 Encoded Strings
  {
    name: '[MQTT-1.5.4-1] a topic must be well-formed UTF-8 (lone FF)',
    version: 4,
    hex: '30 03 00 01 ff',
    rc: MALFORMED,
    message: 'not well-formed UTF-8',
  },
  {
    name: '[MQTT-1.5.4-1] a topic must be well-formed UTF-8 (overlong C0 AF)',
    version: 4,
    hex: '30 04 00 02 c0 af',
    rc: MALFORMED,
    message: 'not well-formed UTF-8',
  },
  {
    name: '[MQTT-1.5.4-1] a topic must not encode a UTF-16 surrogate (ED A0 80 = U+D800)',
    version: 5,
    hex: '30 06 00 03 ed a0 80 00',
    rc: MALFORMED,
    message: 'not well-formed UTF-8',
  },
  {
    name: '[MQTT-1.5.4-2] a topic must not contain U+0000',
    version: 4,
    hex: '30 05 00 03 61 00 62',
    rc: MALFORMED,
    message: 'U+0000',
  },
  {
    name: '[MQTT-1.5.4-2] a non-ASCII string must not contain U+0000 either',
    version: 4,
    hex: '30 05 00 03 c3 a9 00',
    rc: MALFORMED,
    message: 'U+0000',
  },
  {
    name: '[MQTT-1.5.4-1] a User Property value must be well-formed UTF-8',
    version: 5,
    hex: '30 0b 00 01 61 07 26 00 01 6b 00 01 80',
    rc: MALFORMED,
    message: 'User Property value: string is not well-formed UTF-8',
  },
  {
    name: '[MQTT-1.5.4] a topic length prefix runs past the Remaining Length',
    version: 4,
    hex: '30 04 00 05 61 62',
    rc: MALFORMED,
    message: 'PUBLISH topic name: needs 5 byte(s)',
  },
  // Properties
  {
    name: '[MQTT-2.2.2.2] a property other than User Property included twice is a Protocol Error',
    version: 5,
    hex: '30 0e 00 01 61 0a 02 00 00 00 01 02 00 00 00 02',
    rc: PROTOCOL,
    message: 'Message Expiry Interval included more than once',
  },
  {
    name: '[MQTT-3.8.2.1.2] SUBSCRIBE with two Subscription Identifiers is a Protocol Error',
    version: 5,
    hex: '82 0a 00 01 04 0b 01 0b 02 00 01 61 00',
    rc: PROTOCOL,
    message: 'Subscription Identifier included more than once',
  },
  {
    name: '[MQTT-2.2.2.2] an identifier not valid for the packet type is a Malformed Packet',
    version: 5,
    hex: '30 09 00 01 61 05 11 00 00 00 01',
    rc: MALFORMED,
    message: 'Session Expiry Interval is not allowed here',
  },
  {
    name: '[MQTT-2.2.2.2] Will Delay Interval is only allowed in the Will Properties',
    version: 5,
    hex: '10 13 00 04 4d 51 54 54 05 02 00 3c 05 18 00 00 00 01 00 01 61',
    rc: MALFORMED,
    message: 'Will Delay Interval is not allowed here',
  },
  {
    name: '[MQTT-2.2.2.2] an unknown property identifier (0x04) is a Malformed Packet',
    version: 5,
    hex: '30 06 00 01 61 02 04 00',
    rc: MALFORMED,
    message: 'unknown property identifier 0x4',
  },
  {
    name: '[MQTT-2.2.2.2] a property that runs past the Property Length',
    version: 5,
    hex: '30 08 00 01 61 02 02 00 00 00',
    rc: MALFORMED,
    message: 'Message Expiry Interval: needs 4 byte(s)',
  },
  {
    name: '[MQTT-2.2.2.2] a Property Length that runs past the Remaining Length',
    version: 5,
    hex: '30 06 00 01 61 09 01 01',
    rc: MALFORMED,
    message: 'needs 9 byte(s)',
  },
  {
    name: '[MQTT-3.1.2.11.3] Receive Maximum 0 is a Protocol Error',
    version: 5,
    hex: '10 11 00 04 4d 51 54 54 05 02 00 3c 03 21 00 00 00 01 61',
    rc: PROTOCOL,
    message: 'Receive Maximum must not be 0',
  },
  {
    name: '[MQTT-3.3.2-8] Topic Alias 0 is not permitted',
    version: 5,
    hex: '30 07 00 01 61 03 23 00 00',
    rc: 0x94,
    message: 'Topic Alias must not be 0',
  },
  {
    name: '[MQTT-3.8.2.1.2] Subscription Identifier 0 is a Protocol Error',
    version: 5,
    hex: '30 06 00 01 61 02 0b 00',
    rc: PROTOCOL,
    message: 'Subscription Identifier must not be 0',
  },
  {
    name: '[MQTT-3.1.2.11.4] Maximum Packet Size 0 is a Protocol Error',
    version: 5,
    hex: '10 13 00 04 4d 51 54 54 05 02 00 3c 05 27 00 00 00 00 00 01 61',
    rc: PROTOCOL,
    message: 'Maximum Packet Size must not be 0',
  },
  {
    name: '[MQTT-3.3.2.3.2] Payload Format Indicator must be 0 or 1 (2 given)',
    version: 5,
    hex: '30 06 00 01 61 02 01 02',
    rc: PROTOCOL,
    message: 'Payload Format Indicator must be 0 or 1',
  },
  {
    name: '[MQTT-3.2.2.3.4] Maximum QoS must be 0 or 1 (2 given)',
    version: 5,
    hex: '20 05 00 00 02 24 02',
    rc: PROTOCOL,
    message: 'Maximum QoS must be 0 or 1',
  },
  // Packet Identifiers
  {
    name: '[MQTT-2.2.1-3] a QoS 1 PUBLISH needs a non-zero Packet Identifier',
    version: 4,
    hex: '32 05 00 01 61 00 00',
    rc: PROTOCOL,
    message: 'PUBLISH packet identifier must be non-zero',
  },
  {
    name: '[MQTT-2.2.1-3] SUBSCRIBE needs a non-zero Packet Identifier',
    version: 4,
    hex: '82 06 00 00 00 01 61 00',
    rc: PROTOCOL,
    message: 'SUBSCRIBE packet identifier must be non-zero',
  },
  {
    name: '[MQTT-2.2.1-3] PUBACK needs a non-zero Packet Identifier',
    version: 5,
    hex: '40 02 00 00',
    rc: PROTOCOL,
    message: 'PUBACK packet identifier must be non-zero',
  },
  // SUBSCRIBE payload
  {
    name: '[MQTT-3.8.3-3] 3.1.1: SUBSCRIBE must contain at least one topic filter',
    version: 4,
    hex: '82 02 00 01',
    rc: PROTOCOL,
    message: 'at least one topic filter',
  },
  {
    name: '[MQTT-3.8.3-2] 5.0: SUBSCRIBE with no payload is a Protocol Error',
    version: 5,
    hex: '82 03 00 01 00',
    rc: PROTOCOL,
    message: 'at least one topic filter',
  },
  {
    name: '[MQTT-3-8.3-4] 3.1.1: SUBSCRIBE options bits 7-2 are reserved',
    version: 4,
    hex: '82 06 00 01 00 01 61 04',
    rc: MALFORMED,
    message: 'bits 7-2 are reserved',
  },
  {
    name: '[MQTT-3-8.3-4] 3.1.1: SUBSCRIBE requested QoS 3',
    version: 4,
    hex: '82 06 00 01 00 01 61 03',
    rc: MALFORMED,
    message: 'requested QoS 3',
  },
  {
    name: '[MQTT-3.8.3-5] 5.0: SUBSCRIBE options bits 7-6 are reserved',
    version: 5,
    hex: '82 07 00 01 00 00 01 61 40',
    rc: MALFORMED,
    message: 'bits 7-6 are reserved',
  },
  {
    name: '[MQTT-3.8.3.1] 5.0: Retain Handling 3 is a Protocol Error',
    version: 5,
    hex: '82 07 00 01 00 00 01 61 30',
    rc: PROTOCOL,
    message: 'Retain Handling 3',
  },
  {
    name: '[MQTT-3.8.3] SUBSCRIBE topic filter without its options byte',
    version: 4,
    hex: '82 05 00 01 00 01 61',
    rc: MALFORMED,
    message: 'SUBSCRIBE options: needs 1 byte(s)',
  },
  {
    name: '[MQTT-3.10.3-2] UNSUBSCRIBE must contain at least one topic filter',
    version: 4,
    hex: 'a2 02 00 01',
    rc: PROTOCOL,
    message: 'at least one topic filter',
  },
  // Trailing bytes and lengths
  {
    name: '[MQTT-3.12.1] PINGREQ has a Remaining Length of 0',
    version: 4,
    hex: 'c0 01 00',
    rc: MALFORMED,
    message: 'PINGREQ must have a remaining length of 0',
  },
  {
    name: '[MQTT-3.4.1] 3.1.1 PUBACK has a Remaining Length of 2',
    version: 4,
    hex: '40 03 00 01 00',
    rc: MALFORMED,
    message: 'PUBACK has 1 unexpected trailing byte(s)',
  },
  {
    name: '[MQTT-3.11.1] 3.1.1 UNSUBACK has a Remaining Length of 2',
    version: 4,
    hex: 'b0 03 00 01 00',
    rc: MALFORMED,
    message: 'UNSUBACK must have a remaining length of 2',
  },
  {
    name: '[MQTT-3.4.2.1] 5.0 PUBACK with a reason code not allowed in PUBACK (0x05)',
    version: 5,
    hex: '40 03 00 01 05',
    rc: PROTOCOL,
    message: 'reason code 0x05 is not valid in PUBACK',
  },
  {
    name: '[MQTT-3.14.2.1] 5.0 DISCONNECT with a reason code not allowed in DISCONNECT (0x01)',
    version: 5,
    hex: 'e0 01 01',
    rc: PROTOCOL,
    message: 'reason code 0x01 is not valid in DISCONNECT',
  },
  {
    name: '[MQTT-3.2.2-1] CONNACK acknowledge flags bits 7-1 are reserved',
    version: 4,
    hex: '20 02 02 00',
    rc: MALFORMED,
    message: 'bits 7-1 are reserved',
  },
  {
    name: '[MQTT-3.2.2.3] 3.1.1 CONNACK return codes 6-255 are reserved',
    version: 4,
    hex: '20 02 00 06',
    rc: PROTOCOL,
    message: 'CONNACK return code 6 is reserved',
  },
  {
    name: '[MQTT-3.9.3] 3.1.1 SUBACK return code 0x03 is reserved',
    version: 4,
    hex: '90 03 00 01 03',
    rc: PROTOCOL,
    message: 'SUBACK return code 0x3 is reserved',
  },
];

describe('codec malformed input', () => {
  for (const c of CASES) {
    test(c.name, () => {
      const bytes = hex(c.hex);
      // Whole, then one byte at a time: the same error either way, and nothing decoded.
      for (const parts of [[bytes], [...bytes].map((x) => Buffer.from([x]))]) {
        const d = new Decoder({ protocolVersion: c.version });
        const out: Packet[] = [];
        let err: CodecError | undefined;
        for (const p of parts) {
          err = d.feed(p, out);
          if (err !== undefined) break;
        }
        assert.ok(err instanceof CodecError, `expected a CodecError for ${c.hex}`);
        assert.equal(
          err.reasonCode,
          c.rc,
          `reason code 0x${err.reasonCode.toString(16)} (${err.message}), expected 0x${c.rc.toString(16)}`,
        );
        assert.ok(err.message.includes(c.message), `message "${err.message}" should include "${c.message}"`);
        assert.ok(
          !err.message.startsWith('undecodable packet'),
          'a precise error, not an internal exception',
        );
        assert.deepEqual(out, []);
      }
    });
  }

  test('[MQTT-3.1.2-24] a Remaining Length over maxPacketSize is rejected from the fixed header alone (0x95)', () => {
    const d = new Decoder({ maxPacketSize: 1024 });
    const out: Packet[] = [];
    // PUBLISH announcing 268,435,455 bytes: only the 5-byte fixed header is ever sent.
    const err = d.feed(hex('30 ff ff ff 7f'), out);
    assert.ok(err instanceof CodecError);
    assert.equal(err.reasonCode, 0x95);
    assert.match(err.message, /exceeds the maximum packet size of 1024/);
    assert.equal(d.buffered, 0, 'nothing buffered for the oversize packet');
    assert.deepEqual(out, []);
  });

  test('[MQTT-3.1.2-24] maxPacketSize counts the whole packet, fixed header included', () => {
    const ok = new Decoder({ maxPacketSize: 7 });
    const out: Packet[] = [];
    assert.equal(ok.feed(hex('30 05 00 01 61 62 63'), out), undefined); // 7 bytes
    assert.equal(out.length, 1);
    const tooBig = new Decoder({ maxPacketSize: 6 });
    assert.equal(tooBig.feed(hex('30 05'), out)?.reasonCode, 0x95, 'detected after the 2-byte header');
    assert.equal(tooBig.buffered, 0);
  });

  test('[MQTT-3.1.2-24] an oversize packet after good ones: the good ones are decoded first', () => {
    const d = new Decoder({ maxPacketSize: 100 });
    const out: Packet[] = [];
    const err = d.feed(hex('c0 00   c0 00   30 80 01'), out);
    assert.equal(err?.reasonCode, 0x95);
    assert.equal(out.length, 2);
  });

  test('MQTT 3.1 §2.1 - level 3 PUBREL, SUBSCRIBE and UNSUBSCRIBE retries with DUP set are accepted', () => {
    // The fixed-header flag rule [MQTT-2.2.2-1] is 3.1.1's and 5.0's; MQTT 3.1 sets DUP on a retry.
    const d = new Decoder({ protocolVersion: 3 });
    const out: Packet[] = [];
    const err = d.feed(hex('6a 02 00 01   8a 06 00 02 00 01 61 01   aa 05 00 03 00 01 61'), out);
    assert.equal(err, undefined, err?.message);
    assert.deepEqual(
      out.map((p) => [p.type, 'packetId' in p ? p.packetId : undefined]),
      [
        [6, 1],
        [8, 2],
        [10, 3],
      ],
    );
    // The same bytes at level 4 break the rule.
    assert.equal(new Decoder({ protocolVersion: 4 }).feed(hex('6a 02 00 01'), [])?.reasonCode, MALFORMED);
  });

  test('decoder - stays failed after an error, even for valid input', () => {
    const d = new Decoder();
    const out: Packet[] = [];
    const err = d.feed(hex('c0 00   00 00'), out);
    assert.ok(err instanceof CodecError);
    assert.equal(out.length, 1, 'the packet before the error is kept');
    assert.equal(d.feed(hex('c0 00'), out), err, 'the same error again');
    assert.equal(out.length, 1);
    assert.equal(d.error, err);
    assert.equal(d.buffered, 0);
  });

  test('decoder - a 5-byte Remaining Length split across chunks is still rejected', () => {
    const d = new Decoder();
    const out: Packet[] = [];
    assert.equal(d.feed(hex('30 ff ff'), out), undefined);
    assert.equal(d.buffered, 3);
    assert.equal(d.feed(hex('ff ff'), out)?.reasonCode, MALFORMED);
  });

  test('CodecError - carries a stable code and the reason name', () => {
    const d = new Decoder();
    const err = d.feed(hex('00 00'), []);
    assert.ok(err instanceof CodecError);
    assert.equal(err.code, 'ERR_MALFORMED_PACKET');
    assert.equal(err.reasonName, 'Malformed Packet');
    const big = new Decoder({ maxPacketSize: 10 }).feed(hex('30 7f'), []);
    assert.equal(big?.code, 'ERR_PACKET_TOO_LARGE');
  });
});
