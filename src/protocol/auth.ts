import { type AuthPacket, PacketType, ReasonCode } from '../codec/index.js';
import type { MaybePromise } from '../core/types.js';
import type { AuthStep } from '../hooks/enhanced-auth.js';
import { type Conn, type PendingAuth, State } from './state.js';

/** Applies one step's outcome: another AUTH 0x18 round, or the exchange's end. */
export function runAuthStep(
  c: Conn,
  pending: PendingAuth,
  step: MaybePromise<AuthStep>,
): void | Promise<void> {
  const apply = (s: AuthStep): void => {
    if (c.state === State.Closed || c.auth !== pending) return;
    switch (s.result) {
      case 'continue':
        c.io.send({
          type: PacketType.Auth,
          reasonCode: ReasonCode.ContinueAuthentication,
          properties: { authenticationMethod: c.authMethod, authenticationData: s.data },
        });
        return;
      case 'success':
        c.auth = undefined;
        pending.success(s.data);
        return;
      case 'fail':
        c.auth = undefined;
        pending.fail(s.reasonCode ?? ReasonCode.NotAuthorized, s.reason ?? 'authentication failed');
        return;
    }
  };
  if (step instanceof Promise) {
    return step.then(apply, (e: unknown) => {
      if (c.auth !== pending) return;
      c.auth = undefined;
      pending.fail(
        ReasonCode.NotAuthorized,
        `authentication failed: ${e instanceof Error ? e.message : String(e)}`,
      );
    });
  }
  apply(step);
}

/**
 * AUTH from the client (MQTT 5.0 §3.15, §4.12): 0x18 continues the exchange in progress; 0x19 starts
 * re-authentication with the method of the CONNECT [MQTT-4.12.1-1]. Anything else is a Protocol Error.
 */
export function handleAuth(c: Conn, p: AuthPacket): void | Promise<void> {
  const method = p.properties?.authenticationMethod;
  if (c.authMethod === undefined) return protocolError(c, 'AUTH without enhanced authentication');
  if (method !== c.authMethod)
    return protocolError(c, `AUTH method "${method ?? ''}" differs from "${c.authMethod}"`);
  const data = p.properties?.authenticationData;
  if (p.reasonCode === ReasonCode.ContinueAuthentication && c.auth !== undefined) {
    return runAuthStep(c, c.auth, c.auth.exchange.step(data));
  }
  if (p.reasonCode === ReasonCode.ReAuthenticate && c.state === State.Connected && c.auth === undefined) {
    const mech = c.broker.hooks.findAuthMechanism(c.authMethod);
    if (mech === undefined)
      return c.closeWith(ReasonCode.BadAuthenticationMethod, 'authentication method no longer available');
    const pending: PendingAuth = {
      exchange: mech.begin({
        clientId: c.clientId,
        username: c.username,
        remoteAddress: c.remoteAddress,
        listener: c.listener,
        reauth: true,
      }),
      success: (d) =>
        c.io.send({
          type: PacketType.Auth,
          reasonCode: ReasonCode.Success,
          properties: { authenticationMethod: c.authMethod, authenticationData: d },
        }),
      // A failed re-authentication ends the connection (MQTT 5.0 §4.12.1).
      fail: (rc, reason) => c.closeWith(rc, reason),
    };
    c.auth = pending;
    return runAuthStep(c, pending, pending.exchange.step(data));
  }
  return protocolError(c, `unexpected AUTH reason code 0x${p.reasonCode.toString(16)}`);
}

/**
 * A Protocol Error in AUTH. During the CONNECT exchange the refusal is a CONNACK 0x82 (no DISCONNECT before
 * CONNACK [MQTT-3.14.0-1]), as for any other packet before CONNACK; once connected, DISCONNECT 0x82.
 */
function protocolError(c: Conn, reason: string): void {
  const pending = c.auth;
  if (c.state === State.Connecting && pending !== undefined) {
    c.auth = undefined;
    pending.fail(ReasonCode.ProtocolError, reason);
    return;
  }
  c.closeWith(ReasonCode.ProtocolError, reason);
}
