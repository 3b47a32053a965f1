import type { ProtocolVersion } from '../codec/index.js';

/** What the transport knows about a stream: the client's address (after a PROXY header), listener, TLS peer. */
export interface ConnectionInfo {
  remoteAddress: string;
  remotePort: number;
  listener: string;
  /** Common Name of the client's verified TLS certificate. */
  certCommonName?: string;
  /** TLS `use_cn_as_username`: the username is `certCommonName` (none without a verified certificate). */
  usernameFromCert?: boolean;
}

/** A client as hooks and features see it. */
export interface ClientInfo {
  readonly clientId: string;
  readonly username: string | undefined;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly listener: string;
  readonly protocolVersion: ProtocolVersion;
  /** Common Name of the client's verified TLS certificate (tls / wss listeners), if it sent one. */
  readonly certCommonName?: string | undefined;
  /** Set once CONNECT is accepted (the `client.connected` / `client.disconnected` hooks have them). */
  readonly keepAlive?: number;
  readonly cleanStart?: boolean;
  /** Ends the connection from the server side (MQTT 5: DISCONNECT with `reasonCode`); absent when not live. */
  disconnect?(reasonCode: number, reason: string): void;
}
