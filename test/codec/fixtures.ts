/**
 * One catalogue of MQTT packet fixtures: bytes <-> packet. The bytes are written out by hand from the
 * specifications (MQTT 3.1.1 §2-3, MQTT 5.0 §2-3), never produced by our encoder, so the codec is checked
 * against the spec rather than against itself. Comments after each group of bytes say what they are.
 *
 * `FIXTURES` are canonical: decoding the bytes gives the packet and encoding the packet gives the bytes.
 * `DECODE_ONLY` are legal but non-minimal encodings a peer may send: they decode to the packet, but our
 * encoder (which always picks the shortest form) produces different bytes.
 */
import type { Packet, ProtocolVersion } from '../../src/codec/index.js';

export interface Fixture {
  name: string;
  version: ProtocolVersion;
  bytes: Buffer;
  packet: Packet;
}

/**
 * Parses hex bytes written as two-digit groups separated by whitespace. On each line, the first token
 * that is not a two-digit hex byte starts a comment that runs to the end of the line.
 */
export function hex(s: string): Buffer {
  const bytes: number[] = [];
  for (const line of s.split('\n')) {
    for (const tok of line.trim().split(/\s+/)) {
      if (tok === '') continue;
      if (!/^[0-9a-fA-F]{2}$/.test(tok)) break;
      bytes.push(Number.parseInt(tok, 16));
    }
  }
  return Buffer.from(bytes);
}

const b = (s: string): Buffer => Buffer.from(s, 'utf8');
const EMPTY = Buffer.alloc(0);

/** Subscription with the MQTT 3.1.1 defaults for the MQTT 5 options. */
const sub = (topicFilter: string, qos: 0 | 1 | 2) => ({
  topicFilter,
  qos,
  noLocal: false,
  retainAsPublished: false,
  retainHandling: 0 as const,
});

export const FIXTURES: Fixture[] = [
  // ---------------------------------------------------------------- MQTT 3.1 (protocol level 3)
  {
    name: 'v3 CONNECT MQIsdp level 3',
    version: 3,
    bytes: hex(`
      10 11
      00 06 4d 51 49 73 64 70   protocol name "MQIsdp"
      03                        level 3
      02                        flags: clean session
      00 1e                     keep alive 30
      00 03 61 62 63            client id "abc"`),
    packet: {
      type: 1,
      protocolName: 'MQIsdp',
      protocolVersion: 3,
      clean: true,
      keepAlive: 30,
      clientId: 'abc',
    },
  },

  // ---------------------------------------------------------------- MQTT 3.1.1 (protocol level 4)
  {
    name: 'v4 CONNECT minimal',
    version: 4,
    bytes: hex(`
      10 0e
      00 04 4d 51 54 54         "MQTT"
      04                        level 4
      02                        clean session
      00 3c                     keep alive 60
      00 02 63 31               client id "c1"`),
    packet: { type: 1, protocolName: 'MQTT', protocolVersion: 4, clean: true, keepAlive: 60, clientId: 'c1' },
  },
  {
    name: 'v4 CONNECT with will, username and password',
    version: 4,
    bytes: hex(`
      10 20
      00 04 4d 51 54 54 04
      ec                        user name | password | will retain | will QoS 1 | will flag (clean 0)
      00 0a                     keep alive 10
      00 03 64 65 76            client id "dev"
      00 03 77 2f 74            will topic "w/t"
      00 03 62 79 65            will payload "bye"
      00 01 75                  user name "u"
      00 02 70 77               password "pw"`),
    packet: {
      type: 1,
      protocolName: 'MQTT',
      protocolVersion: 4,
      clean: false,
      keepAlive: 10,
      clientId: 'dev',
      will: { topic: 'w/t', payload: b('bye'), qos: 1, retain: true },
      username: 'u',
      password: b('pw'),
    },
  },
  {
    name: 'v4 CONNECT empty client id',
    version: 4,
    bytes: hex('10 0c 00 04 4d 51 54 54 04 02 ff ff 00 00'),
    packet: {
      type: 1,
      protocolName: 'MQTT',
      protocolVersion: 4,
      clean: true,
      keepAlive: 65535,
      clientId: '',
    },
  },
  {
    name: 'v4 CONNACK accepted',
    version: 4,
    bytes: hex('20 02 00 00'),
    packet: { type: 2, sessionPresent: false, reasonCode: 0 },
  },
  {
    name: 'v4 CONNACK session present',
    version: 4,
    bytes: hex('20 02 01 00'),
    packet: { type: 2, sessionPresent: true, reasonCode: 0 },
  },
  {
    name: 'v4 CONNACK return code 1 = 0x84 Unsupported Protocol Version',
    version: 4,
    bytes: hex('20 02 00 01'),
    packet: { type: 2, sessionPresent: false, reasonCode: 0x84 },
  },
  {
    name: 'v4 CONNACK return code 4 = 0x86 Bad User Name or Password',
    version: 4,
    bytes: hex('20 02 00 04'),
    packet: { type: 2, sessionPresent: false, reasonCode: 0x86 },
  },
  {
    name: 'v4 CONNACK return code 5 = 0x87 Not authorized',
    version: 4,
    bytes: hex('20 02 00 05'),
    packet: { type: 2, sessionPresent: false, reasonCode: 0x87 },
  },
  {
    name: 'v4 PUBLISH QoS 0',
    version: 4,
    bytes: hex('30 07   00 03 61 2f 62   68 69'),
    packet: { type: 3, topic: 'a/b', payload: b('hi'), qos: 0, retain: false, dup: false },
  },
  {
    name: 'v4 PUBLISH QoS 1 retain dup',
    version: 4,
    bytes: hex('3b 08   00 03 61 2f 62   01 02   78'),
    packet: { type: 3, topic: 'a/b', payload: b('x'), qos: 1, retain: true, dup: true, packetId: 0x0102 },
  },
  {
    name: 'v4 PUBLISH QoS 2 empty payload',
    version: 4,
    bytes: hex('34 05   00 01 74   00 0a'),
    packet: { type: 3, topic: 't', payload: EMPTY, qos: 2, retain: false, dup: false, packetId: 10 },
  },
  {
    name: 'v4 PUBLISH multi-byte UTF-8 topic and binary payload',
    version: 4,
    bytes: hex('30 0a   00 06 c3 a9 2f e2 82 ac   00 ff'),
    packet: { type: 3, topic: 'é/€', payload: hex('00 ff'), qos: 0, retain: false, dup: false },
  },
  {
    name: 'v4 PUBLISH with a two-byte remaining length (203)',
    version: 4,
    // 203 = 0xcb = 0b1_1001011 -> 0xcb 0x01 (low 7 bits first, continuation bit set)
    bytes: hex(`30 cb 01   00 01 74   ${'61 '.repeat(200)}`),
    packet: { type: 3, topic: 't', payload: Buffer.alloc(200, 0x61), qos: 0, retain: false, dup: false },
  },
  {
    name: 'v4 PUBACK',
    version: 4,
    bytes: hex('40 02 00 07'),
    packet: { type: 4, packetId: 7, reasonCode: 0 },
  },
  {
    name: 'v4 PUBREC',
    version: 4,
    bytes: hex('50 02 00 08'),
    packet: { type: 5, packetId: 8, reasonCode: 0 },
  },
  {
    name: 'v4 PUBREL',
    version: 4,
    bytes: hex('62 02 00 09'),
    packet: { type: 6, packetId: 9, reasonCode: 0 },
  },
  {
    name: 'v4 PUBCOMP',
    version: 4,
    bytes: hex('70 02 ff ff'),
    packet: { type: 7, packetId: 65535, reasonCode: 0 },
  },
  {
    name: 'v4 SUBSCRIBE two filters',
    version: 4,
    bytes: hex(`
      82 0e
      00 01                     packet id 1
      00 03 61 2f 2b 01         "a/+" QoS 1
      00 03 62 2f 23 02         "b/#" QoS 2`),
    packet: { type: 8, packetId: 1, subscriptions: [sub('a/+', 1), sub('b/#', 2)] },
  },
  {
    name: 'v4 SUBACK with failure',
    version: 4,
    bytes: hex('90 06   00 01   01 02 80 00'),
    packet: { type: 9, packetId: 1, reasonCodes: [1, 2, 0x80, 0] },
  },
  {
    name: 'v4 UNSUBSCRIBE',
    version: 4,
    bytes: hex('a2 0a   00 02   00 03 61 2f 2b   00 01 62'),
    packet: { type: 10, packetId: 2, topicFilters: ['a/+', 'b'] },
  },
  {
    name: 'v4 UNSUBACK',
    version: 4,
    bytes: hex('b0 02 00 02'),
    packet: { type: 11, packetId: 2, reasonCodes: [] },
  },
  { name: 'v4 PINGREQ', version: 4, bytes: hex('c0 00'), packet: { type: 12 } },
  { name: 'v4 PINGRESP', version: 4, bytes: hex('d0 00'), packet: { type: 13 } },
  { name: 'v4 DISCONNECT', version: 4, bytes: hex('e0 00'), packet: { type: 14, reasonCode: 0 } },

  // ---------------------------------------------------------------- MQTT 5.0 (protocol level 5)
  {
    name: 'v5 CONNECT minimal',
    version: 5,
    bytes: hex(`
      10 0f
      00 04 4d 51 54 54 05      "MQTT" level 5
      02                        clean start
      00 00                     keep alive 0
      00                        property length 0
      00 02 63 35               client id "c5"`),
    packet: { type: 1, protocolName: 'MQTT', protocolVersion: 5, clean: true, keepAlive: 0, clientId: 'c5' },
  },
  {
    name: 'v5 CONNECT with every CONNECT and will property, will, username and password',
    version: 5,
    bytes: hex(`
      10 82 01                  remaining length 130
      00 04 4d 51 54 54 05
      d6                        user name | password | will QoS 2 | will flag | clean start
      01 2c                     keep alive 300
      28                        property length 40
        11 00 00 00 78          Session Expiry Interval 120
        21 00 14                Receive Maximum 20
        27 00 10 00 00          Maximum Packet Size 1048576
        22 00 0a                Topic Alias Maximum 10
        19 01                   Request Response Information 1
        17 00                   Request Problem Information 0
        26 00 01 6b 00 01 76    User Property k=v
        15 00 05 53 43 52 41 4d Authentication Method "SCRAM"
        16 00 02 01 02          Authentication Data 01 02
      00 03 64 65 76            client id "dev"
      32                        will property length 50
        18 00 00 00 05          Will Delay Interval 5
        01 01                   Payload Format Indicator 1
        02 00 00 0e 10          Message Expiry Interval 3600
        03 00 0a 74 65 78 74 2f 70 6c 61 69 6e   Content Type "text/plain"
        08 00 03 72 2f 74       Response Topic "r/t"
        09 00 02 61 62          Correlation Data "ab"
        26 00 01 61 00 01 31    User Property a=1
        26 00 01 61 00 01 32    User Property a=2 (names may repeat)
      00 01 77                  will topic "w"
      00 04 67 6f 6e 65         will payload "gone"
      00 04 75 73 65 72         user name "user"
      00 06 73 65 63 72 65 74   password "secret"`),
    packet: {
      type: 1,
      protocolName: 'MQTT',
      protocolVersion: 5,
      clean: true,
      keepAlive: 300,
      properties: {
        sessionExpiryInterval: 120,
        receiveMaximum: 20,
        maximumPacketSize: 1_048_576,
        topicAliasMaximum: 10,
        requestResponseInformation: 1,
        requestProblemInformation: 0,
        userProperties: [['k', 'v']],
        authenticationMethod: 'SCRAM',
        authenticationData: hex('01 02'),
      },
      clientId: 'dev',
      will: {
        properties: {
          willDelayInterval: 5,
          payloadFormatIndicator: 1,
          messageExpiryInterval: 3600,
          contentType: 'text/plain',
          responseTopic: 'r/t',
          correlationData: b('ab'),
          userProperties: [
            ['a', '1'],
            ['a', '2'],
          ],
        },
        topic: 'w',
        payload: b('gone'),
        qos: 2,
        retain: false,
      },
      username: 'user',
      password: b('secret'),
    },
  },
  {
    name: 'v5 CONNECT password without user name (allowed in 5.0)',
    version: 5,
    bytes: hex(`
      10 10
      00 04 4d 51 54 54 05
      42                        password | clean start
      00 00 00                  keep alive 0, property length 0
      00 00                     client id ""
      00 01 70                  password "p"`),
    packet: {
      type: 1,
      protocolName: 'MQTT',
      protocolVersion: 5,
      clean: true,
      keepAlive: 0,
      clientId: '',
      password: b('p'),
    },
  },
  {
    name: 'v5 CONNACK minimal',
    version: 5,
    bytes: hex('20 03 00 00 00'),
    packet: { type: 2, sessionPresent: false, reasonCode: 0 },
  },
  {
    name: 'v5 CONNACK with every CONNACK property',
    version: 5,
    bytes: hex(`
      20 46
      01 00                     session present, Success
      43                        property length 67
        11 00 00 01 00          Session Expiry Interval 256
        21 00 64                Receive Maximum 100
        24 01                   Maximum QoS 1
        25 00                   Retain Available 0
        27 00 00 ff ff          Maximum Packet Size 65535
        12 00 02 69 64          Assigned Client Identifier "id"
        22 00 05                Topic Alias Maximum 5
        1f 00 02 6f 6b          Reason String "ok"
        26 00 01 78 00 01 79    User Property x=y
        28 01                   Wildcard Subscription Available 1
        29 00                   Subscription Identifier Available 0
        2a 01                   Shared Subscription Available 1
        13 00 1e                Server Keep Alive 30
        1a 00 04 72 65 73 70    Response Information "resp"
        1c 00 03 73 72 76       Server Reference "srv"
        15 00 01 6d             Authentication Method "m"
        16 00 01 ff             Authentication Data ff`),
    packet: {
      type: 2,
      sessionPresent: true,
      reasonCode: 0,
      properties: {
        sessionExpiryInterval: 256,
        receiveMaximum: 100,
        maximumQos: 1,
        retainAvailable: 0,
        maximumPacketSize: 65535,
        assignedClientIdentifier: 'id',
        topicAliasMaximum: 5,
        reasonString: 'ok',
        userProperties: [['x', 'y']],
        wildcardSubscriptionAvailable: 1,
        subscriptionIdentifierAvailable: 0,
        sharedSubscriptionAvailable: 1,
        serverKeepAlive: 30,
        responseInformation: 'resp',
        serverReference: 'srv',
        authenticationMethod: 'm',
        authenticationData: hex('ff'),
      },
    },
  },
  {
    name: 'v5 CONNACK 0x86 Bad User Name or Password with reason string',
    version: 5,
    bytes: hex('20 09   00 86   06 1f 00 03 62 61 64'),
    packet: { type: 2, sessionPresent: false, reasonCode: 0x86, properties: { reasonString: 'bad' } },
  },
  {
    name: 'v5 PUBLISH QoS 0 without properties',
    version: 5,
    bytes: hex('30 05   00 01 61   00   70'),
    packet: { type: 3, topic: 'a', payload: b('p'), qos: 0, retain: false, dup: false },
  },
  {
    name: 'v5 PUBLISH QoS 1 with every PUBLISH property',
    version: 5,
    bytes: hex(`
      32 35
      00 03 73 2f 31            topic "s/1"
      00 05                     packet id 5
      2b                        property length 43
        01 01                   Payload Format Indicator 1
        02 00 00 00 3c          Message Expiry Interval 60
        23 00 07                Topic Alias 7
        08 00 03 72 2f 31       Response Topic "r/1"
        09 00 03 01 02 03       Correlation Data 01 02 03
        26 00 02 6b 31 00 02 76 31   User Property k1=v1
        0b 01                   Subscription Identifier 1
        0b c8 01                Subscription Identifier 200 (several allowed in PUBLISH)
        03 00 04 6a 73 6f 6e    Content Type "json"
      7b 7d                     payload "{}"`),
    packet: {
      type: 3,
      topic: 's/1',
      payload: b('{}'),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 5,
      properties: {
        payloadFormatIndicator: 1,
        messageExpiryInterval: 60,
        topicAlias: 7,
        responseTopic: 'r/1',
        correlationData: hex('01 02 03'),
        userProperties: [['k1', 'v1']],
        subscriptionIdentifiers: [1, 200],
        contentType: 'json',
      },
    },
  },
  {
    name: 'v5 PUBLISH QoS 2 retain, empty topic with Topic Alias',
    version: 5,
    bytes: hex('35 09   00 00   00 02   03 23 00 01   7a'),
    packet: {
      type: 3,
      topic: '',
      payload: b('z'),
      qos: 2,
      retain: true,
      dup: false,
      packetId: 2,
      properties: { topicAlias: 1 },
    },
  },
  {
    name: 'v5 PUBACK short form (remaining length 2, reason Success implied)',
    version: 5,
    bytes: hex('40 02 00 01'),
    packet: { type: 4, packetId: 1, reasonCode: 0 },
  },
  {
    name: 'v5 PUBACK reason code only (remaining length 3)',
    version: 5,
    bytes: hex('40 03 00 02 10'),
    packet: { type: 4, packetId: 2, reasonCode: 0x10 },
  },
  {
    name: 'v5 PUBACK reason code and Reason String',
    version: 5,
    bytes: hex('40 09   00 03   87   05 1f 00 02 6e 6f'),
    packet: { type: 4, packetId: 3, reasonCode: 0x87, properties: { reasonString: 'no' } },
  },
  {
    name: 'v5 PUBREC 0x91 Packet Identifier in use',
    version: 5,
    bytes: hex('50 03 00 04 91'),
    packet: { type: 5, packetId: 4, reasonCode: 0x91 },
  },
  {
    name: 'v5 PUBREL 0x92 Packet Identifier not found',
    version: 5,
    bytes: hex('62 03 00 05 92'),
    packet: { type: 6, packetId: 5, reasonCode: 0x92 },
  },
  {
    name: 'v5 PUBCOMP Success with User Property',
    version: 5,
    bytes: hex('70 0b   00 06   00   07 26 00 01 61 00 01 62'),
    packet: { type: 7, packetId: 6, reasonCode: 0, properties: { userProperties: [['a', 'b']] } },
  },
  {
    name: 'v5 SUBSCRIBE with subscription options and the largest Subscription Identifier',
    version: 5,
    bytes: hex(`
      82 26
      00 0a                     packet id 10
      0c                        property length 12
        0b ff ff ff 7f          Subscription Identifier 268435455
        26 00 01 6b 00 01 76    User Property k=v
      00 03 61 2f 23   2d       "a/#": Retain Handling 2 | Retain As Published | No Local | QoS 1
      00 0a 24 73 68 61 72 65 2f 67 2f 74   12   "$share/g/t": Retain Handling 1 | QoS 2
      00 01 78   00             "x": all options 0`),
    packet: {
      type: 8,
      packetId: 10,
      properties: { subscriptionIdentifiers: [268_435_455], userProperties: [['k', 'v']] },
      subscriptions: [
        { topicFilter: 'a/#', qos: 1, noLocal: true, retainAsPublished: true, retainHandling: 2 },
        { topicFilter: '$share/g/t', qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 1 },
        sub('x', 0),
      ],
    },
  },
  {
    name: 'v5 SUBACK with Reason String and failure codes',
    version: 5,
    bytes: hex('90 0c   00 0a   04 1f 00 01 72   01 02 00 87 a2'),
    packet: { type: 9, packetId: 10, properties: { reasonString: 'r' }, reasonCodes: [1, 2, 0, 0x87, 0xa2] },
  },
  {
    name: 'v5 UNSUBSCRIBE with User Property',
    version: 5,
    bytes: hex('a2 13   00 0b   07 26 00 01 75 00 01 76   00 03 61 2f 2b   00 02 c3 bc'),
    packet: {
      type: 10,
      packetId: 11,
      properties: { userProperties: [['u', 'v']] },
      topicFilters: ['a/+', 'ü'],
    },
  },
  {
    name: 'v5 UNSUBACK',
    version: 5,
    bytes: hex('b0 05   00 0b   00   00 11'),
    packet: { type: 11, packetId: 11, reasonCodes: [0, 0x11] },
  },
  { name: 'v5 PINGREQ', version: 5, bytes: hex('c0 00'), packet: { type: 12 } },
  { name: 'v5 PINGRESP', version: 5, bytes: hex('d0 00'), packet: { type: 13 } },
  {
    name: 'v5 DISCONNECT short form (remaining length 0)',
    version: 5,
    bytes: hex('e0 00'),
    packet: { type: 14, reasonCode: 0 },
  },
  {
    name: 'v5 DISCONNECT 0x04 with Will Message, reason code only',
    version: 5,
    bytes: hex('e0 01 04'),
    packet: { type: 14, reasonCode: 0x04 },
  },
  {
    name: 'v5 DISCONNECT 0x8e Session taken over with properties',
    version: 5,
    bytes: hex(`
      e0 10
      8e                        Session taken over
      0e                        property length 14
        11 00 00 00 00          Session Expiry Interval 0
        1f 00 02 62 79          Reason String "by"
        1c 00 01 73             Server Reference "s"`),
    packet: {
      type: 14,
      reasonCode: 0x8e,
      properties: { sessionExpiryInterval: 0, reasonString: 'by', serverReference: 's' },
    },
  },
  { name: 'v5 AUTH short form', version: 5, bytes: hex('f0 00'), packet: { type: 15, reasonCode: 0 } },
  {
    name: 'v5 AUTH Continue authentication',
    version: 5,
    bytes: hex(`
      f0 14
      18                        Continue authentication
      12                        property length 18
        15 00 05 53 43 52 41 4d Authentication Method "SCRAM"
        16 00 03 01 02 03       Authentication Data
        1f 00 01 63             Reason String "c"`),
    packet: {
      type: 15,
      reasonCode: 0x18,
      properties: { authenticationMethod: 'SCRAM', authenticationData: hex('01 02 03'), reasonString: 'c' },
    },
  },
];

/** Legal, non-minimal encodings: they decode to `packet`; our encoder writes the shorter canonical form. */
export const DECODE_ONLY: Fixture[] = [
  {
    name: 'v5 PUBACK Success written out with remaining length 3',
    version: 5,
    bytes: hex('40 03 00 01 00'),
    packet: { type: 4, packetId: 1, reasonCode: 0 },
  },
  {
    name: 'v5 PUBACK Success with an empty property block (remaining length 4)',
    version: 5,
    bytes: hex('40 04 00 01 00 00'),
    packet: { type: 4, packetId: 1, reasonCode: 0 },
  },
  {
    name: 'v5 DISCONNECT Success with an empty property block',
    version: 5,
    bytes: hex('e0 02 00 00'),
    packet: { type: 14, reasonCode: 0 },
  },
  {
    name: 'v5 AUTH Success with an empty property block',
    version: 5,
    bytes: hex('f0 02 00 00'),
    packet: { type: 15, reasonCode: 0 },
  },
  {
    name: 'v5 PUBLISH user properties interleaved with other properties are grouped',
    version: 5,
    bytes: hex(`
      30 16
      00 01 61                  topic "a"
      12                        property length 18
        26 00 01 61 00 01 31    User Property a=1
        03 00 01 78             Content Type "x"
        26 00 01 62 00 01 32    User Property b=2`),
    packet: {
      type: 3,
      topic: 'a',
      payload: EMPTY,
      qos: 0,
      retain: false,
      dup: false,
      properties: {
        userProperties: [
          ['a', '1'],
          ['b', '2'],
        ],
        contentType: 'x',
      },
    },
  },
];
