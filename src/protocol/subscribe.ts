import {
  PacketType,
  type QoS,
  ReasonCode,
  type SubscribePacket,
  type UnsubscribePacket,
} from '../codec/index.js';
import type { MaybePromise } from '../core/types.js';
import { ALLOW, type Decision } from '../hooks/hooks.js';
import type { Delivery, Subscription } from '../session/session.js';
import { isWildcardFilter, parseSharedFilter, validateTopicFilter } from '../topic/index.js';
import { topicLimits } from './options.js';
import type { Conn } from './state.js';

/**
 * SUBSCRIBE → one reason code per filter (granted QoS or a failure), SUBACK, then the retained messages
 * of the granted filters per Retain Handling (MQTT 5.0 §3.8, §3.9).
 */
export function handleSubscribe(c: Conn, p: SubscribePacket): void | Promise<void> {
  const o = c.opts;
  const subId = p.properties?.subscriptionIdentifiers?.[0];
  if (subId !== undefined && !o.subscriptionIdentifierAvailable) {
    return c.closeWith(
      ReasonCode.SubscriptionIdentifiersNotSupported,
      'subscription identifiers are not supported',
    );
  }
  const subs: (Subscription | undefined)[] = [];
  const codes: number[] = [];
  for (const s of p.subscriptions) {
    const filter = s.topicFilter;
    let rc: number = ReasonCode.Success;
    let group: string | undefined;
    let topicFilter = filter;
    const bad = validateTopicFilter(filter, topicLimits(o));
    if (bad !== undefined) {
      rc = ReasonCode.TopicFilterInvalid;
    } else {
      const shared = parseSharedFilter(filter);
      if (shared !== undefined) {
        // No Local on a shared subscription is a Protocol Error [MQTT-3.8.3-4].
        if (s.noLocal)
          return c.closeWith(ReasonCode.ProtocolError, 'No Local is not allowed on a shared subscription');
        group = shared.group;
        topicFilter = shared.filter;
        if (!o.sharedSubscriptionAvailable) rc = ReasonCode.SharedSubscriptionsNotSupported;
      }
      if (rc === 0 && !o.wildcardSubscriptionAvailable && isWildcardFilter(topicFilter)) {
        rc = ReasonCode.WildcardSubscriptionsNotSupported;
      }
    }
    if (rc !== 0) {
      subs.push(undefined);
      codes.push(rc);
      continue;
    }
    const qos = (s.qos < o.maximumQos ? s.qos : o.maximumQos) as QoS;
    subs.push({
      filter,
      topicFilter,
      group,
      qos,
      noLocal: s.noLocal,
      retainAsPublished: s.retainAsPublished,
      retainHandling: s.retainHandling,
      subscriptionId: subId,
    });
    codes.push(qos);
  }

  const hooks = c.broker.hooks;
  if (!hooks.hasDeciders('client.authorize')) return finish(c, p, subs, codes);
  // Authorize each granted filter; keep the decisions in order even if some are asynchronous.
  const decisions: MaybePromise<Decision>[] = subs.map((s) =>
    s === undefined
      ? ALLOW
      : hooks.run(
          'client.authorize',
          // The filter inside `$share/{group}/…` is what reaches topics, so that is what is checked.
          { client: c, action: 'subscribe', topic: s.topicFilter, qos: s.qos, retain: false },
          ALLOW,
        ),
  );
  const apply = (ds: Decision[]): void => {
    for (let i = 0; i < ds.length; i++) {
      const d = ds[i]!;
      if (subs[i] !== undefined && d.result === 'deny') {
        subs[i] = undefined;
        codes[i] = d.reasonCode ?? ReasonCode.NotAuthorized;
      }
    }
    finish(c, p, subs, codes);
  };
  if (decisions.some((d) => d instanceof Promise)) return Promise.all(decisions).then(apply);
  return apply(decisions as Decision[]);
}

function finish(c: Conn, p: SubscribePacket, subs: (Subscription | undefined)[], codes: number[]): void {
  const session = c.session;
  if (session === undefined) return;
  const retained: Delivery[] = [];
  for (const sub of subs) {
    if (sub === undefined) continue;
    const existed = c.broker.subscribe(session, sub);
    // Retain Handling: 0 always, 1 only for a new subscription, 2 never [MQTT-3.3.1-9..11].
    if (c.opts.retainAvailable && (sub.retainHandling === 0 || (sub.retainHandling === 1 && !existed))) {
      for (const d of c.broker.retainedFor(sub)) retained.push(d);
    }
  }
  c.io.send({ type: PacketType.Suback, packetId: p.packetId, reasonCodes: codes });
  for (const d of retained) session.deliver(d);
}

/** UNSUBSCRIBE → UNSUBACK with Success or No subscription existed per filter (MQTT 5.0 §3.10, §3.11). */
export function handleUnsubscribe(c: Conn, p: UnsubscribePacket): void {
  const session = c.session!;
  const codes: number[] = [];
  for (const f of p.topicFilters) {
    const bad = validateTopicFilter(f, topicLimits(c.opts));
    if (bad !== undefined) codes.push(ReasonCode.TopicFilterInvalid);
    else codes.push(c.broker.unsubscribe(session, f) ? ReasonCode.Success : ReasonCode.NoSubscriptionExisted);
  }
  c.io.send({ type: PacketType.Unsuback, packetId: p.packetId, reasonCodes: c.isV5 ? codes : [] });
}
