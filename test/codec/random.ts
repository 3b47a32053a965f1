/** A seeded PRNG and generators of random valid packets, for the differential and fuzz tests. */
import {
  AllowedReasonCodes,
  type Packet,
  PacketType,
  PROPERTY_TABLE,
  type Properties,
  type PropertyDef,
  type QoS,
  WILL_PROPERTIES,
} from '../../src/codec/index.js';

/** mulberry32: a tiny 32-bit seeded PRNG, good enough for test data. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  bool(p = 0.5): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(this.next() * 256);
    return b;
  }
}

// Characters of 1 to 4 UTF-8 bytes; never U+0000, never a lone surrogate.
const CHARS = [
  'a',
  'b',
  'z',
  '0',
  '9',
  '/',
  '+',
  '#',
  '$',
  '-',
  '_',
  ' ',
  'é',
  'ü',
  'ß',
  '€',
  '中',
  '文',
  '𝄞',
  '😀',
];

export function randomString(r: Rng, maxChars: number, minChars = 0): string {
  const n = r.int(minChars, maxChars);
  let s = '';
  for (let i = 0; i < n; i++) s += r.pick(CHARS);
  return s;
}

function randomValue(r: Rng, d: PropertyDef): unknown {
  switch (d.wire) {
    case 'byte':
      // Every byte property is 0/1 except Maximum QoS, which is also 0/1 [MQTT-3.2.2.3.4].
      return r.int(0, 1);
    case 'u16':
      return r.int(1, 0xffff);
    case 'u32':
      return r.bool(0.2) ? r.pick([1, 0xffffffff]) : r.int(1, 0xffffffff);
    case 'varint':
      return [r.bool(0.3) ? r.pick([1, 127, 128, 16383, 16384, 268_435_455]) : r.int(1, 268_435_455)];
    case 'utf8':
      return randomString(r, 12);
    case 'binary':
      return r.bytes(r.int(0, 16));
    case 'pair': {
      const n = r.int(1, 4);
      const pairs: [string, string][] = [];
      for (let i = 0; i < n; i++) pairs.push([randomString(r, 6), randomString(r, 8)]);
      return pairs;
    }
  }
}

/** Random properties allowed in `ptype` (a packet type or WILL_PROPERTIES), or undefined. */
export function randomProperties(r: Rng, ptype: number, density = 0.3): Properties | undefined {
  if (r.bool(0.3)) return undefined;
  const props: Record<string, unknown> = {};
  let any = false;
  for (const d of PROPERTY_TABLE) {
    if (!d.packets.has(ptype) || !r.bool(density)) continue;
    let v = randomValue(r, d);
    // PUBLISH may carry several Subscription Identifiers (one per matching subscription).
    if (d.key === 'subscriptionIdentifiers' && ptype === PacketType.Publish && r.bool(0.3)) {
      v = [...(v as number[]), r.int(1, 268_435_455)];
    }
    props[d.key] = v;
    any = true;
  }
  return any ? (props as Properties) : undefined;
}

function reason(r: Rng, type: PacketType, version: 4 | 5): number {
  if (version !== 5) return 0;
  const set = AllowedReasonCodes[type];
  return set === undefined ? 0 : r.pick([...set]);
}

const qos = (r: Rng): QoS => r.int(0, 2) as QoS;
const packetId = (r: Rng): number => (r.bool(0.1) ? r.pick([1, 65535]) : r.int(1, 65535));

function withProps<T extends object>(p: T, props: Properties | undefined, version: 4 | 5): T {
  if (version === 5 && props !== undefined) (p as { properties?: Properties }).properties = props;
  return p;
}

export interface GenOptions {
  /** Packet types to choose from (default: all valid for the version). */
  types?: readonly PacketType[];
  /** Largest PUBLISH payload (default 300). */
  maxPayload?: number;
  /** Constraints of other implementations, e.g. mqtt-packet needs a user name to send a password. */
  passwordNeedsUsername?: boolean;
  nonEmptyWillTopic?: boolean;
}

/** A random packet that is valid for `version`, in Petrel's shape (what decode would produce). */
export function randomPacket(r: Rng, version: 4 | 5, opts: GenOptions = {}): Packet {
  const all = Object.values(PacketType).filter((t) => version === 5 || t !== PacketType.Auth);
  const type = r.pick(opts.types ?? all);
  const v5 = version === 5;
  switch (type) {
    case PacketType.Connect: {
      const clean = r.bool();
      const p: Packet = {
        type,
        protocolName: 'MQTT',
        protocolVersion: version,
        clean,
        keepAlive: r.int(0, 65535),
        clientId: randomString(r, 23, clean ? 0 : 1),
      };
      withProps(p, randomProperties(r, PacketType.Connect), version);
      if (r.bool()) {
        const will: NonNullable<typeof p.will> = {
          topic: randomString(r, 20, opts.nonEmptyWillTopic ? 1 : 0),
          payload: r.bytes(r.int(0, 40)),
          qos: qos(r),
          retain: r.bool(),
        };
        if (v5) {
          const wp = randomProperties(r, WILL_PROPERTIES);
          if (wp !== undefined) will.properties = wp;
        }
        p.will = will;
      }
      const user = r.bool();
      if (user) p.username = randomString(r, 12);
      if (r.bool() && (user || (v5 && !opts.passwordNeedsUsername))) p.password = r.bytes(r.int(0, 20));
      return p;
    }
    case PacketType.Connack: {
      const rc = v5 ? reason(r, type, 5) : r.pick([0x00, 0x84, 0x85, 0x88, 0x86, 0x87]);
      return withProps(
        { type, sessionPresent: r.bool(), reasonCode: rc },
        randomProperties(r, type),
        version,
      );
    }
    case PacketType.Publish: {
      const q = qos(r);
      const p: Packet = {
        type,
        topic: randomString(r, 30, 1),
        payload: r.bytes(r.int(0, opts.maxPayload ?? 300)),
        qos: q,
        retain: r.bool(),
        dup: q > 0 && r.bool(0.2),
      };
      if (q > 0) p.packetId = packetId(r);
      return withProps(p, randomProperties(r, type), version);
    }
    case PacketType.Puback:
    case PacketType.Pubrec:
    case PacketType.Pubrel:
    case PacketType.Pubcomp: {
      const rc = r.bool() ? 0 : reason(r, type, version);
      return withProps({ type, packetId: packetId(r), reasonCode: rc }, randomProperties(r, type), version);
    }
    case PacketType.Subscribe: {
      const n = r.int(1, 5);
      const subscriptions = [];
      for (let i = 0; i < n; i++) {
        subscriptions.push({
          topicFilter: randomString(r, 20, 1),
          qos: qos(r),
          noLocal: v5 && r.bool(),
          retainAsPublished: v5 && r.bool(),
          retainHandling: (v5 ? r.int(0, 2) : 0) as 0 | 1 | 2,
        });
      }
      return withProps({ type, packetId: packetId(r), subscriptions }, randomProperties(r, type), version);
    }
    case PacketType.Suback: {
      const n = r.int(1, 6);
      const codes: number[] = [];
      for (let i = 0; i < n; i++) codes.push(v5 ? reason(r, type, 5) : r.pick([0, 1, 2, 0x80]));
      return withProps(
        { type, packetId: packetId(r), reasonCodes: codes },
        randomProperties(r, type),
        version,
      );
    }
    case PacketType.Unsubscribe: {
      const n = r.int(1, 5);
      const topicFilters: string[] = [];
      for (let i = 0; i < n; i++) topicFilters.push(randomString(r, 20, 1));
      return withProps({ type, packetId: packetId(r), topicFilters }, randomProperties(r, type), version);
    }
    case PacketType.Unsuback: {
      const codes: number[] = [];
      if (v5) for (let i = r.int(1, 6); i > 0; i--) codes.push(reason(r, type, 5));
      return withProps(
        { type, packetId: packetId(r), reasonCodes: codes },
        randomProperties(r, type),
        version,
      );
    }
    case PacketType.Pingreq:
    case PacketType.Pingresp:
      return { type };
    case PacketType.Disconnect:
      return withProps(
        { type, reasonCode: r.bool() ? 0 : reason(r, type, version) },
        randomProperties(r, type),
        version,
      );
    case PacketType.Auth:
      return withProps({ type, reasonCode: reason(r, type, 5) }, randomProperties(r, type), version);
    default:
      throw new Error(`no generator for packet type ${type}`);
  }
}
