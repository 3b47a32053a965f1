/**
 * MQTT 5.0 properties, per property and direction: what a client announces in CONNECT, what the broker
 * announces in CONNACK and enforces, and the PUBLISH properties forwarded from publisher to subscriber.
 * Raw v5 clients (our codec) check exact packets; mqtt.js v5 checks the same properties end to end.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  PacketType,
  type Properties,
  type PublishPacket,
  ReasonCode,
  type UserProperty,
} from '../../src/codec/index.js';
import { collect, connectPacket, startBroker } from '../helpers/broker.js';
import { connected, expectPacket, opt, publish, rawConnect, settle, subscribe } from '../helpers/raw.js';

/** A PUBLISH from a raw client, not waiting for anything (for packets the broker must refuse). */
function pub(
  topic: string,
  payload: Buffer | string,
  qos: 0 | 1 | 2,
  packetId?: number,
  properties?: Properties,
): PublishPacket {
  return {
    type: PacketType.Publish,
    topic,
    payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
    qos,
    retain: false,
    dup: false,
    packetId,
    properties,
  };
}

/** The bytes C3 28: an invalid UTF-8 sequence (a lead byte followed by a non-continuation byte). */
const NOT_UTF8 = Buffer.from([0x61, 0xc3, 0x28, 0x62]);

describe('mqtt5 properties', { concurrency: true }, () => {
  // ---- CONNECT → broker ------------------------------------------------------------------------------

  it('connect - User Properties in CONNECT are accepted (repeated names) (§3.1.2.11.8) (5.0)', async () => {
    await using b = await startBroker();
    const { connack } = await rawConnect(b, 5, {
      clientId: 'up',
      properties: {
        userProperties: [
          ['k', '1'],
          ['k', '2'],
          ['région', 'é'],
        ],
      },
    });
    assert.equal(connack.reasonCode, ReasonCode.Success);
    assert.equal(connack.properties?.userProperties, undefined, 'not echoed back');
    assert.ok(b.broker.sessions.has('up'));
  });

  it('response information - absent or 0 Request Response Information gets no Response Information [MQTT-3.1.2-28] (5.0)', async () => {
    await using b = await startBroker();
    const a = await rawConnect(b, 5, { clientId: 'no-ask' });
    assert.equal(a.connack.properties?.responseInformation, undefined);
    const z = await rawConnect(b, 5, { clientId: 'ask-0', properties: { requestResponseInformation: 0 } });
    assert.equal(z.connack.properties?.responseInformation, undefined);
  });

  it('response information - Request Response Information 1 gets "response/<clientid>" by default (§3.2.2.3.15) (5.0)', async () => {
    await using b = await startBroker();
    const { connack } = await rawConnect(b, 5, {
      clientId: 'asker',
      properties: { requestResponseInformation: 1 },
    });
    assert.equal(connack.properties?.responseInformation, 'response/asker');
  });

  it('response information - an assigned client id is substituted too, and mqtt.response_information is a template (5.0)', async () => {
    await using b = await startBroker({ mqtt: { response_information: 'rr/${clientid}/in' } });
    const { connack } = await rawConnect(b, 5, {
      clientId: '',
      properties: { requestResponseInformation: 1 },
    });
    const id = connack.properties?.assignedClientIdentifier;
    assert.ok(id !== undefined && id.length > 0);
    assert.equal(connack.properties?.responseInformation, `rr/${id}/in`);
  });

  it('response information - mqtt.response_information "" never sends it, even when requested (5.0)', async () => {
    await using b = await startBroker({ mqtt: { response_information: '' } });
    const { connack } = await rawConnect(b, 5, {
      clientId: 'asker',
      properties: { requestResponseInformation: 1 },
    });
    assert.equal(connack.properties?.responseInformation, undefined);
  });

  it('response information - an mqtt.js client requesting it receives it in CONNACK (5.0)', async () => {
    await using b = await startBroker();
    const c = await b.client({
      protocolVersion: 5,
      clientId: 'js-asker',
      properties: { requestResponseInformation: true },
    });
    const got = await new Promise<unknown>((resolve) => {
      // The CONNACK already arrived; mqtt.js keeps no copy, so reconnect once to read it.
      c.once('connect', (ack) => resolve(ack.properties?.responseInformation));
      c.reconnect();
    });
    assert.equal(got, 'response/js-asker');
  });

  it('problem information - Request Problem Information 0: PUBACK / PUBREC failures carry no Reason String [MQTT-3.1.2-29] (5.0)', async () => {
    // sys_interval 0: the broker's own retained $SYS topics would take the one slot.
    await using b = await startBroker({ mqtt: { max_retained_messages: 1 }, sys_interval: 0 });
    const r = await connected(b, 5, { clientId: 'quiet', properties: { requestProblemInformation: 0 } });
    r.send(pub('t', NOT_UTF8, 1, 1, { payloadFormatIndicator: 1 }));
    assert.deepEqual(await r.next(), {
      type: PacketType.Puback,
      packetId: 1,
      reasonCode: ReasonCode.PayloadFormatInvalid,
    });
    r.send(pub('t', NOT_UTF8, 2, 2, { payloadFormatIndicator: 1 }));
    assert.deepEqual(await r.next(), {
      type: PacketType.Pubrec,
      packetId: 2,
      reasonCode: ReasonCode.PayloadFormatInvalid,
    });
    r.send({ ...pub('r/1', 'kept', 1, 10), retain: true });
    assert.deepEqual(await r.next(), {
      type: PacketType.Puback,
      packetId: 10,
      reasonCode: ReasonCode.NoMatchingSubscribers,
    });
    r.send({ ...pub('r/2', 'over quota', 1, 3), retain: true });
    assert.deepEqual(await r.next(), {
      type: PacketType.Puback,
      packetId: 3,
      reasonCode: ReasonCode.QuotaExceeded,
    });
    // SUBACK failures: no properties either.
    const ack = await subscribe(r, [opt('bad/#/filter', 1)], 4);
    assert.deepEqual(ack, {
      type: PacketType.Suback,
      packetId: 4,
      reasonCodes: [ReasonCode.TopicFilterInvalid],
    });
  });

  it('problem information - Request Problem Information 1 (or absent): PUBACK / PUBREC failures carry a Reason String (5.0)', async () => {
    await using b = await startBroker();
    for (const properties of [{ requestProblemInformation: 1 }, undefined]) {
      const r = await connected(b, 5, { clientId: `talk-${properties ? 1 : 'x'}`, properties });
      r.send(pub('t', NOT_UTF8, 1, 1, { payloadFormatIndicator: 1 }));
      const a = await expectPacket(r, PacketType.Puback);
      assert.equal(a.reasonCode, ReasonCode.PayloadFormatInvalid);
      assert.match(a.properties?.reasonString ?? '', /UTF-8/);
      r.send(pub('t', NOT_UTF8, 2, 2, { payloadFormatIndicator: 1 }));
      const rec = await expectPacket(r, PacketType.Pubrec);
      assert.equal(rec.reasonCode, ReasonCode.PayloadFormatInvalid);
      assert.match(rec.properties?.reasonString ?? '', /UTF-8/);
      // Successful acknowledgements stay bare.
      r.send(pub('t', 'fine', 1, 3));
      assert.deepEqual(await r.next(), {
        type: PacketType.Puback,
        packetId: 3,
        reasonCode: ReasonCode.NoMatchingSubscribers,
      });
    }
  });

  it('problem information - Request Problem Information 0: a refused CONNECT gets CONNACK without Reason String (5.0)', async () => {
    await using b = await startBroker();
    const r = await b.raw(5);
    r.send(
      connectPacket(5, {
        clientId: 'x',
        properties: { requestProblemInformation: 0, authenticationMethod: 'NO-SUCH-METHOD' },
      }),
    );
    assert.deepEqual(await r.next(), {
      type: PacketType.Connack,
      sessionPresent: false,
      reasonCode: ReasonCode.BadAuthenticationMethod,
    });
    assert.equal(await r.waitClosed(), true);
  });

  // ---- CONNACK: the broker's capabilities ------------------------------------------------------------

  it('connack - by default Retain / Wildcard / Subscription Identifier / Shared Subscription Available and Maximum QoS are absent (= available) (5.0)', async () => {
    await using b = await startBroker();
    const { connack } = await rawConnect(b, 5, 'plain');
    const p = connack.properties ?? {};
    for (const key of [
      'retainAvailable',
      'maximumQos',
      'wildcardSubscriptionAvailable',
      'subscriptionIdentifierAvailable',
      'sharedSubscriptionAvailable',
      'serverKeepAlive',
      'assignedClientIdentifier',
      'sessionExpiryInterval',
    ] as const) {
      assert.equal(p[key], undefined, `${key} should be absent`);
    }
    assert.equal(p.receiveMaximum, 32);
    assert.equal(p.topicAliasMaximum, 10);
    assert.equal(p.maximumPacketSize, 1048576);
  });

  it('connack - announces every limit from config: Retain Available 0, Maximum QoS 1, Wildcard / Subscription Identifier / Shared Subscription Available 0, Server Keep Alive, Assigned Client Identifier, Topic Alias Maximum, Receive Maximum, Maximum Packet Size [MQTT-3.2.2-1] (5.0)', async () => {
    await using b = await startBroker({
      mqtt: {
        retain_available: false,
        maximum_qos: 1,
        wildcard_subscription_available: false,
        subscription_identifier_available: false,
        shared_subscription_available: false,
        max_keepalive: 30,
        topic_alias_maximum: 4,
        receive_maximum: 5,
        max_packet_size: 2048,
      },
    });
    const { connack } = await rawConnect(b, 5, { clientId: '', keepAlive: 120 });
    const p = connack.properties ?? {};
    assert.equal(p.retainAvailable, 0);
    assert.equal(p.maximumQos, 1);
    assert.equal(p.wildcardSubscriptionAvailable, 0);
    assert.equal(p.subscriptionIdentifierAvailable, 0);
    assert.equal(p.sharedSubscriptionAvailable, 0);
    assert.equal(p.serverKeepAlive, 30);
    assert.match(p.assignedClientIdentifier ?? '', /^petrel-/);
    assert.equal(p.topicAliasMaximum, 4);
    assert.equal(p.receiveMaximum, 5);
    assert.equal(p.maximumPacketSize, 2048);
  });

  it('maximum qos - with maximum_qos 1 a QoS 2 PUBLISH gets DISCONNECT 0x9B [MQTT-3.2.2-11] (§3.3.1.2) (5.0)', async () => {
    await using b = await startBroker({ mqtt: { maximum_qos: 1 } });
    const r = await connected(b, 5, 'q2');
    r.send(pub('t', 'x', 2, 1));
    const d = await expectPacket(r, PacketType.Disconnect);
    assert.equal(d.reasonCode, ReasonCode.QoSNotSupported);
    assert.equal(await r.waitClosed(), true);
  });

  it('maximum qos - with maximum_qos 1 a QoS 2 subscription is granted QoS 1 and QoS 1 still flows (5.0)', async () => {
    await using b = await startBroker({ mqtt: { maximum_qos: 1 } });
    const sub = await connected(b, 5, 'sub');
    const ack = await subscribe(sub, [opt('t', 2)]);
    assert.deepEqual(ack.reasonCodes, [ReasonCode.GrantedQoS1]);
    const p = await connected(b, 5, 'pub');
    await publish(p, 't', 'one', 1);
    const [m, ...rest] = (await settle(sub)) as PublishPacket[];
    assert.equal(rest.length, 0);
    assert.equal(m!.qos, 1);
  });

  it('maximum qos - with maximum_qos 1 a Will QoS 2 is refused with CONNACK 0x9B [MQTT-3.2.2-12] (5.0)', async () => {
    await using b = await startBroker({ mqtt: { maximum_qos: 1 } });
    const r = await b.raw(5);
    r.send(
      connectPacket(5, {
        clientId: 'w2',
        will: { topic: 'w', payload: Buffer.from('x'), qos: 2, retain: false },
      }),
    );
    const ack = await expectPacket(r, PacketType.Connack);
    assert.equal(ack.reasonCode, ReasonCode.QoSNotSupported);
    assert.equal(await r.waitClosed(), true);
  });

  it('maximum qos - with maximum_qos 0 CONNACK says Maximum QoS 0 and a QoS 1 PUBLISH gets DISCONNECT 0x9B (5.0)', async () => {
    await using b = await startBroker({ mqtt: { maximum_qos: 0 } });
    const { r, connack } = await rawConnect(b, 5, 'q1');
    assert.equal(connack.properties?.maximumQos, 0);
    r.send(pub('t', 'x', 1, 1));
    const d = await expectPacket(r, PacketType.Disconnect);
    assert.equal(d.reasonCode, ReasonCode.QoSNotSupported);
  });

  it('wildcards - with Wildcard Subscription Available 0 wildcard filters get SUBACK 0xA2, plain ones are granted (§3.2.2.3.11, §3.9.3) (5.0)', async () => {
    await using b = await startBroker({ mqtt: { wildcard_subscription_available: false } });
    const r = await connected(b, 5, 'w');
    const ack = await subscribe(r, [opt('a/+', 1), opt('plain/topic', 1), opt('#', 0), opt('a/#', 2)]);
    assert.deepEqual(ack.reasonCodes, [
      ReasonCode.WildcardSubscriptionsNotSupported,
      ReasonCode.GrantedQoS1,
      ReasonCode.WildcardSubscriptionsNotSupported,
      ReasonCode.WildcardSubscriptionsNotSupported,
    ]);
    const p = await connected(b, 5, 'p');
    await publish(p, 'a/b', 'not for w', 0);
    await publish(p, 'plain/topic', 'for w', 0);
    assert.deepEqual(
      ((await settle(r)) as PublishPacket[]).map((m) => m.topic),
      ['plain/topic'],
    );
  });

  it('subscription identifiers - with Subscription Identifier Available 0 a SUBSCRIBE with an id gets DISCONNECT 0xA1 (§3.2.2.3.12) (5.0)', async () => {
    await using b = await startBroker({ mqtt: { subscription_identifier_available: false } });
    const r = await connected(b, 5, 's');
    await subscribe(r, 'no/id', 1, 1); // without an id: fine
    r.send({
      type: PacketType.Subscribe,
      packetId: 2,
      subscriptions: [opt('x', 1)],
      properties: { subscriptionIdentifiers: [7] },
    });
    const d = await expectPacket(r, PacketType.Disconnect);
    assert.equal(d.reasonCode, ReasonCode.SubscriptionIdentifiersNotSupported);
    assert.equal(await r.waitClosed(), true);
    assert.deepEqual([...(b.broker.sessions.get('s')?.subscriptions.keys() ?? [])], []);
  });

  it('shared subscriptions - with Shared Subscription Available 0 "$share/g/t" gets SUBACK 0x9E, others in the same SUBSCRIBE are granted (§3.2.2.3.13) (5.0)', async () => {
    await using b = await startBroker({ mqtt: { shared_subscription_available: false } });
    const r = await connected(b, 5, 'sh');
    const ack = await subscribe(r, [opt('$share/g/t', 1), opt('t', 1)]);
    assert.deepEqual(ack.reasonCodes, [ReasonCode.SharedSubscriptionsNotSupported, ReasonCode.GrantedQoS1]);
    const p = await connected(b, 5, 'p');
    await publish(p, 't', 'once', 1);
    const got = (await settle(r)) as PublishPacket[];
    assert.deepEqual(
      got.map((m) => m.payload.toString()),
      ['once'],
      'only the plain subscription delivers',
    );
  });

  // ---- PUBLISH properties ---------------------------------------------------------------------------

  it('payload format - indicator 1 with invalid UTF-8 at QoS 1 gets PUBACK 0x99 and is not forwarded (§3.3.2.3.2) (5.0)', async () => {
    await using b = await startBroker();
    const sub = await connected(b, 5, 'sub');
    await subscribe(sub, 't', 1);
    const r = await connected(b, 5, 'pub');
    r.send(pub('t', NOT_UTF8, 1, 5, { payloadFormatIndicator: 1 }));
    const a = await expectPacket(r, PacketType.Puback);
    assert.equal(a.packetId, 5);
    assert.equal(a.reasonCode, ReasonCode.PayloadFormatInvalid);
    assert.deepEqual(await settle(sub), []);
    assert.deepEqual(await settle(r), [], 'the connection stays open');
  });

  it('payload format - indicator 1 with invalid UTF-8 at QoS 0 gets DISCONNECT 0x99 (5.0)', async () => {
    await using b = await startBroker();
    const sub = await connected(b, 5, 'sub');
    await subscribe(sub, 't', 0);
    const r = await connected(b, 5, 'pub');
    r.send(pub('t', NOT_UTF8, 0, undefined, { payloadFormatIndicator: 1 }));
    const d = await expectPacket(r, PacketType.Disconnect);
    assert.equal(d.reasonCode, ReasonCode.PayloadFormatInvalid);
    assert.equal(await r.waitClosed(), true);
    assert.deepEqual(await settle(sub), []);
  });

  it('subscription identifiers - a PUBLISH from a client carrying a Subscription Identifier gets DISCONNECT 0x82 and is not forwarded [MQTT-3.3.4-6] (5.0)', async () => {
    await using b = await startBroker();
    const sub = await connected(b, 5, 'sub');
    await subscribe(sub, 't', 1);
    const r = await connected(b, 5, 'pub');
    r.send(pub('t', 'x', 1, 7, { subscriptionIdentifiers: [5] }));
    const d = await expectPacket(r, PacketType.Disconnect);
    assert.equal(d.reasonCode, ReasonCode.ProtocolError);
    assert.equal(await r.waitClosed(), true);
    assert.deepEqual(await settle(sub), []);
  });

  it('payload format - valid UTF-8 with indicator 1 is forwarded with the indicator [MQTT-3.3.2-4]; indicator 0 lets any bytes through (5.0)', async () => {
    await using b = await startBroker();
    const sub = await connected(b, 5, 'sub');
    await subscribe(sub, 't', 1);
    const r = await connected(b, 5, 'pub');
    await publish(r, 't', 'héllo ✓', 1, { properties: { payloadFormatIndicator: 1 } });
    r.send(pub('t', NOT_UTF8, 1, 9, { payloadFormatIndicator: 0 }));
    assert.equal((await expectPacket(r, PacketType.Puback)).reasonCode, ReasonCode.Success);
    const [utf8, bytes] = (await settle(sub)) as PublishPacket[];
    assert.equal(utf8!.payload.toString(), 'héllo ✓');
    assert.deepEqual(utf8!.properties, { payloadFormatIndicator: 1 });
    assert.deepEqual(bytes!.payload, NOT_UTF8);
    assert.deepEqual(bytes!.properties, { payloadFormatIndicator: 0 });
  });

  const FORWARDED: Properties = {
    payloadFormatIndicator: 1,
    contentType: 'application/json; charset=utf-8',
    responseTopic: 'reply/to/me',
    correlationData: Buffer.from([0x00, 0xff, 0x10, 0x00]),
    userProperties: [
      ['b', '2'],
      ['a', '1'],
      ['b', '1'],
      ['', 'empty name'],
      ['ключ', 'значение'],
    ],
  };

  for (const qos of [0, 1, 2] as const) {
    it(`forwarding - Content Type, Response Topic, Correlation Data and User Properties (repeated, in order) reach the subscriber unchanged at QoS ${qos} [MQTT-3.3.2-15..20] (5.0)`, async () => {
      await using b = await startBroker();
      const sub = await connected(b, 5, 'sub');
      await subscribe(sub, 'f/#', 2);
      const r = await connected(b, 5, 'pub');
      await publish(r, 'f/x', '{"a":1}', qos, { properties: FORWARDED });
      const [m, ...rest] = (await settle(sub)) as PublishPacket[];
      assert.equal(rest.length, 0);
      assert.equal(m!.qos, qos);
      assert.deepEqual(m!.properties, FORWARDED);
    });
  }

  it("forwarding - the publisher's Topic Alias and Subscription Identifier are per hop, not forwarded; Message Expiry is (5.0)", async () => {
    await using b = await startBroker();
    const sub = await connected(b, 5, 'sub');
    await subscribe(sub, [opt('h/#', 1)], 1, { subscriptionIdentifiers: [42] });
    const r = await connected(b, 5, 'pub');
    await publish(r, 'h/1', 'x', 1, { properties: { topicAlias: 3, messageExpiryInterval: 100 } });
    const [m] = (await settle(sub)) as PublishPacket[];
    assert.equal(m!.topic, 'h/1');
    assert.deepEqual(m!.properties, { messageExpiryInterval: 100, subscriptionIdentifiers: [42] });
  });

  it('forwarding - mqtt.js v5 publisher to mqtt.js v5 subscriber keeps every property and User Property order', async () => {
    await using b = await startBroker();
    const sub = await b.client({ protocolVersion: 5, clientId: 'js-sub' });
    await sub.subscribeAsync('js/#', { qos: 1 });
    const pubc = await b.client({ protocolVersion: 5, clientId: 'js-pub' });
    const got = collect(sub, 1);
    await pubc.publishAsync('js/1', 'x', {
      qos: 1,
      properties: {
        contentType: 'text/plain',
        responseTopic: 'js/reply',
        correlationData: Buffer.from('corr'),
        payloadFormatIndicator: true,
        // mqtt.js sends an array value as repeated User Properties with the same name.
        userProperties: { z: ['1', '2'], a: 'x' },
      },
    });
    const [m] = await got;
    const p = m!.packet.properties ?? {};
    assert.equal(p.contentType, 'text/plain');
    assert.equal(p.responseTopic, 'js/reply');
    assert.deepEqual(p.correlationData, Buffer.from('corr'));
    assert.equal(p.payloadFormatIndicator, true);
    assert.deepEqual(Object.entries(p.userProperties ?? {}), [
      ['z', ['1', '2']],
      ['a', 'x'],
    ]);
  });

  it('forwarding - a 3.1.1 subscriber gets the payload of a v5 PUBLISH with properties, and no properties', async () => {
    await using b = await startBroker();
    const sub = await connected(b, 4, 'old');
    await subscribe(sub, 'f/#', 1);
    const r = await connected(b, 5, 'pub');
    await publish(r, 'f/1', 'payload', 1, { properties: FORWARDED });
    const [m] = (await settle(sub)) as PublishPacket[];
    assert.equal(m!.payload.toString(), 'payload');
    assert.equal(m!.properties, undefined);
  });

  it('user properties - order and duplicates survive a queue for an offline subscriber (5.0)', async () => {
    await using b = await startBroker();
    const first = await connected(b, 5, {
      clientId: 'later',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    await subscribe(first, 'q', 1);
    first.send({ type: PacketType.Disconnect, reasonCode: 0 });
    await first.waitClosed();
    const r = await connected(b, 5, 'pub');
    const ups: UserProperty[] = [
      ['x', '3'],
      ['x', '1'],
      ['x', '2'],
    ];
    await publish(r, 'q', 'queued', 1, { properties: { userProperties: ups } });
    const { r: again, connack } = await rawConnect(b, 5, {
      clientId: 'later',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    assert.equal(connack.sessionPresent, true);
    const m = await expectPacket(again, PacketType.Publish);
    assert.deepEqual(m.properties?.userProperties, ups);
  });
});
