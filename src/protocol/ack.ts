import {
  PacketType,
  type PubackPacket,
  type PubcompPacket,
  type PubrecPacket,
  type PubrelPacket,
  ReasonCode,
} from '../codec/index.js';
import type { Conn } from './state.js';

/** PUBACK: ends an outbound QoS 1 flow. An unknown id is ignored (a late or duplicate ack). */
export function handlePuback(c: Conn, p: PubackPacket): void {
  c.session!.onPuback(p.packetId);
}

/** PUBREC: answer PUBREL (0x92 Packet Identifier not found for an unknown id) [MQTT-4.3.3-4]. */
export function handlePubrec(c: Conn, p: PubrecPacket): void {
  const r = c.session!.onPubrec(p.packetId, p.reasonCode);
  if (r === 'done') return;
  const reasonCode = r === 'unknown' && c.isV5 ? ReasonCode.PacketIdentifierNotFound : 0;
  c.io.send({ type: PacketType.Pubrel, packetId: p.packetId, reasonCode });
}

/** PUBREL: the inbound QoS 2 flow ends with PUBCOMP [MQTT-4.3.3-11]. */
export function handlePubrel(c: Conn, p: PubrelPacket): void {
  const known = c.session!.deleteRel(p.packetId);
  const reasonCode = !known && c.isV5 ? ReasonCode.PacketIdentifierNotFound : 0;
  c.io.send({ type: PacketType.Pubcomp, packetId: p.packetId, reasonCode });
}

/** PUBCOMP: ends an outbound QoS 2 flow. */
export function handlePubcomp(c: Conn, p: PubcompPacket): void {
  c.session!.onPubcomp(p.packetId);
}
