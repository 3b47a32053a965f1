import type { Properties, QoS } from '../codec/index.js';

/**
 * An application message as the broker routes it: immutable once built, owning its payload (never a
 * view into a socket chunk). Stored once and shared by every subscriber queue that holds it.
 *
 * `properties` are the MQTT 5 properties forwarded to subscribers (Payload Format Indicator, Content
 * Type, Response Topic, Correlation Data, User Properties); per-hop ones (Topic Alias, Subscription
 * Identifiers, Message Expiry Interval) are not kept here: expiry is an absolute time instead.
 */
export interface Message {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly properties: Properties | undefined;
  /** Absolute expiry time in ms (the clock's), or 0 for none. */
  readonly expiresAt: number;
  /** Client id of the publisher ('' for the broker itself), for No Local and hashing. */
  readonly from: string;
  /** When the broker received it (the clock's ms). */
  readonly receivedAt: number;
}

/** Properties that travel with a message from publisher to subscriber, unchanged and in order. */
export function forwardedProperties(p: Properties | undefined): Properties | undefined {
  if (p === undefined) return undefined;
  let out: Properties | undefined;
  if (p.payloadFormatIndicator !== undefined) (out ??= {}).payloadFormatIndicator = p.payloadFormatIndicator;
  if (p.contentType !== undefined) (out ??= {}).contentType = p.contentType;
  if (p.responseTopic !== undefined) (out ??= {}).responseTopic = p.responseTopic;
  if (p.correlationData !== undefined) (out ??= {}).correlationData = p.correlationData;
  if (p.userProperties !== undefined) (out ??= {}).userProperties = p.userProperties;
  return out;
}

export function isExpired(msg: Message, now: number): boolean {
  return msg.expiresAt !== 0 && msg.expiresAt <= now;
}
