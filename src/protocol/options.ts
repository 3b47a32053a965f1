import type { TopicLimits } from '../topic/index.js';

/** The protocol limits and capabilities a connection enforces and announces (from config `mqtt`). */
export interface ProtocolOptions {
  maxPacketSize: number;
  maxKeepalive: number;
  receiveMaximum: number;
  maxInflight: number;
  topicAliasMaximum: number;
  maxSessionExpiry: number;
  maxTopicLevels: number;
  /** Longest topic name or filter, in bytes. */
  maxTopicLength: number;
  maxClientIdLength: number;
  /** Seconds a new socket has to send CONNECT. */
  connectTimeout: number;
  maximumQos: 0 | 1 | 2;
  retainAvailable: boolean;
  wildcardSubscriptionAvailable: boolean;
  subscriptionIdentifierAvailable: boolean;
  sharedSubscriptionAvailable: boolean;
  /** Response Information template for clients that request it ('' = none); `${clientid}` is substituted. */
  responseInformation: string;
  /** Bytes buffered on a socket before the connection counts as congested. */
  writeHighWaterMark: number;
  /** Seconds a connection may stay over the high-water mark before it is closed (0 = never). */
  writeTimeout: number;
}

let lastLimits: TopicLimits = { maxLevels: -1, maxLength: -1 };

/** The topic limits of `o`, as the validators take them; the same object while they stay the same. */
export function topicLimits(o: ProtocolOptions): TopicLimits {
  const l = lastLimits;
  if (l.maxLevels === o.maxTopicLevels && l.maxLength === o.maxTopicLength) return l;
  lastLimits = { maxLevels: o.maxTopicLevels, maxLength: o.maxTopicLength };
  return lastLimits;
}
