// The Petrel configuration schema: one typebox schema that documents every key, its default and its range.
// Keys are snake_case, both in YAML and in the resolved object. `PetrelConfig` is the fully resolved shape
// (every default filled in); `parseConfig` in load.ts turns user YAML into it.
import { type Static, Type } from '@sinclair/typebox';

const u16 = (def: number, min: number, description: string) =>
  Type.Integer({ minimum: min, maximum: 65535, default: def, description });

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** A plain TCP listener. New listener kinds (tls, ws, wss) join `ListenerSchema` as new union members. */
export const TcpListenerSchema = Type.Object(
  {
    type: Type.Literal('tcp', { description: 'Listener kind.' }),
    name: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Name used in logs and metrics (default: "<type>:<host>:<port>").',
      }),
    ),
    host: Type.String({ minLength: 1, default: '0.0.0.0', description: 'Address to bind.' }),
    port: Type.Integer({
      minimum: 0,
      maximum: 65535,
      default: 1883,
      description: 'Port to bind (0 = any free port).',
    }),
    max_connections: Type.Integer({
      minimum: 0,
      default: 0,
      description: 'Maximum concurrent connections on this listener (0 = unlimited).',
    }),
  },
  { additionalProperties: false, description: 'MQTT over plain TCP.' },
);

/** Discriminated on `type`. */
export const ListenerSchema = Type.Union([TcpListenerSchema], { description: 'A network listener.' });

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
    response_information: Type.String({
      default: 'response/${clientid}',
      description:
        'Response Information for MQTT 5 clients that request it ("" = never sent); ${clientid} becomes the client id.',
    }),
    shared_subscription_available: Type.Boolean({
      default: true,
      description: 'Support $share subscriptions.',
    }),
  },
  { additionalProperties: false, default: {}, description: 'MQTT protocol limits and features.' },
);

export const MemoryStorageSchema = Type.Object(
  { type: Type.Literal('memory', { description: 'Storage backend.' }) },
  { additionalProperties: false, description: 'Everything in memory; lost on restart.' },
);

/** Discriminated on `type`; an 'embedded' backend joins later. */
export const StorageSchema = Type.Union([MemoryStorageSchema], {
  default: { type: 'memory' },
  description: 'Session and retained message storage.',
});

export const PetrelConfigSchema = Type.Object(
  {
    listeners: Type.Array(ListenerSchema, {
      default: [{ type: 'tcp', host: '127.0.0.1', port: 1883 }],
      description: 'Network listeners.',
    }),
    log: LogSchema,
    mqtt: MqttSchema,
    storage: StorageSchema,
  },
  { additionalProperties: false, description: 'Petrel broker configuration.' },
);

export type PetrelConfig = Static<typeof PetrelConfigSchema>;
export type ListenerConfig = Static<typeof ListenerSchema>;
export type TcpListenerConfig = Static<typeof TcpListenerSchema>;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type MqttConfig = Static<typeof MqttSchema>;
export type StorageConfig = Static<typeof StorageSchema>;
