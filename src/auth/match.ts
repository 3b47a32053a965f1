/**
 * Topic pattern relations used by the ACL (from src/topic), and address ranges.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

export { covers, intersects, matchesTopic } from '../topic/index.js';

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
