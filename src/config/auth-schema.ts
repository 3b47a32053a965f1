// Config schema of the security sections: `auth`, `acl`, `limits`, `bans` (implemented in src/auth/).
import { Type } from '@sinclair/typebox';

const ACTIONS = [Type.Literal('publish'), Type.Literal('subscribe'), Type.Literal('all')];

export const AuthSchema = Type.Object(
  {
    allow_anonymous: Type.Optional(
      Type.Boolean({
        description:
          'Accept clients without a username. Default: true only when every listener binds a loopback address (the default start), else false.',
      }),
    ),
    password_file: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'Password file in Mosquitto `mosquitto_passwd` format ($7$ PBKDF2-SHA512, $6$ SHA512) or Petrel scrypt entries (`petrel passwd`); reloaded on SIGHUP and on change.',
      }),
    ),
    http: Type.Optional(
      Type.Object(
        {
          url: Type.String({ minLength: 1, description: 'URL that gets a JSON POST per CONNECT.' }),
          timeout_ms: Type.Integer({
            minimum: 1,
            maximum: 60000,
            default: 2000,
            description: 'Time limit of the request; a timeout or failure denies.',
          }),
        },
        {
          additionalProperties: false,
          description:
            'HTTP authentication: 200 + {"result":"allow"|"deny"|"ignore","is_superuser":bool}; anything else denies.',
        },
      ),
    ),
    jwt: Type.Optional(
      Type.Object(
        {
          secret: Type.Optional(Type.String({ minLength: 1, description: 'HMAC secret (HS256/384/512).' })),
          public_key_file: Type.Optional(
            Type.String({ minLength: 1, description: 'PEM public key (RS*, PS*, ES*, EdDSA).' }),
          ),
          jwks_file: Type.Optional(Type.String({ minLength: 1, description: 'JSON Web Key Set file.' })),
          from: Type.Union([Type.Literal('password'), Type.Literal('username')], {
            default: 'password',
            description: 'CONNECT field that carries the token.',
          }),
        },
        {
          additionalProperties: false,
          description: 'JWT authentication (`exp` enforced; an `acl` claim adds rules for the client).',
        },
      ),
    ),
  },
  { additionalProperties: false, default: {}, description: 'Authentication: a chain of providers.' },
);

export const AclRuleSchema = Type.Object(
  {
    allow: Type.Optional(Type.Union(ACTIONS, { description: 'Allow this action.' })),
    deny: Type.Optional(Type.Union(ACTIONS, { description: 'Deny this action.' })),
    topic: Type.String({
      minLength: 1,
      description: 'Topic filter; ${username}, ${clientid}, ${cert_cn} are replaced.',
    }),
    username: Type.Optional(Type.String({ description: 'Only for this username.' })),
    clientid: Type.Optional(Type.String({ description: 'Only for this client id.' })),
    ip: Type.Optional(
      Type.String({ minLength: 1, description: 'Only for clients in this address or CIDR.' }),
    ),
    listener: Type.Optional(Type.String({ minLength: 1, description: 'Only on this listener (by name).' })),
    qos: Type.Optional(
      Type.Array(Type.Union([Type.Literal(0), Type.Literal(1), Type.Literal(2)]), {
        description: 'Only for these QoS levels.',
      }),
    ),
    retain: Type.Optional(
      Type.Boolean({ description: 'Only for publishes with (true) or without (false) RETAIN.' }),
    ),
  },
  { additionalProperties: false, description: 'One ACL rule: exactly one of allow / deny.' },
);

export const AclSchema = Type.Object(
  {
    file: Type.Optional(
      Type.String({ minLength: 1, description: 'Mosquitto acl_file (user / topic / pattern lines).' }),
    ),
    rules: Type.Array(AclRuleSchema, {
      default: [],
      description: 'Rules checked before the acl file; the first match wins.',
    }),
    no_match: Type.Optional(
      Type.Union([Type.Literal('allow'), Type.Literal('deny')], {
        description: 'When no rule matches. Default: deny when rules or a file are set, else allow.',
      }),
    ),
    superusers: Type.Array(Type.String(), {
      default: [],
      description: 'Usernames the ACL does not restrict.',
    }),
    sys_read: Type.Union([Type.Literal('superusers'), Type.Literal('all')], {
      default: 'superusers',
      description: 'Who may subscribe to $SYS topics while an ACL is active.',
    }),
    deny_action: Type.Union([Type.Literal('ignore'), Type.Literal('disconnect')], {
      default: 'ignore',
      description: 'MQTT 3.x PUBLISH denied: acknowledge and drop, or disconnect.',
    }),
    suback_deny_code: Type.Union([Type.Literal(135), Type.Literal(128)], {
      default: 135,
      description: 'MQTT 5 SUBACK code for a denied filter: 135 (0x87 Not authorized) or 128 (0x80).',
    }),
  },
  { additionalProperties: false, default: {}, description: 'Authorization.' },
);

/** Loopback: local tools, tests and a reverse proxy on the same host (which hides the real addresses). */
export const LOOPBACK_RANGES = ['127.0.0.0/8', '::1'];

export const LimitsSchema = Type.Object(
  {
    max_connections_per_ip: Type.Integer({
      minimum: 0,
      default: 1000,
      description:
        'Connected clients per IP address (0 = unlimited); past it CONNACK 0x97 (3.x: 3). Default 1000: far above what one device or gateway needs, low enough that one host cannot take every connection. Behind a load balancer or NAT that hides client addresses, use proxy_protocol or raise it. Addresses in per_ip_exempt are not counted.',
    }),
    per_ip_exempt: Type.Array(Type.String({ minLength: 1 }), {
      default: LOOPBACK_RANGES,
      description:
        'Addresses or CIDRs that max_connections_per_ip does not count. Default: loopback (127.0.0.0/8, ::1), i.e. local tools, benchmarks and a reverse proxy on the same host without PROXY protocol; [] counts every address.',
    }),
    max_subscriptions_per_client: Type.Integer({
      minimum: 0,
      default: 10_000,
      description:
        'Subscriptions per client (0 = unlimited); past it SUBACK 0x97. Default 10000: far above what a device or service subscribes to, low enough that one client cannot fill the routing index.',
    }),
    connection_rate: Type.Number({
      minimum: 0,
      default: 1000,
      description:
        'CONNECTs per second per listener (token bucket, 0 = unlimited); past it CONNACK 0x9F (3.x: 3), and the client retries later. Default 1000/s, as EMQX ships (max_conn_rate = 1000 per listener): a reconnect storm after a restart is spread out instead of starving the event loop.',
    }),
    connection_burst: Type.Integer({
      minimum: 1,
      default: 1000,
      description:
        'Bucket size of connection_rate: CONNECTs accepted at once before the rate applies. Default 1000 (one second at the default rate).',
    }),
    message_rate: Type.Number({
      minimum: 0,
      default: 0,
      description:
        'PUBLISHes per second per client (0 = unlimited); a faster client is slowed by pausing reads. Off by default, as in EMQX (publish_limit unset) and Mosquitto (no such limit): bridges and gateways publish fast legitimately; max_packet_size, receive_maximum and the queue limits bound what one client costs.',
    }),
    message_burst: Type.Integer({ minimum: 1, default: 100, description: 'Bucket size of message_rate.' }),
    byte_rate: Type.Integer({
      minimum: 0,
      default: 0,
      description:
        'Payload bytes per second per client (0 = unlimited); slowed by pausing reads. Off by default, as message_rate.',
    }),
    flapping_connects: Type.Integer({
      minimum: 0,
      default: 0,
      description:
        'CONNECTs of one client id within flapping_window_s that ban it (0 = off). Off by default, as in EMQX (enable_flapping_detect = off; its policy when on is 30 in 1 min, ban 5 min) and Mosquitto (none): it counts CONNECTs before credentials are checked, so anyone who knows a client id could get it banned.',
    }),
    flapping_window_s: Type.Integer({
      minimum: 1,
      default: 60,
      description: 'Window of flapping detection.',
    }),
    flapping_ban_s: Type.Integer({ minimum: 1, default: 300, description: 'Ban length after flapping.' }),
  },
  { additionalProperties: false, default: {}, description: 'Per-client and per-IP limits and rates.' },
);

export const BanSchema = Type.Object(
  {
    clientid: Type.Optional(Type.String({ description: 'Banned client id.' })),
    username: Type.Optional(Type.String({ description: 'Banned username.' })),
    ip: Type.Optional(Type.String({ minLength: 1, description: 'Banned address or CIDR.' })),
    until: Type.Optional(
      Type.String({ minLength: 1, description: 'ISO 8601 end of the ban (default: forever).' }),
    ),
  },
  { additionalProperties: false, description: 'A ban: exactly one of clientid / username / ip.' },
);

export const BansSchema = Type.Array(BanSchema, {
  default: [],
  description: 'Banned clients (CONNACK 0x8A).',
});

/** Key paths naming files: resolved against the config file's folder and checked readable by the loader. */
export const AUTH_FILE_KEYS: readonly (readonly string[])[] = [
  ['auth', 'password_file'],
  ['auth', 'jwt', 'public_key_file'],
  ['auth', 'jwt', 'jwks_file'],
  ['acl', 'file'],
];
