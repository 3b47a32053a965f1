import { createServer as createHttpServer, type Server as HttpServer, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket, type Server as TlsServer } from 'node:tls';
import type { Logger } from 'pino';
import type { WebSocketServer } from 'ws';
import type { Broker } from '../broker/broker.js';
import { ReasonCode } from '../codec/index.js';
import type { ListenerConfig } from '../config/index.js';
import type { ConnectionInfo } from '../core/client-info.js';
import type { ProtocolOptions } from '../protocol/options.js';
import { type ProxyAddress, readProxyHeader } from './proxy-protocol.js';
import { SocketConnection, socketClosed } from './socket-connection.js';
import { peerCommonName, secureContextOptions, type TlsConfig, tlsServerOptions } from './tls-options.js';
import { WsConnection } from './ws-connection.js';

export interface ListenerContext {
  broker: Broker;
  opts: ProtocolOptions;
  logger: Logger;
}

function ignore(): void {}

/** WebSocket subprotocols we speak, in order of preference (MQTT 5.0 §6: "mqtt"; older clients' names). */
const SUBPROTOCOLS = ['mqtt', 'mqttv3.1', 'mqttv5'];

/** Per raw socket: the client's address (after PROXY) and whether it is within `max_connections`. */
interface Accepted {
  peer: ProxyAddress;
  admit: boolean;
  /** ws / wss: closes a socket that has not upgraded within the connect timeout. */
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * One configured listener. Every kind accepts raw TCP sockets on a net.Server, so the PROXY header (if any)
 * and `max_connections` are handled the same way, then hands each socket to its kind: tcp → SocketConnection;
 * tls → a node:tls server (injected with `emit('connection')`) → SocketConnection on the TLS socket; ws / wss →
 * a node:http(s) server → `ws` upgrade → WsConnection. Each ends in one ProtocolConnection with the same
 * ConnectionInfo (listener name, client address, TLS Common Name).
 */
export class Listener {
  readonly cfg: ListenerConfig;
  readonly name: string;
  readonly server: NetServer = createServer();
  /** Every open raw socket (to drain on close). */
  readonly sockets = new Set<Socket>();
  private admitted = 0;
  /** Open sockets past `max_connections` (answered with a refusal). */
  private readonly refused = new Set<Socket>();
  /** One 'close' handler for all of this listener's sockets (`this` is the socket). */
  private readonly socketClosed: (this: Socket) => void;
  private readonly ctx: ListenerContext;
  private readonly accepted = new WeakMap<Socket, Accepted>();
  private tlsServer: TlsServer | undefined;
  private http: HttpServer | undefined;
  private wss: WebSocketServer | undefined;

  constructor(cfg: ListenerConfig, ctx: ListenerContext) {
    this.cfg = cfg;
    this.name = cfg.name ?? `${cfg.type}:${cfg.port}`;
    this.ctx = ctx;
    const listener = this;
    this.socketClosed = function (this: Socket) {
      if (listener.sockets.delete(this) && !listener.refused.delete(this)) listener.admitted--;
      socketClosed(this);
    };
    const handshakeTimeout = ctx.opts.connectTimeout * 1000;
    if (cfg.type === 'tls') {
      this.tlsServer = createTlsServer(tlsServerOptions(cfg, this.name, handshakeTimeout));
      this.tlsServer.on('secureConnection', (s: TLSSocket) => this.onSecure(s));
      this.tlsServer.on('tlsClientError', (err, s) => this.tlsFailed(err, s));
    } else if (cfg.type === 'ws' || cfg.type === 'wss') {
      if (cfg.type === 'wss') {
        const https = createHttpsServer(tlsServerOptions(cfg, this.name, handshakeTimeout));
        https.on('tlsClientError', (err, s) => this.tlsFailed(err, s));
        this.tlsServer = https;
        this.http = https;
      } else this.http = createHttpServer();
      this.http.headersTimeout = handshakeTimeout;
      this.http.requestTimeout = handshakeTimeout;
      this.http.on('request', (req, res) => {
        const ok = pathOf(req) === (cfg as { path: string }).path;
        res.writeHead(ok ? 426 : 404, { 'content-type': 'text/plain', connection: 'close' });
        res.end(ok ? 'MQTT over WebSocket: upgrade required\n' : 'not found\n');
      });
      this.http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
        this.onUpgrade(req, socket, head),
      );
    }
    this.server.on('connection', (s) => this.onSocket(s));
  }

  async listen(): Promise<void> {
    if (this.cfg.type === 'ws' || this.cfg.type === 'wss') {
      // Loaded on first use: a broker without WebSocket listeners never loads `ws`.
      const { WebSocketServer } = await import('ws');
      this.wss = new WebSocketServer({
        noServer: true,
        perMessageDeflate: false,
        // One WebSocket message may carry a whole packet plus a few small ones.
        maxPayload: Math.min(this.ctx.opts.maxPacketSize + 64 * 1024, 268_435_460),
        handleProtocols: (offered) => SUBPROTOCOLS.find((p) => offered.has(p)) ?? false,
      });
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: this.cfg.host, port: this.cfg.port }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** The bound port. */
  get port(): number {
    const a = this.server.address();
    return a !== null && typeof a === 'object' ? a.port : this.cfg.port;
  }

  /** Re-reads certificate, key and CA files; new handshakes use them, open connections stay. */
  reloadTls(): boolean {
    if (this.tlsServer === undefined) return false;
    this.tlsServer.setSecureContext(secureContextOptions(this.cfg as TlsConfig, this.name));
    return true;
  }

  /** Stops accepting; resolves when the listening socket is closed. */
  close(): Promise<void> {
    this.wss?.close();
    return new Promise<void>((r) => this.server.close(() => r()));
  }

  private onSocket(socket: Socket): void {
    const max = this.cfg.max_connections;
    const admit = max === 0 || this.admitted < max;
    this.sockets.add(socket);
    if (admit) this.admitted++;
    else this.refused.add(socket);
    // A plain TCP socket goes to its SocketConnection at once, which listens to 'error' itself: one listener,
    // not two. Other sockets wait (PROXY header, TLS or HTTP handshake) and must not throw meanwhile.
    if (this.cfg.type !== 'tcp' || this.cfg.proxy_protocol) socket.on('error', ignore);
    socket.on('close', this.socketClosed);
    const direct: ProxyAddress = {
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
    };
    if (!this.cfg.proxy_protocol) {
      this.route(socket, { peer: direct, admit });
      return;
    }
    readProxyHeader(
      socket,
      this.ctx.opts.connectTimeout * 1000,
      (addr) => this.route(socket, { peer: addr ?? direct, admit }),
      (reason) => {
        this.ctx.logger.warn(
          { listener: this.name, remote: `${direct.remoteAddress}:${direct.remotePort}`, reason },
          'proxy_header_invalid',
        );
        socket.destroy();
      },
    );
  }

  private route(socket: Socket, a: Accepted): void {
    if (this.cfg.proxy_protocol && this.ctx.logger.isLevelEnabled('debug')) {
      this.ctx.logger.debug(
        {
          listener: this.name,
          remote: `${a.peer.remoteAddress}:${a.peer.remotePort}`,
          proxy: `${socket.remoteAddress}:${socket.remotePort}`,
        },
        'proxy_header',
      );
    }
    if (this.cfg.type === 'tcp') {
      // This listener's 'close' handler hands the event on (socketClosed).
      new SocketConnection(socket, this.ctx.broker, this.info(a), this.ctx.opts, this.refusal(a), true);
      return;
    }
    this.accepted.set(socket, a);
    if (this.cfg.type === 'tls') {
      this.tlsServer!.emit('connection', socket);
      return;
    }
    // The HTTP server is never listen()ed, so its own header timeouts do not run: bound the upgrade here.
    a.timer = setTimeout(() => socket.destroy(), this.ctx.opts.connectTimeout * 1000);
    a.timer.unref();
    socket.once('close', () => clearTimeout(a.timer));
    this.http!.emit('connection', socket);
  }

  private info(a: Accepted, tls?: TLSSocket): ConnectionInfo {
    const info: ConnectionInfo = {
      remoteAddress: a.peer.remoteAddress,
      remotePort: a.peer.remotePort,
      listener: this.name,
    };
    if (tls !== undefined) {
      const cn = peerCommonName(tls);
      if (cn !== undefined) info.certCommonName = cn;
      if ((this.cfg as TlsConfig).use_cn_as_username) info.usernameFromCert = true;
    }
    return info;
  }

  private refusal(a: Accepted): number | undefined {
    return a.admit ? undefined : ReasonCode.QuotaExceeded;
  }

  /** The raw socket a TLS socket wraps (node:tls keeps it as `_parent`). */
  private lookup(s: Socket): Accepted | undefined {
    return this.accepted.get(s) ?? this.accepted.get((s as { _parent?: Socket })._parent as Socket);
  }

  private onSecure(s: TLSSocket): void {
    const a = this.lookup(s);
    if (a === undefined) {
      s.destroy();
      return;
    }
    s.on('error', () => {});
    new SocketConnection(s, this.ctx.broker, this.info(a, s), this.ctx.opts, this.refusal(a));
  }

  private tlsFailed(err: Error, s: TLSSocket): void {
    this.ctx.logger.debug({ listener: this.name, err: err.message }, 'tls_handshake_failed');
    s.destroy();
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const a = this.lookup(socket);
    if (a !== undefined) clearTimeout(a.timer);
    if (a === undefined || pathOf(req) !== (this.cfg as { path: string }).path) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const tls = this.cfg.type === 'wss' ? (socket as TLSSocket) : undefined;
    this.wss!.handleUpgrade(req, socket, head, (ws) => {
      new WsConnection(ws, socket, this.ctx.broker, this.info(a, tls), this.ctx.opts, this.refusal(a));
    });
  }
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
