/** Counters; `$SYS` and Prometheus read them. Names as metrics: dotted lowercase. */
export class Stats {
  'messages.received' = 0;
  'messages.sent' = 0;
  'messages.acked' = 0;
  'messages.retained' = 0;
  'messages.dropped.queue_full' = 0;
  'messages.dropped.expired' = 0;
  'messages.dropped.too_large' = 0;
  'messages.dropped.qos0_offline' = 0;
  'messages.dropped.no_subscribers' = 0;
  'messages.dropped.not_authorized' = 0;
  'connections.accepted' = 0;
  'connections.rejected' = 0;
  'sessions.expired' = 0;
  'wills.published' = 0;
  /** Bytes read from / written to client streams (counted by the transport). */
  'bytes.received' = 0;
  'bytes.sent' = 0;
  /** Packets from / to clients by MQTT packet type (index 1..15), counted by the transport. */
  readonly packetsReceived = new Float64Array(16);
  readonly packetsSent = new Float64Array(16);
  /** PUBLISH packets from / to clients by QoS (index 0..2), counted by the transport. */
  readonly publishReceived = new Float64Array(3);
  readonly publishSent = new Float64Array(3);
}
