import type { Broker, ClientHandle } from '../broker/broker.js';
import type { Packet, Properties, ProtocolVersion, Will } from '../codec/index.js';
import type { ClientInfo } from '../core/client-info.js';
import type { AuthExchange } from '../hooks/enhanced-auth.js';
import type { Outlet, Session } from '../session/session.js';
import type { ProtocolOptions } from './options.js';

/** What a protocol connection needs from its transport. The server's socket glue implements it. */
export interface ConnectionIO {
  /** Encodes `p` for the connection's protocol version and writes it (writes in one tick are coalesced). */
  send(p: Packet): void;
  /** Flushes what was written, then closes the stream. The transport then calls `onClose`. */
  close(): void;
  /** Drops the stream at once, unsent data included (a peer that does not read). */
  destroy(): void;
  /** Stops / resumes reading from the stream (while an asynchronous step such as authentication runs). */
  pause(): void;
  resume(): void;
  /** Bytes written but not yet flushed to the OS. */
  readonly writableLength: number;
}

export const State = { AwaitingConnect: 0, Connecting: 1, Connected: 2, Closed: 3 } as const;
export type State = (typeof State)[keyof typeof State];

/** An enhanced-authentication exchange in progress on a connection (at CONNECT or re-authentication). */
export interface PendingAuth {
  exchange: AuthExchange;
  /** Authenticated: `data` is the final Authentication Data for CONNACK / AUTH 0x00. */
  success(data: Buffer | undefined): void;
  fail(reasonCode: number, reason: string): void;
}

/**
 * The connection as the packet handlers (connect.ts, publish.ts, …) see it: `ProtocolConnection` implements
 * it. Handlers depend on this interface, not on the class, so they import nothing of connection.ts (no cycle)
 * and can be driven by a test double.
 */
export interface Conn extends Omit<ClientInfo, 'disconnect'>, ClientHandle, Outlet {
  readonly broker: Broker;
  readonly io: ConnectionIO;
  readonly opts: ProtocolOptions;
  readonly usernameFromCert: boolean;
  readonly isV5: boolean;
  state: State;
  protocolVersion: ProtocolVersion;
  clientId: string;
  username: string | undefined;
  session: Session | undefined;
  will: Will | undefined;
  keepAlive: number;
  cleanStart: boolean;
  clientReceiveMaximum: number;
  clientMaxPacketSize: number;
  clientTopicAliasMaximum: number;
  requestProblemInformation: boolean;
  connectSessionExpiry: number;
  aliases: Map<number, string> | undefined;
  authMethod: string | undefined;
  auth: PendingAuth | undefined;
  pendingQos1: number;
  publishWillOnClose: boolean;
  closeWith(reasonCode: number, reason: string): void;
  abort(reason: string): void;
  accepted(): void;
  sendAck(p: Packet): void;
  reasonProps(reason: string): Properties | undefined;
}
