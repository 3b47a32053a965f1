import { type DisconnectPacket, ReasonCode } from '../codec/index.js';
import { NEVER_EXPIRES } from '../core/limits.js';
import type { Conn } from './state.js';

/**
 * DISCONNECT from the client: 0x00 discards the will [MQTT-3.14.4-3], 0x04 keeps it; MQTT 5 may change
 * the Session Expiry Interval, but not from 0 to non-zero [MQTT-3.14.2-2].
 */
export function handleDisconnect(c: Conn, p: DisconnectPacket): void {
  if (c.isV5) {
    const expiry = p.properties?.sessionExpiryInterval;
    if (expiry !== undefined) {
      if (c.connectSessionExpiry === 0 && expiry !== 0) {
        c.closeWith(ReasonCode.ProtocolError, 'Session Expiry Interval cannot change from 0 in DISCONNECT');
        return;
      }
      const s = c.session;
      if (s !== undefined) s.expiryInterval = Math.min(expiry, c.opts.maxSessionExpiry, NEVER_EXPIRES);
    }
  }
  c.publishWillOnClose = c.isV5 && p.reasonCode === ReasonCode.DisconnectWithWillMessage;
  c.abort(
    p.reasonCode === 0 ? 'client disconnected' : `client disconnected: reason 0x${p.reasonCode.toString(16)}`,
  );
}
