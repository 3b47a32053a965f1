import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigError, defaultConfig, loadConfig, parseConfig } from '../../src/config/index.js';
import { testCerts } from '../helpers/certs.js';

const certs = testCerts();

const dir = mkdtempSync(join(tmpdir(), 'petrel-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function writeTemp(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** Asserts parseConfig(text) throws a ConfigError and returns it. */
function parseError(text: string, file = 'petrel.yaml'): ConfigError {
  try {
    parseConfig(text, file);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError');
}

function assertMentions(err: ConfigError, ...parts: string[]): void {
  for (const part of parts)
    assert.ok(err.message.includes(part), `${JSON.stringify(err.message)} lacks ${part}`);
}

describe('config - defaults', () => {
  test('config - defaults: empty text, comments only, {} and null give the defaults', () => {
    const d = defaultConfig();
    for (const text of ['', '# nothing\n', '{}', '~\n']) assert.deepEqual(parseConfig(text), d);
  });

  test('config - defaults: values', () => {
    const d = defaultConfig();
    assert.deepEqual(d.listeners, [
      { type: 'tcp', host: '127.0.0.1', port: 1883, max_connections: 0, proxy_protocol: false },
      { type: 'ws', host: '127.0.0.1', port: 8083, path: '/mqtt', max_connections: 0, proxy_protocol: false },
    ]);
    assert.equal(d.log.level, 'info');
    assert.deepEqual(d.storage, {
      type: 'embedded',
      dir: './data',
      durability: 'sync',
      batch_ms: 100,
      memory_queue: 1000,
    });
    assert.equal(d.sys_interval, 10);
    assert.deepEqual(d.http, { host: '127.0.0.1', port: 18083 });
    assert.deepEqual(d.mqtt, {
      max_packet_size: 1048576,
      max_keepalive: 65535,
      receive_maximum: 32,
      max_inflight: 32,
      max_queued_messages: 1000,
      max_queued_bytes: 67108864,
      queue_qos0_messages: false,
      queue_drop_policy: 'drop_oldest',
      topic_alias_maximum: 10,
      max_session_expiry: 4294967295,
      max_topic_levels: 128,
      max_topic_length: 65535,
      max_client_id_length: 65535,
      connect_timeout: 10,
      maximum_qos: 2,
      retain_available: true,
      max_retained_messages: 0,
      max_retained_payload: 0,
      wildcard_subscription_available: true,
      subscription_identifier_available: true,
      shared_subscription_available: true,
      write_buffer_limit: 1048576,
      write_timeout: 30,
      response_information: 'response/${clientid}',
      shared_subscription_strategy: 'round_robin',
      shared_subscription_groups: {},
    });
  });

  test('config - defaults: each call returns a fresh object', () => {
    const a = defaultConfig();
    a.listeners[0]!.port = 1;
    a.mqtt.max_inflight = 1;
    assert.equal(defaultConfig().listeners[0]!.port, 1883);
    assert.equal(defaultConfig().mqtt.max_inflight, 32);
  });

  test('config - defaults: partial sections are filled in; empty sections mean defaults', () => {
    const c = parseConfig('mqtt:\n  max_inflight: 5\nlog:\nstorage:\n');
    assert.equal(c.mqtt.max_inflight, 5);
    assert.equal(c.mqtt.receive_maximum, 32);
    assert.equal(c.log.level, 'info');
    assert.deepEqual(c.storage, {
      type: 'embedded',
      dir: './data',
      durability: 'sync',
      batch_ms: 100,
      memory_queue: 1000,
    });
  });

  test('config - defaults: a listener without host binds 0.0.0.0 and port 1883', () => {
    const c = parseConfig('listeners:\n  - type: tcp\n');
    assert.deepEqual(c.listeners, [
      { type: 'tcp', host: '0.0.0.0', port: 1883, max_connections: 0, proxy_protocol: false },
    ]);
  });

  test('config - defaults: an empty listener list stays empty', () => {
    assert.deepEqual(parseConfig('listeners: []\n').listeners, []);
  });
});

describe('config - full file', () => {
  test('config - full file: every key is read', () => {
    const text = `
listeners:
  - type: tcp
    host: 0.0.0.0
    port: 1883
    name: public
    max_connections: 10000
  - { type: tcp, host: 127.0.0.1, port: 0 }
  - type: tls
    port: 8883
    proxy_protocol: true
    cert: ${certs.serverCert}
    key: ${certs.serverKey}
    ca: ${certs.ca}
    require_client_cert: true
    use_cn_as_username: true
    min_version: TLSv1.3
    ciphers: ECDHE-ECDSA-AES128-GCM-SHA256
  - { type: ws, port: 8080, path: /ws }
  - { type: wss, cert: ${certs.serverCert}, key: ${certs.serverKey} }
log:
  level: debug
mqtt:
  max_packet_size: 65536
  max_keepalive: 600
  receive_maximum: 100
  max_inflight: 20
  max_queued_messages: 0
  max_queued_bytes: 4096
  queue_qos0_messages: true
  queue_drop_policy: drop_newest
  topic_alias_maximum: 0
  max_session_expiry: 86400
  max_topic_levels: 16
  max_topic_length: 1024
  max_client_id_length: 23
  connect_timeout: 3600
  maximum_qos: 1
  retain_available: false
  max_retained_messages: 5000
  max_retained_payload: 1024
  wildcard_subscription_available: false
  subscription_identifier_available: false
  shared_subscription_available: false
  write_buffer_limit: 65536
  write_timeout: 5
  response_information: 'reply/\${clientid}/'
  shared_subscription_strategy: sticky
  shared_subscription_groups: { workers: hash_topic, audit: random }
storage:
  type: memory
sys_interval: 30
http:
  host: 0.0.0.0
  port: 9100
auth:
  allow_anonymous: false
  http: { url: "http://127.0.0.1:9000/auth", timeout_ms: 500 }
  jwt: { secret: s3cret, from: username }
acl:
  rules:
    - { allow: publish, topic: "up/\${clientid}", username: u, clientid: c, ip: 10.0.0.0/8, listener: public, qos: [0, 1], retain: false }
    - { deny: all, topic: "#" }
  no_match: allow
  superusers: [admin]
  sys_read: all
  deny_action: disconnect
  suback_deny_code: 128
limits:
  max_connections_per_ip: 5
  per_ip_exempt: [10.0.0.0/8]
  max_subscriptions_per_client: 100
  connection_rate: 50
  connection_burst: 10
  message_rate: 100
  message_burst: 20
  byte_rate: 100000
  flapping_connects: 10
  flapping_window_s: 30
  flapping_ban_s: 600
bans:
  - { clientid: bad }
  - { username: mallory, until: "2030-01-01T00:00:00Z" }
  - { ip: 192.0.2.0/24 }
`;
    const c = parseConfig(text, 'full.yaml');
    assert.deepEqual(c, {
      listeners: [
        {
          type: 'tcp',
          host: '0.0.0.0',
          port: 1883,
          name: 'public',
          max_connections: 10000,
          proxy_protocol: false,
        },
        { type: 'tcp', host: '127.0.0.1', port: 0, max_connections: 0, proxy_protocol: false },
        {
          type: 'tls',
          host: '0.0.0.0',
          port: 8883,
          max_connections: 0,
          proxy_protocol: true,
          cert: certs.serverCert,
          key: certs.serverKey,
          ca: certs.ca,
          require_client_cert: true,
          use_cn_as_username: true,
          min_version: 'TLSv1.3',
          ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256',
        },
        { type: 'ws', host: '0.0.0.0', port: 8080, path: '/ws', max_connections: 0, proxy_protocol: false },
        {
          type: 'wss',
          host: '0.0.0.0',
          port: 8084,
          path: '/mqtt',
          max_connections: 0,
          proxy_protocol: false,
          cert: certs.serverCert,
          key: certs.serverKey,
          require_client_cert: false,
          use_cn_as_username: false,
          min_version: 'TLSv1.2',
        },
      ],
      log: { level: 'debug' },
      mqtt: {
        max_packet_size: 65536,
        max_keepalive: 600,
        receive_maximum: 100,
        max_inflight: 20,
        max_queued_messages: 0,
        max_queued_bytes: 4096,
        queue_qos0_messages: true,
        queue_drop_policy: 'drop_newest',
        topic_alias_maximum: 0,
        max_session_expiry: 86400,
        max_topic_levels: 16,
        max_topic_length: 1024,
        max_client_id_length: 23,
        connect_timeout: 3600,
        maximum_qos: 1,
        retain_available: false,
        max_retained_messages: 5000,
        max_retained_payload: 1024,
        wildcard_subscription_available: false,
        subscription_identifier_available: false,
        shared_subscription_available: false,
        write_buffer_limit: 65536,
        write_timeout: 5,
        response_information: 'reply/${clientid}/',
        shared_subscription_strategy: 'sticky',
        shared_subscription_groups: { workers: 'hash_topic', audit: 'random' },
      },
      storage: { type: 'memory' },
      sys_interval: 30,
      http: { host: '0.0.0.0', port: 9100 },
      auth: {
        allow_anonymous: false,
        http: { url: 'http://127.0.0.1:9000/auth', timeout_ms: 500 },
        jwt: { secret: 's3cret', from: 'username' },
      },
      acl: {
        rules: [
          {
            allow: 'publish',
            topic: 'up/${clientid}',
            username: 'u',
            clientid: 'c',
            ip: '10.0.0.0/8',
            listener: 'public',
            qos: [0, 1],
            retain: false,
          },
          { deny: 'all', topic: '#' },
        ],
        no_match: 'allow',
        superusers: ['admin'],
        sys_read: 'all',
        deny_action: 'disconnect',
        suback_deny_code: 128,
      },
      limits: {
        max_connections_per_ip: 5,
        per_ip_exempt: ['10.0.0.0/8'],
        max_subscriptions_per_client: 100,
        connection_rate: 50,
        connection_burst: 10,
        message_rate: 100,
        message_burst: 20,
        byte_rate: 100000,
        flapping_connects: 10,
        flapping_window_s: 30,
        flapping_ban_s: 600,
      },
      bans: [
        { clientid: 'bad' },
        { username: 'mallory', until: '2030-01-01T00:00:00Z' },
        { ip: '192.0.2.0/24' },
      ],
    });
  });

  test('config - full file: http: null turns the HTTP listener off; a partial http section is filled in', () => {
    assert.equal(parseConfig('http: null\n').http, null);
    assert.equal(parseConfig('http:\n').http, null);
    assert.deepEqual(parseConfig('http: { port: 0 }\n').http, { host: '127.0.0.1', port: 0 });
    assert.equal(parseConfig('sys_interval: 0\n').sys_interval, 0);
  });

  test('config - errors: http and sys_interval name the key and the expectation', () => {
    assertMentions(parseError('http:\n  prot: 80\n'), 'petrel.yaml:2', 'http.prot', 'did you mean "port"');
    assertMentions(parseError('http: { port: 70000 }\n'), 'http.port', 'an integer from 0 to 65535');
    assertMentions(parseError('sys_interval: -1\n'), 'sys_interval', 'an integer from 0 to 86400');
  });

  test('config - full file: range bounds are inclusive', () => {
    const c = parseConfig(
      'mqtt:\n  max_packet_size: 268435460\n  max_session_expiry: 4294967295\n  maximum_qos: 0\n' +
        'listeners:\n  - { type: tcp, port: 65535 }\n',
    );
    assert.equal(c.mqtt.max_packet_size, 268435460);
    assert.equal(c.mqtt.max_session_expiry, 4294967295);
    assert.equal(c.mqtt.maximum_qos, 0);
    assert.equal(c.listeners[0]!.port, 65535);
  });
});

describe('config - errors', () => {
  test('config - errors: unknown key names file, line, path and the closest key', () => {
    const err = parseError('log:\n  level: info\nmqtt:\n  max_inflght: 10\n');
    assert.equal(err.file, 'petrel.yaml');
    assert.equal(err.path, 'mqtt.max_inflght');
    assert.equal(err.line, 4);
    assert.equal(
      err.message,
      'config error in petrel.yaml:4: mqtt.max_inflght: unknown key (did you mean "max_inflight"?)',
    );
  });

  test('config - errors: unknown key suggestions (case-insensitive, top level, in a listener)', () => {
    assertMentions(parseError('MQTT:\n  max_inflight: 1\n'), 'petrel.yaml:1', 'MQTT: unknown key', '"mqtt"');
    assertMentions(
      parseError('listeners:\n  - type: tcp\n    prot: 1\n'),
      'petrel.yaml:3',
      'listeners[0].prot: unknown key (did you mean "port"?)',
    );
  });

  test('config - errors: unknown key with nothing close lists the allowed keys', () => {
    const err = parseError('log:\n  colour: true\n');
    assert.equal(err.path, 'log.colour');
    assertMentions(err, 'petrel.yaml:2', 'unknown key (allowed: level)');
  });

  test('config - errors: wrong type', () => {
    const err = parseError('listeners:\n  - type: tcp\n    port: abc\n');
    assert.equal(err.path, 'listeners[0].port');
    assert.equal(err.line, 3);
    assert.equal(
      err.message,
      'config error in petrel.yaml:3: listeners[0].port: expected an integer from 0 to 65535, got "abc"',
    );
    assertMentions(
      parseError('mqtt:\n  retain_available: "yes"\n'),
      'petrel.yaml:2',
      'mqtt.retain_available',
      'expected a boolean (true or false), got "yes"',
    );
    assertMentions(parseError('mqtt: 5\n'), 'petrel.yaml:1', 'mqtt: expected a mapping, got 5');
    assertMentions(
      parseError('listeners:\n  type: tcp\n'),
      'petrel.yaml:2',
      'listeners: expected a list, got a mapping',
    );
    assertMentions(parseError('mqtt:\n  max_inflight: 1.5\n'), 'mqtt.max_inflight', 'got 1.5');
    assertMentions(parseError('mqtt:\n  max_inflight: "8"\n'), 'got "8" (a string: remove the quotes)');
    assertMentions(parseError('- 1\n'), 'petrel.yaml:1', 'expected a mapping, got a list');
  });

  test('config - errors: out of range', () => {
    const cases: [string, string, string][] = [
      [
        'mqtt:\n  max_packet_size: 8\n',
        'mqtt.max_packet_size',
        'expected an integer from 16 to 268435460, got 8',
      ],
      ['mqtt:\n  receive_maximum: 0\n', 'mqtt.receive_maximum', 'expected an integer from 1 to 65535, got 0'],
      ['mqtt:\n  max_queued_messages: -1\n', 'mqtt.max_queued_messages', 'expected an integer >= 0, got -1'],
      [
        'mqtt:\n  connect_timeout: 3601\n',
        'mqtt.connect_timeout',
        'expected an integer from 1 to 3600, got 3601',
      ],
      [
        'mqtt:\n  max_session_expiry: 4294967296\n',
        'mqtt.max_session_expiry',
        'expected an integer from 0 to 4294967295, got 4294967296',
      ],
      ['mqtt:\n  maximum_qos: 3\n', 'mqtt.maximum_qos', 'expected one of 0, 1, 2, got 3'],
    ];
    for (const [text, path, expectation] of cases) {
      const err = parseError(text);
      assert.equal(err.path, path);
      assert.equal(err.line, 2);
      assertMentions(err, `petrel.yaml:2: ${path}: ${expectation}`);
    }
    const err = parseError('listeners:\n  - type: tcp\n  - type: tcp\n    port: 70000\n');
    assert.equal(
      err.message,
      'config error in petrel.yaml:4: listeners[1].port: expected an integer from 0 to 65535, got 70000',
    );
  });

  test('config - errors: bad log.level lists the allowed values', () => {
    const err = parseError('\nlog:\n  level: verbose\n');
    assert.equal(err.path, 'log.level');
    assert.equal(err.line, 3);
    assertMentions(
      err,
      'petrel.yaml:3: log.level: expected one of "trace", "debug", "info", "warn", "error", "fatal", "silent", got "verbose"',
    );
    assertMentions(parseError('log:\n  level: DEBUG\n'), '(did you mean "debug"?)');
    assertMentions(
      parseError('mqtt:\n  queue_drop_policy: oldest\n'),
      'expected one of "drop_oldest", "drop_newest"',
    );
  });

  test('config - errors: bad or missing listener type', () => {
    const err = parseError('listeners:\n  - type: tcp\n  - type: quic\n    port: 1\n');
    assert.equal(err.path, 'listeners[1].type');
    assert.equal(err.line, 3);
    assert.equal(
      err.message,
      'config error in petrel.yaml:3: listeners[1].type: expected one of "tcp", "tls", "ws", "wss", got "quic"',
    );
    const missing = parseError('listeners:\n  - port: 1884\n');
    assert.equal(missing.path, 'listeners[0].type');
    assert.equal(missing.line, 2);
    assertMentions(missing, 'required key missing (one of "tcp", "tls", "ws", "wss")');
    assertMentions(
      parseError('storage:\n  type: redis\n'),
      'petrel.yaml:2: storage.type: expected one of "embedded", "memory", got "redis"',
    );
  });

  test('config - errors: YAML syntax error names file and line', () => {
    const err = parseError('log:\n  level: info\nmqtt:\n  max_inflight: [1, 2\n');
    assert.equal(err.file, 'petrel.yaml');
    assert.equal(err.path, '');
    assert.ok(err.line !== undefined && err.line >= 4, `line ${err.line}`);
    assert.match(err.message, /^config error in petrel\.yaml:\d+: YAML syntax error: /);
    const bad = parseError('mqtt:\n  max_inflight: 1\n bad: x\n');
    assert.equal(bad.line, 3);
    assertMentions(bad, 'petrel.yaml:3: YAML syntax error');
  });

  test('config - errors: duplicate keys are a syntax error', () => {
    const err = parseError('mqtt:\n  max_inflight: 1\n  max_inflight: 2\n');
    assert.equal(err.line, 3);
    assertMentions(err, 'petrel.yaml:3', 'YAML syntax error');
  });

  test('config - errors: several problems are reported together, one per line, in file order', () => {
    const err = parseError('mqtt:\n  max_inflght: 1\n  receive_maximum: 0\nlog:\n  level: loud\n');
    assert.deepEqual(
      err.problems.map((p) => [p.path, p.line]),
      [
        ['mqtt.max_inflght', 2],
        ['mqtt.receive_maximum', 3],
        ['log.level', 5],
      ],
    );
    const lines = err.message.split('\n');
    assert.equal(lines.length, 3);
    for (const line of lines) assert.match(line, /^config error in petrel\.yaml:\d+: [a-z_.]+: /);
    assert.equal(err.path, 'mqtt.max_inflght');
  });

  test('config - errors: without a file name the line is still given', () => {
    assert.throws(
      () => parseConfig('mqtt:\n  max_inflight: 0\n'),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.file === undefined &&
        err.message ===
          'config error at line 2: mqtt.max_inflight: expected an integer from 1 to 65535, got 0',
    );
  });

  test('config - errors: ConfigError has a stable code', () => {
    const err = parseError('x: 1\n');
    assert.equal(err.code, 'ERR_PETREL_CONFIG');
    assert.equal(err.name, 'ConfigError');
    assert.ok(err instanceof Error);
  });
});

describe('config - loadConfig', () => {
  test('config - loadConfig: no file gives the defaults', () => {
    assert.deepEqual(loadConfig({}), defaultConfig());
  });

  test('config - loadConfig: reads a file', () => {
    const file = writeTemp('ok.yaml', 'log:\n  level: warn\nmqtt:\n  max_inflight: 7\n');
    const c = loadConfig({ file });
    assert.equal(c.log.level, 'warn');
    assert.equal(c.mqtt.max_inflight, 7);
  });

  test('config - loadConfig: errors name the file path', () => {
    const file = writeTemp('bad.yaml', '# comment\nmqtt:\n  max_inflght: 7\n');
    assert.throws(
      () => loadConfig({ file }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.file === file &&
        err.message ===
          `config error in ${file}:3: mqtt.max_inflght: unknown key (did you mean "max_inflight"?)`,
    );
  });

  test('config - loadConfig: a missing file is a ConfigError naming the file', () => {
    const file = join(dir, 'does-not-exist.yaml');
    assert.throws(
      () => loadConfig({ file }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.file === file &&
        err.message.includes(file) &&
        /no such file/.test(err.message),
    );
  });

  test('config - loadConfig: a directory is a ConfigError naming it', () => {
    assert.throws(
      () => loadConfig({ file: dir }),
      (err: unknown) => err instanceof ConfigError && err.file === dir && err.message.includes(dir),
    );
  });

  test('config - loadConfig: an unreadable file is a ConfigError', {
    skip: process.getuid?.() === 0 ? 'root reads any file, so chmod 000 cannot make it unreadable' : false,
  }, () => {
    const file = writeTemp('secret.yaml', 'log:\n  level: info\n');
    chmodSync(file, 0o000);
    assert.throws(
      () => loadConfig({ file }),
      (err: unknown) => err instanceof ConfigError && err.message.includes('permission denied'),
    );
  });
});

describe('config - overrides', () => {
  test('config - overrides: host and port replace the first tcp listener', () => {
    const file = writeTemp(
      'listeners.yaml',
      'listeners:\n  - { type: tcp, host: 10.0.0.1, port: 1000 }\n  - { type: tcp, host: 10.0.0.2, port: 2000 }\n',
    );
    const c = loadConfig({ file, overrides: { host: '0.0.0.0', port: 1884 } });
    assert.deepEqual(c.listeners, [
      { type: 'tcp', host: '0.0.0.0', port: 1884, max_connections: 0, proxy_protocol: false },
      { type: 'tcp', host: '10.0.0.2', port: 2000, max_connections: 0, proxy_protocol: false },
    ]);
  });

  test('config - overrides: port alone keeps the host; applies to defaults without a file', () => {
    const c = loadConfig({ overrides: { port: 0, wsPort: 0 } });
    assert.deepEqual(c.listeners, [
      { type: 'tcp', host: '127.0.0.1', port: 0, max_connections: 0, proxy_protocol: false },
      { type: 'ws', host: '127.0.0.1', port: 0, path: '/mqtt', max_connections: 0, proxy_protocol: false },
    ]);
  });

  test('config - overrides: a tcp listener is added when there is none', () => {
    const file = writeTemp('none.yaml', 'listeners: []\n');
    assert.deepEqual(loadConfig({ file, overrides: { port: 1885 } }).listeners, [
      { type: 'tcp', host: '127.0.0.1', port: 1885, max_connections: 0, proxy_protocol: false },
    ]);
    assert.deepEqual(loadConfig({ file, overrides: { host: '::' } }).listeners, [
      { type: 'tcp', host: '::', port: 1883, max_connections: 0, proxy_protocol: false },
    ]);
    assert.deepEqual(loadConfig({ file }).listeners, []);
  });

  test('config - overrides: log level', () => {
    assert.equal(loadConfig({ overrides: { logLevel: 'trace' } }).log.level, 'trace');
  });

  test('config - overrides: values are validated', () => {
    const cases: [() => unknown, string, string][] = [
      [
        () => loadConfig({ overrides: { port: 70000 } }),
        'listeners[0].port',
        'expected an integer from 0 to 65535, got 70000',
      ],
      [
        () => loadConfig({ overrides: { port: Number.NaN } }),
        'listeners[0].port',
        'expected an integer from 0 to 65535, got NaN',
      ],
      [() => loadConfig({ overrides: { host: '' } }), 'listeners[0].host', 'expected a non-empty string'],
      [() => loadConfig({ overrides: { logLevel: 'loud' } }), 'log.level', 'expected one of "trace"'],
    ];
    for (const [fn, path, expectation] of cases) {
      assert.throws(fn, (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.path, path);
        assertMentions(err, 'command-line option --', `${path}: ${expectation}`);
        return true;
      });
    }
  });
});

describe('config - shared subscription strategies', () => {
  test('config - a bad group strategy names the group key and lists the strategies', () => {
    const err = parseError(
      'mqtt:\n  shared_subscription_groups:\n    workers: round_robbin\n',
      'petrel.yaml',
    );
    assert.ok(err.message.includes('petrel.yaml:3'), err.message);
    assert.ok(err.message.includes('mqtt.shared_subscription_groups.workers'), err.message);
    assert.ok(err.message.includes('did you mean "round_robin"'), err.message);
  });
});

describe('config - storage', () => {
  test('config - storage: embedded with its keys, and precise errors', () => {
    const c = parseConfig(
      'storage:\n  type: embedded\n  dir: /var/lib/petrel\n  durability: batched\n  batch_ms: 20\n  memory_queue: 50\n',
    );
    assert.deepEqual(c.storage, {
      type: 'embedded',
      dir: '/var/lib/petrel',
      durability: 'batched',
      batch_ms: 20,
      memory_queue: 50,
    });
    assertMentions(
      parseError('storage:\n  type: embedded\n  memory_queue: 0\n'),
      'petrel.yaml:3',
      'storage.memory_queue',
    );
    assertMentions(
      parseError('storage:\n  type: embedded\n  durability: fast\n'),
      'petrel.yaml:3',
      'storage.durability',
      '"sync", "batched", "none"',
    );
    assertMentions(parseError('storage:\n  type: memory\n  dir: x\n'), 'storage.dir', 'unknown key');
  });
});
