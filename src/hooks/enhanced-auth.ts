/**
 * MQTT 5 enhanced authentication (§4.12): a mechanism, named by its Authentication Method, runs an exchange
 * of AUTH packets with the client, at CONNECT and again for re-authentication (AUTH 0x19).
 */
import type { MaybePromise } from '../core/types.js';

export interface AuthContext {
  readonly clientId: string;
  readonly username: string | undefined;
  readonly remoteAddress: string;
  readonly listener: string;
  /** True for re-authentication of a connected client. */
  readonly reauth: boolean;
}

/**
 * One step's outcome. `continue`: send the client AUTH 0x18 with `data` and wait for its answer; `success`:
 * authenticated (`data` goes in CONNACK, or in AUTH 0x00 for re-authentication); `fail`: refused with
 * `reasonCode` (default 0x87 Not authorized).
 */
export type AuthStep =
  | { result: 'continue'; data?: Buffer }
  | { result: 'success'; data?: Buffer }
  | { result: 'fail'; reasonCode?: number; reason?: string };

/** The state of one exchange: each client message (Authentication Data) goes to `step`. */
export interface AuthExchange {
  step(data: Buffer | undefined): MaybePromise<AuthStep>;
}

export interface EnhancedAuthMechanism {
  /** The Authentication Method, e.g. "SCRAM-SHA-256". */
  readonly method: string;
  begin(ctx: AuthContext): AuthExchange;
}
