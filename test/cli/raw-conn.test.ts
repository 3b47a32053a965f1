import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { RawConn } from '../../src/cli/bench/raw-conn.js';
import { decodeAll, encode, type Packet, PacketType, type ProtocolVersion } from '../../src/codec/index.js';

/** A stream of PUBLISHes (QoS 0/1/2, topics of varied length, payloads of 16…300 bytes) and acks. */
function traffic(version: ProtocolVersion): { bytes: Buffer; payloads: string[]; acks: number } {
  const parts: Buffer[] = [];
  const payloads: string[] = [];
  let acks = 0;
  for (let i = 0; i < 30; i++) {
    const qos = (i % 3) as 0 | 1 | 2;
    const payload = Buffer.alloc(16 + ((i * 37) % 140), i);
    payload.writeUInt32BE(i, 0);
    const p: Packet = {
      type: PacketType.Publish,
      topic: `t/${'x'.repeat(i % 7)}`,
      payload,
      qos,
      retain: false,
      dup: false,
    };
    if (qos > 0) p.packetId = i + 1;
    if (version === 5 && i % 2 === 0) p.properties = { userProperties: [['k', 'v'.repeat(i)]] };
    parts.push(encode(p, version));
    payloads.push(payload.toString('hex'));
    if (i % 5 === 0) {
      parts.push(encode({ type: PacketType.Puback, packetId: 1000 + i, reasonCode: 0 }, version));
      acks++;
    }
  }
  return { bytes: Buffer.concat(parts), payloads, acks };
}

const streams = { 4: traffic(4), 5: traffic(5) } as Record<ProtocolVersion, ReturnType<typeof traffic>>;

function run(version: ProtocolVersion, cuts: number[]): { got: string[]; acked: number; written: Packet[] } {
  const { bytes } = streams[version];
  const stream = new PassThrough();
  const written: Buffer[] = [];
  const got: string[] = [];
  let acked = 0;
  const conn = new RawConn(stream, version, 0, {
    onPublish: (buf, start, end) => got.push(buf.subarray(start, end).toString('hex')),
    onAck: () => acked++,
    onChunk: () => {},
    onClose: (err) => assert.fail(`closed: ${err?.message}`),
  });
  // Make the PUBACKs in the stream answer ids that are in flight.
  for (let i = 0; i < 1100; i++) conn.allocId();
  stream.write = ((b: Buffer) => {
    written.push(b);
    return true;
  }) as typeof stream.write;
  let at = 0;
  for (const c of [...cuts, bytes.length]) {
    stream.emit('data', bytes.subarray(at, c));
    at = c;
  }
  return { got, acked, written: decodeAll(Buffer.concat(written), { protocolVersion: version }) };
}

describe('bench raw connection', () => {
  for (const version of [4, 5] as const) {
    it(`bench raw connection - v${version}: every split of the stream yields the same payloads and acks`, () => {
      const { bytes, payloads, acks } = streams[version];
      const whole = run(version, []);
      assert.deepEqual(whole.got, payloads);
      assert.equal(whole.acked, acks);
      // QoS 1 → PUBACK, QoS 2 → PUBREC, in order.
      const expected = payloads
        .map((_p, i) => (i % 3 === 1 ? `4:${i + 1}` : i % 3 === 2 ? `5:${i + 1}` : ''))
        .filter((x) => x !== '');
      const kinds = (w: Packet[]): string[] => w.map((p) => `${p.type}:${'packetId' in p ? p.packetId : ''}`);
      assert.deepEqual(kinds(whole.written), expected);
      for (let cut = 1; cut < bytes.length; cut++) {
        const r = run(version, [cut]);
        assert.deepEqual(r.got, payloads, `cut at ${cut}`);
        assert.equal(r.acked, acks);
        assert.deepEqual(kinds(r.written), expected);
      }
      // One byte at a time, and random cuts.
      const bytewise = run(
        version,
        Array.from({ length: bytes.length - 1 }, (_, i) => i + 1),
      );
      assert.deepEqual(bytewise.got, payloads);
      let seed = 7;
      for (let k = 0; k < 50; k++) {
        const cuts = new Set<number>();
        for (let j = 0; j < 20; j++) {
          seed = (seed * 1103515245 + 12345) & 0x7fffffff;
          cuts.add(1 + (seed % (bytes.length - 1)));
        }
        const r = run(
          version,
          [...cuts].sort((a, b) => a - b),
        );
        assert.deepEqual(r.got, payloads);
        assert.equal(r.acked, acks);
      }
    });
  }

  it('bench raw connection - a QoS 2 message re-sent before PUBREL is delivered once', () => {
    const stream = new PassThrough();
    const got: number[] = [];
    new RawConn(stream, 4, 0, {
      onPublish: (buf, start) => got.push(buf[start]!),
      onAck: () => {},
      onChunk: () => {},
      onClose: () => {},
    });
    stream.write = (() => true) as typeof stream.write;
    const pub = (dup: boolean): Buffer =>
      encode(
        {
          type: PacketType.Publish,
          topic: 'a',
          payload: Buffer.from([9]),
          qos: 2,
          packetId: 5,
          retain: false,
          dup,
        },
        4,
      );
    stream.emit('data', Buffer.concat([pub(false), pub(true)]));
    assert.deepEqual(got, [9]);
    stream.emit('data', encode({ type: PacketType.Pubrel, packetId: 5, reasonCode: 0 }, 4));
    stream.emit('data', pub(false));
    assert.deepEqual(got, [9, 9]);
  });
});
