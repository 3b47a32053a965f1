/**
 * Codec micro-benchmark: Petrel's codec vs mqtt-packet (the codec of Aedes and mqtt.js), in the same run.
 *
 *   npx tsx bench/codec.ts        (npm run bench:codec)
 *
 * Decode = feeding a realistic stream: ~64 KiB buffers holding many packets (split across buffer boundaries,
 * as a socket delivers them) to a Decoder / an mqtt-packet parser, counting packets emitted.
 * Encode = `encode` vs mqtt-packet `generate`, one Buffer per packet.
 * Each measurement: a warm-up, then ROUNDS timed rounds of ~ROUND_MS, alternating the two codecs; medians.
 * The last line is the headline: the median over the three PUBLISH payload sizes of the decode speedup.
 */
import { readFileSync } from 'node:fs';
import mqttPacket from 'mqtt-packet';
import { Decoder, encode, type Packet, PacketType, type ProtocolVersion } from '../src/codec/index.js';
import { type MpPacket, toMp } from '../test/codec/mqtt-packet-map.js';
import { Rng, randomPacket } from '../test/codec/random.js';

const ROUNDS = 7;
const ROUND_MS = 200;
const WARMUP_MS = 200;
const CHUNK = 64 * 1024;
const STREAM_BYTES = 4 * 1024 * 1024;

interface Workload {
  name: string;
  version: ProtocolVersion;
  packets: Packet[];
  mp: MpPacket[];
  /** The encoded packets, back to back, cut into ~64 KiB socket chunks. */
  chunks: Buffer[];
  streamBytes: number;
  streamPackets: number;
}

function workload(name: string, version: ProtocolVersion, packets: Packet[]): Workload {
  const encoded = packets.map((p) => encode(p, version));
  const parts: Buffer[] = [];
  let bytes = 0;
  let count = 0;
  // Repeat the packets until the stream is a few MiB (at least one pass over every packet).
  while (bytes < STREAM_BYTES || count < packets.length) {
    const b = encoded[count % encoded.length]!;
    parts.push(b);
    bytes += b.length;
    count++;
  }
  const stream = Buffer.concat(parts);
  const chunks: Buffer[] = [];
  for (let i = 0; i < stream.length; i += CHUNK) chunks.push(Buffer.from(stream.subarray(i, i + CHUNK)));
  return {
    name,
    version,
    packets,
    mp: packets.map((p) => toMp(p, version)),
    chunks,
    streamBytes: stream.length,
    streamPackets: count,
  };
}

function publishWorkload(payloadSize: number): Workload {
  const packets: Packet[] = [];
  for (let i = 0; i < 64; i++) {
    packets.push({
      type: PacketType.Publish,
      topic: 'sensors/room-12/temperature',
      payload: Buffer.alloc(payloadSize, 0x41 + (i % 26)),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 1 + i,
    });
  }
  const label = payloadSize >= 1024 ? `${payloadSize / 1024} KiB` : `${payloadSize} B`;
  return workload(`PUBLISH v4 QoS1 ${label}`, 4, packets);
}

function mixedWorkload(version: 4 | 5): Workload {
  const rng = new Rng(7);
  // mqtt-packet misreads a v5 DISCONNECT / AUTH of Remaining Length 0 inside a stream (see
  // test/codec/differential.test.ts), so the v5 mix leaves them out to keep the comparison meaningful.
  const types = Object.values(PacketType).filter((t) =>
    version === 4 ? t !== PacketType.Auth : t !== PacketType.Auth && t !== PacketType.Disconnect,
  );
  const packets: Packet[] = [];
  for (let i = 0; i < 512; i++)
    packets.push(
      randomPacket(rng, version, {
        types,
        maxPayload: 256,
        passwordNeedsUsername: true,
        nonEmptyWillTopic: true,
      }),
    );
  return workload(`mixed v${version} (${types.length} types)`, version, packets);
}

type Pass = () => { packets: number; bytes: number };

function petrelDecode(w: Workload): Pass {
  return () => {
    const d = new Decoder({ protocolVersion: w.version });
    const out: Packet[] = [];
    let n = 0;
    for (const c of w.chunks) {
      const err = d.feed(c, out);
      if (err !== undefined) throw err;
      n += out.length;
      out.length = 0;
    }
    if (n !== w.streamPackets) throw new Error(`Petrel decoded ${n} of ${w.streamPackets} packets`);
    return { packets: n, bytes: w.streamBytes };
  };
}

function mqttPacketDecode(w: Workload): Pass {
  return () => {
    const parser = mqttPacket.parser({ protocolVersion: w.version });
    let n = 0;
    parser.on('packet', () => {
      n++;
    });
    parser.on('error', (e: Error) => {
      throw e;
    });
    for (const c of w.chunks) parser.parse(c);
    if (n !== w.streamPackets) throw new Error(`mqtt-packet decoded ${n} of ${w.streamPackets} packets`);
    return { packets: n, bytes: w.streamBytes };
  };
}

// Encode passes cover the distinct packets once per pass (repeated to reach the same volume as decode).
function petrelEncode(w: Workload): Pass {
  return () => {
    let bytes = 0;
    let n = 0;
    while (bytes < STREAM_BYTES / 4) {
      for (const p of w.packets) bytes += encode(p, w.version).length;
      n += w.packets.length;
    }
    return { packets: n, bytes };
  };
}

function mqttPacketEncode(w: Workload): Pass {
  const opts = { protocolVersion: w.version };
  const generate = mqttPacket.generate as (p: MpPacket, o: object) => Buffer;
  return () => {
    let bytes = 0;
    let n = 0;
    while (bytes < STREAM_BYTES / 4) {
      for (const p of w.mp) bytes += generate(p, opts).length;
      n += w.mp.length;
    }
    return { packets: n, bytes };
  };
}

interface Rate {
  pps: number;
  mbps: number;
}

function runFor(pass: Pass, ms: number): Rate {
  let packets = 0;
  let bytes = 0;
  const t0 = performance.now();
  let t = t0;
  do {
    const r = pass();
    packets += r.packets;
    bytes += r.bytes;
    t = performance.now();
  } while (t - t0 < ms);
  const s = (t - t0) / 1000;
  return { pps: packets / s, mbps: bytes / s / 1e6 };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/** Times two passes in alternating rounds after a warm-up; returns the median rates. */
function compare(a: Pass, b: Pass): [Rate, Rate] {
  runFor(a, WARMUP_MS);
  runFor(b, WARMUP_MS);
  const ra: Rate[] = [];
  const rb: Rate[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    ra.push(runFor(a, ROUND_MS));
    rb.push(runFor(b, ROUND_MS));
  }
  const med = (rs: Rate[]): Rate => ({
    pps: median(rs.map((r) => r.pps)),
    mbps: median(rs.map((r) => r.mbps)),
  });
  return [med(ra), med(rb)];
}

const fmtPps = (n: number): string =>
  n >= 1e6 ? `${(n / 1e6).toFixed(2)} M/s` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k/s` : `${n.toFixed(0)} /s`;
const fmtMb = (n: number): string => `${n.toFixed(0)} MB/s`;

function row(cells: string[]): string {
  const widths = [28, 7, 12, 11, 12, 11, 8];
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
}

const started = performance.now();
console.log(`Petrel codec vs mqtt-packet ${mqttPacketVersion()} on Node ${process.version}`);
console.log(
  `${ROUNDS} rounds x ${ROUND_MS} ms per measurement (medians); decode fed in ${CHUNK / 1024} KiB chunks\n`,
);
console.log(row(['workload', 'op', 'Petrel', 'Petrel', 'mqtt-packet', 'mqtt-packet', 'speedup']));
console.log('-'.repeat(105));

const publishDecodeSpeedups: number[] = [];
const workloads = [
  publishWorkload(16),
  publishWorkload(1024),
  publishWorkload(64 * 1024),
  mixedWorkload(4),
  mixedWorkload(5),
];
for (const w of workloads) {
  for (const op of ['decode', 'encode'] as const) {
    const [p, m] =
      op === 'decode'
        ? compare(petrelDecode(w), mqttPacketDecode(w))
        : compare(petrelEncode(w), mqttPacketEncode(w));
    const speedup = p.pps / m.pps;
    if (op === 'decode' && w.name.startsWith('PUBLISH')) publishDecodeSpeedups.push(speedup);
    console.log(
      row([w.name, op, fmtPps(p.pps), fmtMb(p.mbps), fmtPps(m.pps), fmtMb(m.mbps), `${speedup.toFixed(2)}x`]),
    );
  }
}
console.log(`\n(total ${((performance.now() - started) / 1000).toFixed(1)} s)`);
console.log(`codec publish decode speedup vs mqtt-packet: ${median(publishDecodeSpeedups).toFixed(2)}x`);

function mqttPacketVersion(): string {
  const url = new URL('../node_modules/mqtt-packet/package.json', import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
}
