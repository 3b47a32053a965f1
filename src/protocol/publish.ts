import { isValidUtf8, PacketType, type PublishPacket, ReasonCode } from '../codec/index.js';
import { forwardedProperties, type Message } from '../core/message.js';
import { ALLOW, type Decision } from '../hooks/hooks.js';
import { validateTopicName } from '../topic/index.js';
import { topicLimits } from './options.js';
import type { Conn } from './state.js';

/**
 * An inbound PUBLISH, as named steps: capability checks, topic alias, topic validation, QoS 2 dedupe,
 * receive-maximum quota, authorization, then the broker's publish pipeline and the acknowledgement.
 */
export function handlePublish(c: Conn, p: PublishPacket): void | Promise<void> {
  const o = c.opts;
  const session = c.session!;
  if (p.qos > o.maximumQos)
    return c.closeWith(ReasonCode.QoSNotSupported, `QoS ${p.qos} exceeds the maximum QoS ${o.maximumQos}`);
  if (p.retain && !o.retainAvailable)
    return c.closeWith(ReasonCode.RetainNotSupported, 'retain is not available');

  // A Subscription Identifier is the server's to send: a client's PUBLISH with one is a Protocol Error
  // [MQTT-3.3.4-6].
  if (p.properties?.subscriptionIdentifiers !== undefined)
    return c.closeWith(
      ReasonCode.ProtocolError,
      'a PUBLISH from a client must not carry a Subscription Identifier',
    );
  let topic = p.topic;
  if (c.isV5) {
    const alias = p.properties?.topicAlias;
    if (alias !== undefined) {
      // Topic Alias 0 or above our maximum is an error [MQTT-3.3.2-9] [MQTT-3.3.2-10].
      if (alias > o.topicAliasMaximum) {
        return c.closeWith(
          ReasonCode.TopicAliasInvalid,
          `topic alias ${alias} exceeds the maximum ${o.topicAliasMaximum}`,
        );
      }
      const aliases = (c.aliases ??= new Map());
      if (topic.length === 0) {
        const known = aliases.get(alias);
        if (known === undefined) return c.closeWith(ReasonCode.ProtocolError, `unknown topic alias ${alias}`);
        topic = known;
      } else {
        aliases.set(alias, topic);
      }
    } else if (topic.length === 0) {
      // An empty Topic Name needs a Topic Alias (MQTT 5.0 §3.3.2.3.4).
      return c.closeWith(ReasonCode.ProtocolError, 'empty topic name without a topic alias');
    }
  }
  const bad = validateTopicName(topic, topicLimits(o));
  if (bad !== undefined) {
    if (!c.isV5) return c.abort(`invalid topic name: ${bad}`);
    return c.closeWith(ReasonCode.TopicNameInvalid, bad);
  }

  const id = p.packetId ?? 0;
  if (p.qos === 2 && session.awaitingRel.has(id)) {
    // A resent QoS 2 PUBLISH before PUBREL: acknowledge again, deliver nothing [MQTT-4.3.3-10].
    c.io.send({ type: PacketType.Pubrec, packetId: id, reasonCode: 0 });
    return;
  }
  if (p.qos > 0 && c.isV5 && session.awaitingRel.size + c.pendingQos1 >= o.receiveMaximum) {
    // More unacknowledged QoS 1/2 PUBLISHes than our Receive Maximum [MQTT-3.3.4-9].
    return c.closeWith(
      ReasonCode.ReceiveMaximumExceeded,
      `more than ${o.receiveMaximum} unacknowledged QoS 1/2 messages`,
    );
  }
  const props = p.properties;
  if (props?.payloadFormatIndicator === 1 && !isValidUtf8(p.payload)) {
    // [MQTT-3.3.2-6]: the payload must be UTF-8 as announced.
    if (p.qos === 0) return c.closeWith(ReasonCode.PayloadFormatInvalid, 'payload is not valid UTF-8');
    ack(c, p, ReasonCode.PayloadFormatInvalid, 'payload is not valid UTF-8');
    return;
  }

  const now = c.broker.clock.now();
  const expiry = props?.messageExpiryInterval;
  const msg: Message = {
    topic,
    payload: p.payload,
    qos: p.qos,
    retain: p.retain,
    properties: forwardedProperties(props),
    expiresAt: expiry !== undefined ? now + expiry * 1000 : 0,
    from: c.clientId,
    receivedAt: now,
  };

  // $SYS topics belong to the broker (MQTT 5.0 §4.7.2): a client's PUBLISH there is refused like an
  // authorization denial, as Mosquitto does (v5: PUBACK/PUBREC 0x87; QoS 0 and v3: dropped).
  if (topic.startsWith('$SYS') && (topic.length === 4 || topic.charCodeAt(4) === 0x2f))
    return route(c, p, msg, SYS_DENIED);

  const hooks = c.broker.hooks;
  if (!hooks.hasDeciders('client.authorize')) return route(c, p, msg, ALLOW);
  const d = hooks.run(
    'client.authorize',
    { client: c, action: 'publish', topic, qos: p.qos, retain: p.retain, size: p.payload.length },
    ALLOW,
  );
  if (d instanceof Promise) {
    if (p.qos === 1) c.pendingQos1++;
    return d.then((dec) => {
      if (p.qos === 1) c.pendingQos1--;
      route(c, p, msg, dec);
    });
  }
  return route(c, p, msg, d);
}

const SYS_DENIED: Decision = { result: 'deny', reason: '$SYS topics are reserved for the broker' };

function route(c: Conn, p: PublishPacket, msg: Message, d: Decision): void {
  if (c.session === undefined) return; // closed meanwhile
  if (d.result === 'deny') {
    c.broker.stats['messages.dropped.not_authorized']++;
    if (d.disconnect === true && !c.isV5) {
      c.abort(`publish not authorized: ${d.reason ?? ''}`);
      return;
    }
    // MQTT 5: PUBACK/PUBREC 0x87. MQTT 3.x has no way to say no: acknowledge and drop [MQTT-3.3.5-2].
    if (p.qos > 0) ack(c, p, c.isV5 ? ReasonCode.NotAuthorized : 0, 'not authorized');
    return;
  }
  if (msg.retain && c.isV5 && c.opts.retainAvailable && !c.broker.retained.accepts(msg)) {
    // A retained message over the retained limits: refused with Quota exceeded, not routed.
    if (p.qos > 0) ack(c, p, ReasonCode.QuotaExceeded, 'retained message limit reached');
    return;
  }
  const n = c.broker.publish(msg);
  if (p.qos > 0)
    ack(c, p, n === 0 && c.isV5 ? ReasonCode.NoMatchingSubscribers : ReasonCode.Success, undefined);
}

function ack(c: Conn, p: PublishPacket, reasonCode: number, reason: string | undefined): void {
  const packetId = p.packetId!;
  const properties = reason !== undefined && reasonCode >= 0x80 ? c.reasonProps(reason) : undefined;
  if (p.qos === 1) {
    c.sendAck({ type: PacketType.Puback, packetId, reasonCode, properties });
  } else if (p.qos === 2) {
    // Remember the id until PUBREL unless the PUBREC reports an error (the flow ends there).
    if (reasonCode < 0x80) c.session!.addRel(packetId);
    c.sendAck({ type: PacketType.Pubrec, packetId, reasonCode, properties });
  }
}
