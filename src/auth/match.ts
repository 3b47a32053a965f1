/**
 * Topic pattern relations used by the ACL, and address ranges. Patterns and filters are MQTT topic filters
 * (`+`, `#`); a wildcard in the first level never matches a topic starting with `$` [MQTT-4.7.2-1].
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

const isWild = (l: string): boolean => l === '+' || l === '#';

/** Whether `pattern` matches the topic name `topic`. */
export function matchesTopic(pattern: string, topic: string): boolean {
  return covers(pattern, topic);
}

/** Whether every topic that `filter` matches is also matched by `pattern` (filter ⊆ pattern). */
export function covers(pattern: string, filter: string): boolean {
  const p = pattern.split('/');
  const f = filter.split('/');
  if (isWild(p[0]!) && f[0]!.startsWith('$')) return false;
  for (let i = 0; i < p.length; i++) {
    const pl = p[i]!;
    if (pl === '#') return true; // also covers the parent level (`a/#` matches `a`)
    if (i >= f.length) return false;
    const fl = f[i]!;
    if (fl === '#') return false;
    if (pl === '+') continue;
    if (fl === '+' || fl !== pl) return false;
  }
  return p.length === f.length;
}

/** Whether some topic is matched by both `a` and `b`. */
export function intersects(a: string, b: string): boolean {
  const x = a.split('/');
  const y = b.split('/');
  // First-level wildcards do not reach `$` topics.
  if ((isWild(x[0]!) && y[0]!.startsWith('$')) || (isWild(y[0]!) && x[0]!.startsWith('$'))) return false;
  const n = Math.max(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const xl = x[i];
    const yl = y[i];
    if (xl === '#' || yl === '#') return true;
    if (xl === undefined) return yl === '#';
    if (yl === undefined) return xl === '#';
    if (xl === '+' || yl === '+') continue;
    if (xl !== yl) return false;
  }
  return true;
}

/** An address or CIDR range (`10.0.0.0/8`, `::1`, `2001:db8::/32`). Throws on a malformed one. */
export class AddressRange {
  private readonly list = new BlockList();
  constructor(readonly text: string) {
    const [addr, bits, extra] = text.split('/');
    const v4 = isIPv4(addr ?? '');
    if (extra !== undefined || (!v4 && !isIPv6(addr ?? '')))
      throw new Error(`"${text}" is not an address or CIDR`);
    const type = v4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) this.list.addAddress(addr!, type);
    else {
      const prefix = Number(bits);
      if (!/^\d+$/.test(bits) || prefix > (v4 ? 32 : 128))
        throw new Error(`"${text}" has a bad prefix length`);
      this.list.addSubnet(addr!, prefix, type);
    }
  }

  has(address: string): boolean {
    let a = address;
    if (a.startsWith('::ffff:') && isIPv4(a.slice(7))) a = a.slice(7);
    if (isIPv4(a)) return this.list.check(a, 'ipv4');
    if (isIPv6(a)) return this.list.check(a, 'ipv6');
    return false;
  }
}

/** Whether `host` is a loopback address or name. */
export function isLoopback(host: string): boolean {
  return (
    host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::ffff:127.0.0.1'
  );
}
