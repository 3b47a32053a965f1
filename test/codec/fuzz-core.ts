/**
 * The codec fuzzer: random bytes and mutations of valid packets (bit flips, truncation, splicing, length
 * field corruption, insertions and deletions), fed in random chunk sizes to a Decoder. Run by fuzz.test.ts in
 * a worker thread so that a hang is caught by a time limit instead of freezing the test run.
 */
import { isDeepStrictEqual } from 'node:util';
import {
  CodecError,
  Decoder,
  decodeAll,
  encode,
  type Packet,
  PacketType,
  type ProtocolVersion,
} from '../../src/codec/index.js';
import { FIXTURES } from './fixtures.js';
import { Rng, randomPacket } from './random.js';

export interface FuzzOptions {
  seed: number;
  inputs: number;
  version: 4 | 5;
  maxPacketSize: number;
}

export interface FuzzReport {
  inputs: number;
  bytes: number;
  packets: number;
  errors: Record<string, number>;
  maxBuffered: number;
  /** Slowest single input, in milliseconds. */
  slowestMs: number;
  failures: string[];
}

function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

/** Offset just past the fixed header of the packet at `buf[0]` (or buf.length if cut short). */
function headerEnd(buf: Buffer): number {
  let i = 1;
  while (i < buf.length && i < 5 && buf[i]! & 0x80) i++;
  return Math.min(i + 1, buf.length);
}

function mutate(r: Rng, seeds: Buffer[], version: 4 | 5): Buffer {
  const pick = () => r.pick(seeds);
  switch (r.int(0, 8)) {
    case 0: // random bytes
      return r.bytes(r.int(0, 256));
    case 1: // random bytes behind a plausible first byte
      return Buffer.concat([Buffer.from([r.int(1, 15) << 4]), r.bytes(r.int(0, 64))]);
    case 2: {
      // bit flips
      const b = Buffer.from(pick());
      for (let k = r.int(1, 4); k > 0; k--) {
        if (b.length === 0) break;
        const i = r.int(0, b.length - 1);
        b[i] = b[i]! ^ (1 << r.int(0, 7));
      }
      return b;
    }
    case 3: {
      // truncation, sometimes followed by a whole packet
      const b = pick();
      const cut = b.subarray(0, r.int(0, b.length));
      return r.bool() ? Buffer.concat([cut, pick()]) : Buffer.from(cut);
    }
    case 4: {
      // splicing: the head of one packet with the tail of another
      const a = pick();
      const c = pick();
      return Buffer.concat([a.subarray(0, r.int(0, a.length)), c.subarray(r.int(0, c.length))]);
    }
    case 5: {
      // length-field corruption: a random Remaining Length (possibly longer, shorter, non-minimal, 5 bytes)
      const b = pick();
      const end = headerEnd(b);
      let len: number[];
      const k = r.int(0, 3);
      if (k === 0) len = varint(r.int(0, 300));
      else if (k === 1) len = varint(Math.max(0, b.length - end + r.int(-3, 3)));
      else if (k === 2) len = [0x80 | r.int(0, 127), 0x80, 0x00].slice(0, r.int(2, 3));
      else len = [0xff, 0xff, 0xff, 0xff, r.int(0, 0xff)].slice(0, r.int(1, 5));
      return Buffer.concat([b.subarray(0, 1), Buffer.from(len), b.subarray(end)]);
    }
    case 6: {
      // corrupt a byte inside the variable header (lengths of strings and property blocks live there)
      const b = Buffer.from(pick());
      if (b.length > 2)
        b[r.int(2, Math.min(b.length - 1, 12))] = r.pick([0x00, 0x01, 0x7f, 0x80, 0xff, r.int(0, 255)]);
      return b;
    }
    case 7: {
      // insertions and deletions
      const b = [...pick()];
      for (let k = r.int(1, 3); k > 0; k--) {
        const i = r.int(0, b.length);
        if (r.bool() && b.length > 0) b.splice(Math.min(i, b.length - 1), 1);
        else b.splice(i, 0, r.int(0, 255));
      }
      return Buffer.from(b);
    }
    default: {
      // a stream of valid packets with one of them mutated
      const parts: Buffer[] = [];
      for (let k = r.int(2, 6); k > 0; k--) parts.push(pick());
      const i = r.int(0, parts.length - 1);
      parts[i] = mutate(r, [parts[i]!], version);
      return Buffer.concat(parts);
    }
  }
}

export function runFuzz(opts: FuzzOptions): FuzzReport {
  const r = new Rng(opts.seed);
  const v = opts.version;
  // Seeds: every fixture that decodes in this version's context, plus random valid packets.
  const seeds: Buffer[] = FIXTURES.filter((f) => f.version === v || f.packet.type === PacketType.Connect).map(
    (f) => f.bytes,
  );
  for (let i = 0; i < 300; i++) seeds.push(encode(randomPacket(r, v, { maxPayload: 40 }), v));

  const report: FuzzReport = {
    inputs: 0,
    bytes: 0,
    packets: 0,
    errors: {},
    maxBuffered: 0,
    slowestMs: 0,
    failures: [],
  };
  const fail = (msg: string) => {
    if (report.failures.length < 10) report.failures.push(msg);
  };

  for (let n = 0; n < opts.inputs; n++) {
    const input = mutate(r, seeds, v);
    const t0 = performance.now();
    const d = new Decoder({ maxPacketSize: opts.maxPacketSize, protocolVersion: v });
    const out: Packet[] = [];
    let pos = 0;
    let err: CodecError | undefined;
    while (pos < input.length && err === undefined) {
      const size = r.bool(0.3) ? r.int(1, 4) : r.int(1, input.length);
      const versionBefore = d.version;
      const from = out.length;
      try {
        err = d.feed(input.subarray(pos, pos + size), out);
      } catch (e) {
        fail(`feed threw ${String(e)} on ${input.toString('hex')}`);
        break;
      }
      pos += size;
      if (err !== undefined && !(err instanceof CodecError))
        fail(`feed returned a non-CodecError: ${String(err)}`);
      if (err?.message.startsWith('undecodable packet')) {
        fail(`internal exception surfaced as ${err.message} on ${input.toString('hex')}`);
      }
      if (d.buffered > opts.maxPacketSize)
        fail(`buffered ${d.buffered} > maxPacketSize on ${input.toString('hex')}`);
      report.maxBuffered = Math.max(report.maxBuffered, d.buffered);
      // Every packet re-encodes for the version in force when it was decoded, and decodes back to itself.
      let ver: ProtocolVersion = versionBefore;
      for (let i = from; i < out.length; i++) {
        const p = out[i]!;
        if (p.type === PacketType.Connect) ver = p.protocolVersion;
        try {
          const bytes = encode(p, ver);
          const again = decodeAll(bytes, { protocolVersion: ver });
          if (again.length !== 1 || !isDeepStrictEqual(again[0], p)) {
            fail(`round trip changed ${JSON.stringify(p)} (v${ver}) from ${input.toString('hex')}`);
          }
        } catch (e) {
          fail(
            `re-encoding ${JSON.stringify(p)} (v${ver}) threw ${String(e)}; input ${input.toString('hex')}`,
          );
        }
      }
    }
    if (err !== undefined) {
      const key = `0x${err.reasonCode.toString(16)}`;
      report.errors[key] = (report.errors[key] ?? 0) + 1;
      if (d.feed(Buffer.from([0xc0, 0x00]), out) !== err) fail('a failed decoder must stay failed');
    }
    report.slowestMs = Math.max(report.slowestMs, performance.now() - t0);
    report.inputs++;
    report.bytes += input.length;
    report.packets += out.length;
  }
  return report;
}
