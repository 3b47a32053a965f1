import { connect as netConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import WebSocket, { createWebSocketStream } from 'ws';

export type Scheme = 'mqtt' | 'mqtts' | 'ws' | 'wss';

/** Where and how to reach a broker. */
export interface Endpoint {
  scheme: Scheme;
  host: string;
  port: number;
  /** WebSocket path (default `/mqtt`). */
  path: string;
}

export interface TlsOptions {
  /** PEM CA certificate(s) to trust instead of the system store. */
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** false = accept any server certificate (`--insecure`). */
  rejectUnauthorized?: boolean;
}

/** What a broker URL says: `mqtt[s]://user:pass@host:port/topic`, `ws[s]://host:port/path`. */
export interface ParsedUrl extends Endpoint {
  username?: string;
  password?: string;
  /** The URL path as a topic (mqtt/mqtts only; empty when absent). */
  topic?: string;
}

const DEFAULT_PORT: Record<Scheme, number> = { mqtt: 1883, mqtts: 8883, ws: 80, wss: 443 };

/** Parses a broker URL; throws a TypeError naming what is wrong. */
export function parseBrokerUrl(text: string): ParsedUrl {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new TypeError(
      `"${text}" is not a URL (expected mqtt[s]://host:port/topic or ws[s]://host:port/path)`,
    );
  }
  const raw = u.protocol.slice(0, -1);
  const scheme = (raw === 'tcp' ? 'mqtt' : raw === 'ssl' || raw === 'tls' ? 'mqtts' : raw) as Scheme;
  if (!(scheme in DEFAULT_PORT)) {
    throw new TypeError(`unsupported URL scheme "${raw}:" (expected mqtt, mqtts, ws or wss)`);
  }
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1') || 'localhost';
  const port = u.port === '' ? DEFAULT_PORT[scheme] : Number(u.port);
  const out: ParsedUrl = { scheme, host, port, path: '/mqtt' };
  if (u.username !== '') out.username = decodeURIComponent(u.username);
  if (u.password !== '') out.password = decodeURIComponent(u.password);
  const path = decodeURIComponent(u.pathname);
  if (scheme === 'ws' || scheme === 'wss') {
    if (path !== '' && path !== '/') out.path = path + u.search;
  } else if (path.length > 1) {
    out.topic = path.slice(1);
  }
  return out;
}

/** Opens a byte stream to the broker: TCP, TLS, or a WebSocket (subprotocol `mqtt`) as a stream. */
export function openTransport(ep: Endpoint, tls: TlsOptions = {}, timeoutMs = 10_000): Promise<Duplex> {
  return new Promise<Duplex>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(
      () => fail(new Error(`no connection to ${where(ep)} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    let stream: Duplex | undefined;
    let ws: WebSocket | undefined;
    function fail(e: Error): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stream?.destroy();
      ws?.terminate();
      reject(e);
    }
    function ok(s: Duplex): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(s);
    }
    const tlsOpts = {
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      rejectUnauthorized: tls.rejectUnauthorized ?? true,
    };
    if (ep.scheme === 'mqtt') {
      const s = netConnect({ host: ep.host, port: ep.port });
      s.setNoDelay(true);
      stream = s;
      s.once('connect', () => ok(s));
      s.once('error', (e) => fail(describe(e, ep)));
    } else if (ep.scheme === 'mqtts') {
      const s = tlsConnect({ host: ep.host, port: ep.port, servername: sni(ep.host), ...tlsOpts });
      s.setNoDelay(true);
      stream = s;
      s.once('secureConnect', () => ok(s));
      s.once('error', (e) => fail(describe(e, ep)));
    } else {
      const url = `${ep.scheme}://${ep.host.includes(':') ? `[${ep.host}]` : ep.host}:${ep.port}${ep.path}`;
      const sock = new WebSocket(url, 'mqtt', {
        perMessageDeflate: false,
        ...(ep.scheme === 'wss' ? tlsOpts : {}),
      });
      ws = sock;
      sock.once('open', () => {
        const s = createWebSocketStream(sock);
        s.on('error', () => {});
        ok(s);
      });
      sock.once('unexpected-response', (_req, res) =>
        fail(new Error(`WebSocket upgrade to ${url} refused: HTTP ${res.statusCode}`)),
      );
      sock.once('error', (e) => fail(describe(e, ep)));
    }
  });
}

function sni(host: string): string | undefined {
  return /^[\d.]+$|:/.test(host) ? undefined : host;
}

export function where(ep: Endpoint): string {
  return `${ep.scheme}://${ep.host.includes(':') ? `[${ep.host}]` : ep.host}:${ep.port}`;
}

function describe(e: Error & { code?: string }, ep: Endpoint): Error {
  const reason =
    e.code === 'ECONNREFUSED' ? 'connection refused' : e.code === 'ENOTFOUND' ? 'host not found' : e.message;
  return new Error(`cannot connect to ${where(ep)}: ${reason}`, { cause: e });
}

/** Resolves when `stream`'s write buffer has drained, or when it closes (at once if the buffer is not full). */
export function whenDrained(stream: Duplex, closed: boolean): Promise<void> {
  if (!stream.writableNeedDrain || closed) return Promise.resolve();
  return new Promise((r) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      r();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}
