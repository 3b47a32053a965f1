import type { Broker } from '../broker/broker.js';
import {
  type CodecError,
  type Packet,
  PacketType,
  type ProtocolVersion,
  ReasonCode,
} from '../codec/index.js';
import type { ConnectionInfo } from '../core/client-info.js';
import { type ConnectionIO, ProtocolConnection } from '../protocol/connection.js';
import type { ProtocolOptions } from '../protocol/options.js';

/** What a transport feeds decoded packets and stream events to: a ProtocolConnection, or a ConnectRefuser. */
export interface PacketSink {
  readonly protocolVersion: ProtocolVersion;
  handle(packets: Packet[]): void;
  onCodecError(err: CodecError): void;
  onClose(reason?: string): void;
  onDrain(): void;
}

/** The protocol state machine for a stream, or a ConnectRefuser when `refuse` (a reason code) is set. */
export function sinkFor(
  broker: Broker,
  io: ConnectionIO,
  info: ConnectionInfo,
  opts: ProtocolOptions,
  refuse: number | undefined,
): PacketSink {
  if (refuse === undefined) return new ProtocolConnection(broker, io, info, opts);
  return new ConnectRefuser(broker, io, refuse, opts.connectTimeout * 1000);
}

/**
 * Answers a connection the listener cannot take (past `max_connections`): reads its CONNECT, replies CONNACK
 * with `reasonCode` (0x97 Quota exceeded; the encoder maps it to 0x03 Server unavailable for 3.x), then
 * closes. Anything else first, a codec error or no CONNECT within the connect timeout: close.
 */
export class ConnectRefuser implements PacketSink {
  protocolVersion: ProtocolVersion = 4;
  private done = false;
  private readonly timer: ReturnType<typeof setTimeout>;

  constructor(
    private readonly broker: Broker,
    private readonly io: ConnectionIO,
    private readonly reasonCode: number,
    timeoutMs: number,
  ) {
    this.timer = setTimeout(() => this.finish(), timeoutMs);
    this.timer.unref();
  }

  handle(packets: Packet[]): void {
    if (this.done) return;
    const p = packets[0];
    if (p?.type === PacketType.Connect) {
      this.protocolVersion = p.protocolVersion;
      this.io.send({
        type: PacketType.Connack,
        sessionPresent: false,
        reasonCode: this.reasonCode,
        properties:
          p.protocolVersion === 5 && this.reasonCode === ReasonCode.QuotaExceeded
            ? { reasonString: 'listener at max_connections' }
            : undefined,
      });
      this.broker.stats['connections.rejected']++;
    }
    this.finish();
  }

  onCodecError(): void {
    this.finish();
  }

  onClose(): void {
    this.done = true;
    clearTimeout(this.timer);
  }

  onDrain(): void {}

  private finish(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.io.close();
  }
}
