// PROXY protocol v1 (text) and v2 (binary), as HAProxy and cloud load balancers send it first on a connection
// (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt). Only the source address and port are used.
import { isIPv4, isIPv6, type Socket } from 'node:net';

/** The client's address as the proxy reports it; undefined address = LOCAL / UNKNOWN (use the socket's). */
export interface ProxyAddress {
  remoteAddress: string;
  remotePort: number;
}

export type ProxyParse =
  | { status: 'partial' }
  | { status: 'done'; address: ProxyAddress | undefined; length: number }
  | { status: 'error'; reason: string };

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ');
/** A v1 line is at most 107 bytes including CRLF. */
const V1_MAX = 107;
const PARTIAL = { status: 'partial' } as const;

const error = (reason: string): ProxyParse => ({ status: 'error', reason });

/** Whether `buf` is a prefix of `sig` or starts with it. */
function matches(buf: Buffer, sig: Buffer): boolean {
  const n = Math.min(buf.length, sig.length);
  return buf.compare(sig, 0, n, 0, n) === 0;
}

/** Parses a PROXY header at the start of `buf` (which may hold more bytes after it, or not all of it yet). */
export function parseProxyHeader(buf: Buffer): ProxyParse {
  if (buf.length === 0) return PARTIAL;
  if (matches(buf, V2_SIGNATURE)) return buf.length < 16 ? PARTIAL : parseV2(buf);
  if (matches(buf, V1_PREFIX)) return buf.length < V1_PREFIX.length ? PARTIAL : parseV1(buf);
  return error('no PROXY protocol header');
}

function parsePort(s: string | undefined): number | undefined {
  if (s === undefined || !/^(0|[1-9]\d{0,4})$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 65535 ? n : undefined;
}

function parseV1(buf: Buffer): ProxyParse {
  const end = buf.indexOf('\r\n', 0, 'latin1');
  if (end === -1) return buf.length >= V1_MAX ? error('PROXY v1 line longer than 107 bytes') : PARTIAL;
  if (end + 2 > V1_MAX) return error('PROXY v1 line longer than 107 bytes');
  const parts = buf.toString('latin1', 0, end).split(' ');
  const proto = parts[1];
  if (proto === 'UNKNOWN') return { status: 'done', address: undefined, length: end + 2 };
  if (parts.length !== 6) return error('PROXY v1 line needs 6 fields');
  const [, , src, dst, sport, dport] = parts;
  const isIp = proto === 'TCP4' ? isIPv4 : proto === 'TCP6' ? isIPv6 : undefined;
  if (isIp === undefined) return error(`PROXY v1 protocol "${proto}" is not TCP4, TCP6 or UNKNOWN`);
  if (!isIp(src!) || !isIp(dst!))
    return error(`PROXY v1 address is not ${proto === 'TCP4' ? 'IPv4' : 'IPv6'}`);
  const port = parsePort(sport);
  if (port === undefined || parsePort(dport) === undefined) return error('PROXY v1 port is not 0..65535');
  return { status: 'done', address: { remoteAddress: src!, remotePort: port }, length: end + 2 };
}

function ipv6(buf: Buffer, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(at + i * 2).toString(16));
  // Compress like Node prints addresses: the longest run of zero groups becomes '::'.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best === -1) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

function parseV2(buf: Buffer): ProxyParse {
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return error(`PROXY v2 version ${verCmd >> 4} is not 2`);
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return error(`PROXY v2 command ${cmd} is not LOCAL or PROXY`);
  const fam = buf[13]!;
  const len = buf.readUInt16BE(14);
  const total = 16 + len;
  if (buf.length < total) return PARTIAL;
  // LOCAL (health checks from the proxy itself), or a family we do not map: keep the socket's address.
  if (cmd === 0) return { status: 'done', address: undefined, length: total };
  const family = fam >> 4;
  const transport = fam & 0x0f;
  if (transport > 2) return error(`PROXY v2 transport ${transport} is unknown`);
  if (family === 1) {
    if (len < 12) return error('PROXY v2 IPv4 address block shorter than 12 bytes');
    const remoteAddress = `${buf[16]}.${buf[17]}.${buf[18]}.${buf[19]}`;
    return { status: 'done', address: { remoteAddress, remotePort: buf.readUInt16BE(24) }, length: total };
  }
  if (family === 2) {
    if (len < 36) return error('PROXY v2 IPv6 address block shorter than 36 bytes');
    return {
      status: 'done',
      address: { remoteAddress: ipv6(buf, 16), remotePort: buf.readUInt16BE(48) },
      length: total,
    };
  }
  if (family === 0 || family === 3) return { status: 'done', address: undefined, length: total };
  return error(`PROXY v2 address family ${family} is unknown`);
}

/**
 * Reads a PROXY header from the start of `socket`, then hands the socket on with any bytes after the header
 * put back (`unshift`). `done(undefined)` means the header carried no address (LOCAL / UNKNOWN). A malformed
 * header, or none within `timeoutMs`, calls `fail` (the caller closes the socket).
 */
export function readProxyHeader(
  socket: Socket,
  timeoutMs: number,
  done: (address: ProxyAddress | undefined) => void,
  fail: (reason: string) => void,
): void {
  let buf: Buffer = Buffer.alloc(0);
  const timer = setTimeout(() => finish({ status: 'error', reason: 'no PROXY header in time' }), timeoutMs);
  timer.unref();
  let over = false;
  const finish = (r: ProxyParse, rest?: Buffer): void => {
    if (over) return;
    over = true;
    clearTimeout(timer);
    socket.off('readable', onReadable);
    socket.off('close', onClose);
    if (r.status === 'error') fail(r.reason);
    else if (r.status === 'done') {
      if (rest !== undefined && rest.length > 0) socket.unshift(rest);
      done(r.address);
    }
  };
  const onClose = (): void => finish({ status: 'error', reason: 'closed before the PROXY header' });
  const onReadable = (): void => {
    for (let i = 0; i < 64 && !over; i++) {
      const chunk = socket.read() as Buffer | null;
      if (chunk === null) return;
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const r = parseProxyHeader(buf);
      if (r.status === 'done') finish(r, buf.subarray(r.length));
      else if (r.status === 'error') finish(r);
      else if (buf.length > 16 + 65535) finish({ status: 'error', reason: 'PROXY header too long' });
    }
  };
  socket.on('readable', onReadable);
  socket.on('close', onClose);
}
