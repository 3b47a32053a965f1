import { ReasonCode, reasonCodeName } from './constants.js';

/**
 * An MQTT-level error: carries the MQTT 5 reason code that describes it and a stable string `code`.
 * Subclasses name the condition; the message says precisely what was wrong.
 */
export class MqttError extends Error {
  readonly reasonCode: number;
  readonly code: string;
  constructor(reasonCode: number, message: string, code = 'ERR_MQTT') {
    super(message);
    this.name = 'MqttError';
    this.reasonCode = reasonCode;
    this.code = code;
  }
  get reasonName(): string {
    return reasonCodeName(this.reasonCode);
  }
}

/** A packet that could not be decoded or that violates the spec: the connection must end. */
export class CodecError extends MqttError {
  constructor(reasonCode: number, message: string) {
    super(reasonCode, message, codeFor(reasonCode));
    this.name = 'CodecError';
  }
}

function codeFor(rc: number): string {
  switch (rc) {
    case ReasonCode.MalformedPacket:
      return 'ERR_MALFORMED_PACKET';
    case ReasonCode.ProtocolError:
      return 'ERR_PROTOCOL_ERROR';
    case ReasonCode.UnsupportedProtocolVersion:
      return 'ERR_UNSUPPORTED_PROTOCOL_VERSION';
    case ReasonCode.PacketTooLarge:
      return 'ERR_PACKET_TOO_LARGE';
    default:
      return 'ERR_CODEC';
  }
}

export const malformed = (msg: string): CodecError => new CodecError(ReasonCode.MalformedPacket, msg);
export const protocolError = (msg: string): CodecError => new CodecError(ReasonCode.ProtocolError, msg);
