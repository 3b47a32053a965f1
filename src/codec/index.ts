export * from './constants.js';
export { Decoder, type DecoderOptions, decodeAll, PROTOCOL_MAX_PACKET_SIZE } from './decoder.js';
export { encode, encodedSize, encodePublishHeader, encodePublishShared } from './encoder.js';
export { CodecError, MqttError } from './errors.js';
export type * from './packets.js';
export { assertNever } from './packets.js';
export { PROPERTY_BY_KEY, PROPERTY_TABLE, type PropertyDef, WILL_PROPERTIES } from './properties.js';
export { isValidUtf8 } from './wire.js';
