// The Petrel configuration schema: one typebox schema that documents every key, its default and its range.
// Keys are snake_case, both in YAML and in the resolved object. `PetrelConfig` is the fully resolved shape
// (every default filled in); `parseConfig` in load.ts turns user YAML into it.
import { type Static, Type } from '@sinclair/typebox';
import { SHARE_STRATEGIES } from '../core/share.js';
import { AclSchema, AuthSchema, BansSchema, LimitsSchema } from './auth-schema.js';

const u16 = (def: number, min: number, description: string) =>
  Type.Integer({ minimum: min, maximum: 65535, default: def, description });

function ShareStrategySchema(def: (typeof SHARE_STRATEGIES)[number] | undefined, description: string) {
  return Type.Union(
    SHARE_STRATEGIES.map((s) => Type.Literal(s)),
    def === undefined ? { description } : { default: def, description },
  );
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** Keys every listener kind takes. `port` defaults differ by kind. */
function listenerCommon(defaultPort: number) {
  return {
    name: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Name used in logs and metrics (default: "<type>:<port>").',
      }),
    ),
    host: Type.String({ minLength: 1, default: '0.0.0.0', description: 'Address to bind.' }),
    port: Type.Integer({
      minimum: 0,
      maximum: 65535,
      default: defaultPort,
      description: 'Port to bind (0 = any free port).',
    }),
    max_connections: Type.Integer({
      minimum: 0,
      default: 0,
      description:
        'Maximum concurrent connections on this listener (0 = unlimited); past it a CONNECT gets CONNACK 0x97 (v5) / 0x03 (3.x).',
    }),
    proxy_protocol: Type.Boolean({
      default: false,
      description:
        'Expect a PROXY protocol v1 or v2 header (HAProxy, cloud load balancers) first on every connection; the client address it carries is the one used.',
    }),
  };
}

/** TLS keys of the tls and wss listeners. Relative file names are resolved against the config file's folder. */
const tlsKeys = {
  cert: Type.String({ minLength: 1, description: 'Server certificate chain file (PEM).' }),
  key: Type.String({ minLength: 1, description: 'Private key file of the certificate (PEM).' }),
  ca: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'CA certificates file (PEM) that client certificates must chain to.',
    }),
  ),
  require_client_cert: Type.Boolean({
    default: false,
    description: 'Mutual TLS: refuse clients without a valid certificate signed by `ca`.',
  }),
  use_cn_as_username: Type.Boolean({
    default: false,
    description:
      "Use the verified client certificate's Common Name as the username (the CONNECT's username is ignored).",
  }),
  min_version: Type.Union([Type.Literal('TLSv1.2'), Type.Literal('TLSv1.3')], {
    default: 'TLSv1.2',
    description: 'Lowest TLS version accepted.',
  }),
  ciphers: Type.Optional(
    Type.String({ minLength: 1, description: "OpenSSL cipher list for TLS 1.2 (default: Node's)." }),
  ),
};

const wsPath = Type.String({
  minLength: 1,
  default: '/mqtt',
  description: 'HTTP path of the WebSocket endpoint (other paths get 404).',
});

/** A plain TCP listener. */
export const TcpListenerSchema = Type.Object(
  { type: Type.Literal('tcp', { description: 'Listener kind.' }), ...listenerCommon(1883) },
  { additionalProperties: false, description: 'MQTT over plain TCP.' },
);

export const TlsListenerSchema = Type.Object(
  { type: Type.Literal('tls', { description: 'Listener kind.' }), ...listenerCommon(8883), ...tlsKeys },
  { additionalProperties: false, description: 'MQTT over TLS.' },
);

export const WsListenerSchema = Type.Object(
  { type: Type.Literal('ws', { description: 'Listener kind.' }), ...listenerCommon(8083), path: wsPath },
  { additionalProperties: false, description: 'MQTT over WebSocket.' },
);

export const WssListenerSchema = Type.Object(
  {
    type: Type.Literal('wss', { description: 'Listener kind.' }),
    ...listenerCommon(8084),
    path: wsPath,
    ...tlsKeys,
  },
  { additionalProperties: false, description: 'MQTT over secure WebSocket (WebSocket over TLS).' },
);

/** Discriminated on `type`. */
export const ListenerSchema = Type.Union(
  [TcpListenerSchema, TlsListenerSchema, WsListenerSchema, WssListenerSchema],
  { description: 'A network listener.' },
);

export const LogSchema = Type.Object(
  {
    level: Type.Union(
      LOG_LEVELS.map((l) => Type.Literal(l)),
      { default: 'info', description: 'Minimum log level.' },
    ),
  },
  { additionalProperties: false, default: {}, description: 'Logging.' },
);

export const MqttSchema = Type.Object(
  {
    max_packet_size: Type.Integer({
      minimum: 16,
      maximum: 268435460,
      default: 1048576,
      description: 'Largest packet accepted from a client, in bytes (checked at the fixed header).',
    }),
    max_keepalive: Type.Integer({
      minimum: 0,
      maximum: 65535,
      default: 65535,
      description: 'Largest keep alive granted, in seconds (MQTT 5 Server Keep Alive).',
    }),
    receive_maximum: u16(
      32,
      1,
      'QoS 1/2 PUBLISH packets a client may have unacknowledged towards the broker.',
    ),
    max_inflight: u16(
      32,
      1,
      'QoS 1/2 messages the broker sends a client before waiting for acknowledgements.',
    ),
    max_queued_messages: Type.Integer({
      minimum: 0,
      default: 1000,
      description: 'Messages queued per session while offline or while inflight is full (0 = unlimited).',
    }),
    max_queued_bytes: Type.Integer({
      minimum: 0,
      default: 67_108_864,
      description: 'Payload bytes queued per session (0 = unlimited); the drop policy applies past it.',
    }),
    queue_qos0_messages: Type.Boolean({
      default: false,
      description: 'Queue QoS 0 messages for offline persistent sessions.',
    }),
    queue_drop_policy: Type.Union([Type.Literal('drop_oldest'), Type.Literal('drop_newest')], {
      default: 'drop_oldest',
      description: 'Which message is dropped when a session queue is full.',
    }),
    topic_alias_maximum: u16(10, 0, 'Topic aliases a client may use towards the broker (0 = none).'),
    max_session_expiry: Type.Integer({
      minimum: 0,
      maximum: 4294967295,
      default: 4294967295,
      description: 'Largest session expiry interval granted, in seconds.',
    }),
    max_topic_levels: u16(128, 1, 'Maximum number of levels in a topic name or filter.'),
    max_topic_length: u16(65535, 1, 'Longest topic name or filter, in bytes (UTF-8).'),
    max_client_id_length: u16(65535, 1, 'Maximum client identifier length, in bytes.'),
    connect_timeout: Type.Integer({
      minimum: 1,
      maximum: 3600,
      default: 10,
      description: 'Seconds a new connection has to send CONNECT.',
    }),
    maximum_qos: Type.Union([Type.Literal(0), Type.Literal(1), Type.Literal(2)], {
      default: 2,
      description: 'Highest QoS the broker supports.',
    }),
    retain_available: Type.Boolean({ default: true, description: 'Support retained messages.' }),
    max_retained_messages: Type.Integer({
      minimum: 0,
      default: 0,
      description: 'Maximum number of retained messages (0 = unlimited).',
    }),
    max_retained_payload: Type.Integer({
      minimum: 0,
      default: 0,
      description: 'Largest retained payload, in bytes (0 = unlimited).',
    }),
    wildcard_subscription_available: Type.Boolean({
      default: true,
      description: 'Allow + and # in filters.',
    }),
    subscription_identifier_available: Type.Boolean({
      default: true,
      description: 'Support MQTT 5 subscription identifiers.',
    }),
    write_buffer_limit: Type.Integer({
      minimum: 1024,
      default: 1_048_576,
      description:
        'Bytes unread by a client before its connection counts as congested (QoS 0 then waits in the bounded session queue).',
    }),
    write_timeout: Type.Integer({
      minimum: 0,
      maximum: 3600,
      default: 30,
      description: 'Seconds a congested client has to read before it is disconnected (0 = never).',
    }),
    response_information: Type.String({
      default: 'response/${clientid}',
      description:
        'Response Information for MQTT 5 clients that request it ("" = never sent); ${clientid} becomes the client id.',
    }),
    shared_subscription_available: Type.Boolean({
      default: true,
      description: 'Support $share subscriptions.',
    }),
    shared_subscription_strategy: ShareStrategySchema(
      'round_robin',
      'How a shared subscription group picks a member.',
    ),
    shared_subscription_groups: Type.Record(
      Type.String(),
      ShareStrategySchema(undefined, 'Strategy of this group.'),
      {
        default: {},
        description: 'Per-group strategy overrides: { group name: strategy }.',
      },
    ),
  },
  { additionalProperties: false, default: {}, description: 'MQTT protocol limits and features.' },
);

export const MemoryStorageSchema = Type.Object(
  { type: Type.Literal('memory', { description: 'Storage backend.' }) },
  { additionalProperties: false, description: 'Everything in memory; lost on restart.' },
);

export const EmbeddedStorageSchema = Type.Object(
  {
    type: Type.Literal('embedded', { description: 'Storage backend.' }),
    dir: Type.String({
      minLength: 1,
      default: './data',
      description: 'Data directory (created if missing).',
    }),
    durability: Type.Union([Type.Literal('sync'), Type.Literal('batched'), Type.Literal('none')], {
      default: 'sync',
      description:
        'sync: QoS 1/2 PUBLISHes are acknowledged only once durable; batched: commits every batch_ms, acks at once (loss window batch_ms); none: no flush to disk.',
    }),
    batch_ms: Type.Integer({
      minimum: 1,
      maximum: 60_000,
      default: 100,
      description: 'With durability batched: the longest time a write waits for its commit.',
    }),
    memory_queue: Type.Integer({
      minimum: 1,
      default: 1000,
      description:
        'Queued messages a persistent session holds in memory; a longer queue waits on disk and is read back as the client drains it (max_queued_messages still bounds the whole queue).',
    }),
  },
  { additionalProperties: false, description: 'Embedded durable store (LMDB) in one data directory.' },
);

/** Discriminated on `type`. */
export const StorageSchema = Type.Union([EmbeddedStorageSchema, MemoryStorageSchema], {
  default: { type: 'embedded' },
  description: 'Session and retained message storage.',
});

/** The HTTP listener for /metrics (Prometheus) and /healthz; `http: null` turns it off. */
export const HttpSchema = Type.Union(
  [
    Type.Object(
      {
        host: Type.String({ minLength: 1, default: '127.0.0.1', description: 'Address to bind.' }),
        port: Type.Integer({
          minimum: 0,
          maximum: 65535,
          default: 18083,
          description: 'Port to bind (0 = any free port).',
        }),
      },
      { additionalProperties: false },
    ),
    Type.Null(),
  ],
  {
    default: { host: '127.0.0.1', port: 18083 },
    description: 'HTTP listener serving /metrics (Prometheus) and /healthz; null turns it off.',
  },
);

export const PetrelConfigSchema = Type.Object(
  {
    listeners: Type.Array(ListenerSchema, {
      default: [
        { type: 'tcp', host: '127.0.0.1', port: 1883 },
        { type: 'ws', host: '127.0.0.1', port: 8083 },
      ],
      description: 'Network listeners.',
    }),
    log: LogSchema,
    mqtt: MqttSchema,
    storage: StorageSchema,
    sys_interval: Type.Integer({
      minimum: 0,
      maximum: 86400,
      default: 10,
      description: 'Seconds between $SYS/broker/... updates (0 = no $SYS topics and no client events).',
    }),
    http: HttpSchema,
    auth: AuthSchema,
    acl: AclSchema,
    limits: LimitsSchema,
    bans: BansSchema,
  },
  { additionalProperties: false, description: 'Petrel broker configuration.' },
);

export type PetrelConfig = Static<typeof PetrelConfigSchema>;
export type ListenerConfig = Static<typeof ListenerSchema>;
export type TcpListenerConfig = Static<typeof TcpListenerSchema>;
export type TlsListenerConfig = Static<typeof TlsListenerSchema>;
export type WsListenerConfig = Static<typeof WsListenerSchema>;
export type WssListenerConfig = Static<typeof WssListenerSchema>;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type MqttConfig = Static<typeof MqttSchema>;
export type StorageConfig = Static<typeof StorageSchema>;
export type HttpConfig = Static<typeof HttpSchema>;
