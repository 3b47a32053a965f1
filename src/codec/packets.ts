import type { PacketType, ProtocolVersion, QoS } from './constants.js';

/** A User Property: an ordered name/value pair; names may repeat (MQTT 5.0 §3.1.2.11.8). */
export type UserProperty = [name: string, value: string];

/**
 * MQTT 5.0 properties (§2.2.2.2). Every packet that can carry properties has an optional `properties`
 * object; which keys are allowed on which packet is in `PROPERTY_TABLE` (properties.ts).
 */
export interface Properties {
  payloadFormatIndicator?: number; // 0x01 byte
  messageExpiryInterval?: number; // 0x02 u32
  contentType?: string; // 0x03 utf8
  responseTopic?: string; // 0x08 utf8
  correlationData?: Buffer; // 0x09 binary
  /** 0x0B varint: several in PUBLISH (one per matching subscription), at most one in SUBSCRIBE. */
  subscriptionIdentifiers?: number[];
  sessionExpiryInterval?: number; // 0x11 u32
  assignedClientIdentifier?: string; // 0x12 utf8
  serverKeepAlive?: number; // 0x13 u16
  authenticationMethod?: string; // 0x15 utf8
  authenticationData?: Buffer; // 0x16 binary
  requestProblemInformation?: number; // 0x17 byte
  willDelayInterval?: number; // 0x18 u32
  requestResponseInformation?: number; // 0x19 byte
  responseInformation?: string; // 0x1A utf8
  serverReference?: string; // 0x1C utf8
  reasonString?: string; // 0x1F utf8
  receiveMaximum?: number; // 0x21 u16
  topicAliasMaximum?: number; // 0x22 u16
  topicAlias?: number; // 0x23 u16
  maximumQos?: number; // 0x24 byte
  retainAvailable?: number; // 0x25 byte
  userProperties?: UserProperty[]; // 0x26 utf8 pair, repeatable
  maximumPacketSize?: number; // 0x27 u32
  wildcardSubscriptionAvailable?: number; // 0x28 byte
  subscriptionIdentifierAvailable?: number; // 0x29 byte
  sharedSubscriptionAvailable?: number; // 0x2A byte
}

export interface Will {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  /** MQTT 5 will properties (§3.1.3.2). */
  properties?: Properties;
}

export interface ConnectPacket {
  type: typeof PacketType.Connect;
  /** "MQTT" for levels 4 and 5, "MQIsdp" for level 3. */
  protocolName: string;
  protocolVersion: ProtocolVersion;
  /** Clean Session (3.x) / Clean Start (5.0). */
  clean: boolean;
  keepAlive: number;
  clientId: string;
  username?: string;
  password?: Buffer;
  will?: Will;
  properties?: Properties;
}

export interface ConnackPacket {
  type: typeof PacketType.Connack;
  sessionPresent: boolean;
  /** Always an MQTT 5 reason code; mapped to a 3.x return code by the encoder for v3 peers. */
  reasonCode: number;
  properties?: Properties;
}

export interface PublishPacket {
  type: typeof PacketType.Publish;
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /** Present (1..65535) when qos > 0. */
  packetId?: number;
  properties?: Properties;
}

export interface PubackPacket {
  type: typeof PacketType.Puback;
  packetId: number;
  reasonCode: number;
  properties?: Properties;
}
export interface PubrecPacket {
  type: typeof PacketType.Pubrec;
  packetId: number;
  reasonCode: number;
  properties?: Properties;
}
export interface PubrelPacket {
  type: typeof PacketType.Pubrel;
  packetId: number;
  reasonCode: number;
  properties?: Properties;
}
export interface PubcompPacket {
  type: typeof PacketType.Pubcomp;
  packetId: number;
  reasonCode: number;
  properties?: Properties;
}
export type PubAckLikePacket = PubackPacket | PubrecPacket | PubrelPacket | PubcompPacket;

/** One entry of a SUBSCRIBE payload with its subscription options (§3.8.3.1). */
export interface Subscription {
  topicFilter: string;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
}

export interface SubscribePacket {
  type: typeof PacketType.Subscribe;
  packetId: number;
  subscriptions: Subscription[];
  properties?: Properties;
}

export interface SubackPacket {
  type: typeof PacketType.Suback;
  packetId: number;
  /** MQTT 5 reason codes; for 3.x any code >= 0x80 is sent as 0x80 (Failure). */
  reasonCodes: number[];
  properties?: Properties;
}

export interface UnsubscribePacket {
  type: typeof PacketType.Unsubscribe;
  packetId: number;
  topicFilters: string[];
  properties?: Properties;
}

export interface UnsubackPacket {
  type: typeof PacketType.Unsuback;
  packetId: number;
  /** MQTT 5 only; empty for 3.x (the packet has no payload there). */
  reasonCodes: number[];
  properties?: Properties;
}

export interface PingreqPacket {
  type: typeof PacketType.Pingreq;
}
export interface PingrespPacket {
  type: typeof PacketType.Pingresp;
}

export interface DisconnectPacket {
  type: typeof PacketType.Disconnect;
  /** MQTT 5 only; 0 for 3.x. */
  reasonCode: number;
  properties?: Properties;
}

export interface AuthPacket {
  type: typeof PacketType.Auth;
  reasonCode: number;
  properties?: Properties;
}

export type Packet =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | PubackPacket
  | PubrecPacket
  | PubrelPacket
  | PubcompPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | UnsubackPacket
  | PingreqPacket
  | PingrespPacket
  | DisconnectPacket
  | AuthPacket;

export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(x)}`);
}
