// Flags shared by `petrel pub` and `petrel sub`, spelled as mosquitto_pub / mosquitto_sub spell them.
import { readFileSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ClientError, type ConnectOptions, parseBrokerUrl, type Scheme } from '../client/index.js';
import {
  PacketType,
  PROPERTY_TABLE,
  type Properties,
  type PropertyDef,
  type ProtocolVersion,
  type QoS,
  WILL_PROPERTIES,
} from '../codec/index.js';

/** A usage error: printed with the command's name, exit status 2. */
export class UsageError extends Error {}

export const CONNECTION_HELP = `Connection:
  -h, --host HOST         broker host (default localhost)
  -p, --port PORT         broker port (default 1883; 8883 with TLS)
  -L, --url URL           mqtt[s]://[user[:pass]@]host[:port]/topic or ws[s]://host[:port]/path
  -V, --protocol-version  31 | 311 | 5 (also mqttv31, mqttv311, mqttv5; default 311)
  -i, --id ID             client id (default petrel-<command>-<pid>)
  -k, --keepalive SECS    keep alive (default 60; 0 = off)
  -u, --username USER     -P, --pw PASSWORD
  -c, --disable-clean-session   keep the session (needs -i)
  -x, --session-expiry-interval SECS   MQTT 5 (default 0; -1 = never; with -c: never)
  --will-topic T --will-payload P --will-qos Q --will-retain
  -D, --property CMD NAME VALUE  MQTT 5 property; CMD is connect | publish | subscribe | unsubscribe |
                          disconnect | will; NAME as in mosquitto (user-property takes NAME VALUE)
  --cafile FILE --cert FILE --key FILE --insecure   TLS (mqtts:// or wss://, or --tls)
  --tls                   use TLS with -h/-p
  --ws, --ws-path PATH    use WebSocket with -h/-p (path default /mqtt)
  -W, --timeout SECS      give up after SECS (connection or, for sub, the whole run; exit status 27)
  -d, --debug             print connection and subscription steps on stderr
  --help                  this text
`;

const CONNECTION_OPTIONS = {
  host: { type: 'string', short: 'h' },
  port: { type: 'string', short: 'p' },
  url: { type: 'string', short: 'L' },
  'protocol-version': { type: 'string', short: 'V' },
  id: { type: 'string', short: 'i' },
  keepalive: { type: 'string', short: 'k' },
  username: { type: 'string', short: 'u' },
  pw: { type: 'string', short: 'P' },
  'disable-clean-session': { type: 'boolean', short: 'c' },
  'session-expiry-interval': { type: 'string', short: 'x' },
  'will-topic': { type: 'string' },
  'will-payload': { type: 'string' },
  'will-qos': { type: 'string' },
  'will-retain': { type: 'boolean' },
  cafile: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  insecure: { type: 'boolean' },
  tls: { type: 'boolean' },
  ws: { type: 'boolean' },
  'ws-path': { type: 'string' },
  timeout: { type: 'string', short: 'W' },
  topic: { type: 'string', short: 't', multiple: true },
  qos: { type: 'string', short: 'q' },
  debug: { type: 'boolean', short: 'd' },
  help: { type: 'boolean' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

/** MQTT 5 properties by their mosquitto names ("session-expiry-interval"), from the codec's table. */
const PROPERTY_BY_NAME = new Map<string, PropertyDef>(
  PROPERTY_TABLE.map((d) => [d.name.toLowerCase().replace(/ /g, '-'), d]),
);
const PROPERTY_TARGET: Record<string, number> = {
  connect: PacketType.Connect,
  publish: PacketType.Publish,
  subscribe: PacketType.Subscribe,
  unsubscribe: PacketType.Unsubscribe,
  disconnect: PacketType.Disconnect,
  will: WILL_PROPERTIES,
};

export interface ClientArgs {
  connect: ConnectOptions;
  topics: string[];
  qos: QoS;
  /** `-D` properties by target: connect, publish, subscribe, unsubscribe, disconnect, will. */
  props: Record<string, Properties>;
  /** Seconds, or undefined. */
  timeout: number | undefined;
  values: Record<string, string | boolean | string[] | undefined>;
}

function int(name: string, text: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`${name} expects an integer from ${min} to ${max}, got "${text}"`);
  }
  return Number(text);
}

function qosOf(name: string, text: string): QoS {
  return int(name, text, 0, 2) as QoS;
}

function versionOf(text: string): ProtocolVersion {
  const v = text.toLowerCase().replace(/^mqttv/, '');
  if (v === '31') return 3;
  if (v === '311') return 4;
  if (v === '5') return 5;
  throw new UsageError(`-V expects 31, 311 or 5 (or mqttv31, mqttv311, mqttv5), got "${text}"`);
}

function readFile(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UsageError(`${flag}: cannot read "${path}": ${(e as Error).message}`);
  }
}

/** Takes `-D CMD NAME VALUE` (and `-D CMD user-property K V`) out of argv before parseArgs sees it. */
function takeProperties(argv: string[]): { rest: string[]; props: Record<string, Properties> } {
  const rest: string[] = [];
  const props: Record<string, Properties> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a !== '-D' && a !== '--property') {
      rest.push(a);
      continue;
    }
    const [cmd, name, value] = [argv[i + 1], argv[i + 2], argv[i + 3]];
    if (cmd === undefined || name === undefined || value === undefined) {
      throw new UsageError(`${a} expects CMD NAME VALUE`);
    }
    const target = PROPERTY_TARGET[cmd.toLowerCase()];
    if (target === undefined) {
      throw new UsageError(
        `${a}: unknown command "${cmd}" (expected ${Object.keys(PROPERTY_TARGET).join(', ')})`,
      );
    }
    const def = PROPERTY_BY_NAME.get(name.toLowerCase());
    if (def === undefined) throw new UsageError(`${a}: unknown property "${name}"`);
    if (!def.packets.has(target)) throw new UsageError(`${a}: ${def.name} is not allowed in ${cmd}`);
    const bag = (props[cmd.toLowerCase()] ??= {}) as Record<string, unknown>;
    i += 3;
    switch (def.wire) {
      case 'pair': {
        const v2 = argv[i + 1];
        if (v2 === undefined) throw new UsageError(`${a} ${cmd} user-property expects NAME VALUE`);
        i++;
        ((bag.userProperties as [string, string][] | undefined) ?? (bag.userProperties = [])).push([
          value,
          v2,
        ]);
        break;
      }
      case 'utf8':
        bag[def.key] = value;
        break;
      case 'binary':
        bag[def.key] = Buffer.from(value);
        break;
      case 'varint':
        bag[def.key] = [int(`${a} ${name}`, value, 1, 268_435_455)];
        break;
      default: {
        const max = def.wire === 'byte' ? 255 : def.wire === 'u16' ? 65535 : 4294967295;
        bag[def.key] = int(`${a} ${name}`, value, 0, max);
      }
    }
  }
  return { rest, props };
}

/**
 * Parses the shared connection flags plus the command's own `extra` options. Throws UsageError for a bad
 * flag or value.
 */
export function parseClientArgs(
  command: 'pub' | 'sub',
  argv: string[],
  extra: NonNullable<ParseArgsConfig['options']>,
): ClientArgs {
  const { rest, props } = takeProperties(argv);
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({ args: rest, options: { ...CONNECTION_OPTIONS, ...extra }, strict: true }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const s = (k: string): string | undefined => values[k] as string | undefined;
  const version = s('protocol-version') !== undefined ? versionOf(s('protocol-version')!) : 4;
  let scheme: Scheme = values.tls ? 'mqtts' : 'mqtt';
  if (values.ws || s('ws-path') !== undefined) scheme = values.tls ? 'wss' : 'ws';
  let host = s('host') ?? 'localhost';
  let port: number | undefined = s('port') !== undefined ? int('-p', s('port')!, 1, 65535) : undefined;
  let path = s('ws-path') ?? '/mqtt';
  let username = s('username');
  let password = s('pw');
  const topics = [...((values.topic as string[] | undefined) ?? [])];
  if (s('url') !== undefined) {
    let u: ReturnType<typeof parseBrokerUrl>;
    try {
      u = parseBrokerUrl(s('url')!);
    } catch (e) {
      throw new UsageError(`-L: ${(e as Error).message}`);
    }
    ({ scheme, host, path } = u);
    port ??= u.port;
    username ??= u.username;
    password ??= u.password;
    if (u.topic !== undefined) topics.push(u.topic);
  }
  port ??= scheme === 'mqtts' ? 8883 : scheme === 'ws' ? 80 : scheme === 'wss' ? 443 : 1883;
  if (password !== undefined && username === undefined) throw new UsageError('-P needs -u');
  const clean = !values['disable-clean-session'];
  if (!clean && s('id') === undefined) throw new UsageError('-c (keep the session) needs a client id (-i)');
  const connect: ConnectOptions = {
    scheme,
    host,
    port,
    path,
    version,
    clientId: s('id') ?? `petrel-${command}-${process.pid}`,
    clean,
    keepAlive: s('keepalive') !== undefined ? int('-k', s('keepalive')!, 0, 65535) : 60,
  };
  if (version === 3 && connect.clientId.length > 23) connect.clientId = connect.clientId.slice(0, 23);
  if (username !== undefined) connect.username = username;
  if (password !== undefined) connect.password = Buffer.from(password);
  const connectProps: Properties = { ...props.connect };
  if (s('session-expiry-interval') !== undefined) {
    if (version !== 5) throw new UsageError('-x (session expiry) needs -V 5');
    const x = s('session-expiry-interval')!;
    connectProps.sessionExpiryInterval = x === '-1' || x === '∞' ? 0xffffffff : int('-x', x, 0, 0xffffffff);
  } else if (version === 5 && !clean) {
    connectProps.sessionExpiryInterval = 0xffffffff;
  }
  if (version === 5 && Object.keys(connectProps).length > 0) connect.properties = connectProps;
  if (version !== 5 && Object.keys(props).length > 0)
    throw new UsageError('-D (MQTT 5 properties) needs -V 5');
  if (s('will-topic') !== undefined) {
    connect.will = {
      topic: s('will-topic')!,
      payload: Buffer.from(s('will-payload') ?? ''),
      qos: s('will-qos') !== undefined ? qosOf('--will-qos', s('will-qos')!) : 0,
      retain: values['will-retain'] === true,
    };
    if (props.will !== undefined) connect.will.properties = props.will;
  } else if (s('will-payload') !== undefined || props.will !== undefined) {
    throw new UsageError('--will-payload, --will-qos, --will-retain and -D will need --will-topic');
  }
  if (scheme === 'mqtts' || scheme === 'wss') {
    connect.tls = { rejectUnauthorized: values.insecure !== true };
    if (s('cafile') !== undefined) connect.tls.ca = readFile('--cafile', s('cafile')!);
    if (s('cert') !== undefined) connect.tls.cert = readFile('--cert', s('cert')!);
    if (s('key') !== undefined) connect.tls.key = readFile('--key', s('key')!);
  } else if (s('cafile') !== undefined || s('cert') !== undefined) {
    // Like mosquitto: giving a CA or certificate turns TLS on.
    connect.scheme = scheme === 'ws' ? 'wss' : 'mqtts';
    if (s('port') === undefined && s('url') === undefined) connect.port = scheme === 'ws' ? 443 : 8883;
    connect.tls = { rejectUnauthorized: values.insecure !== true };
    if (s('cafile') !== undefined) connect.tls.ca = readFile('--cafile', s('cafile')!);
    if (s('cert') !== undefined) connect.tls.cert = readFile('--cert', s('cert')!);
    if (s('key') !== undefined) connect.tls.key = readFile('--key', s('key')!);
  }
  const timeout = s('timeout') !== undefined ? int('-W', s('timeout')!, 1, 3_600_000) : undefined;
  if (timeout !== undefined) connect.timeoutMs = timeout * 1000;
  return {
    connect,
    topics,
    qos: s('qos') !== undefined ? qosOf('-q', s('qos')!) : 0,
    props,
    timeout,
    values,
  };
}

/** Prints `petrel <cmd>: message` and sets the exit status: 2 for usage errors, 1 otherwise. */
export function reportError(command: string, e: unknown): void {
  if (e instanceof UsageError) {
    process.stderr.write(`petrel ${command}: ${e.message}\nRun "petrel ${command} --help" for the flags.\n`);
    process.exitCode = 2;
  } else if (e instanceof ClientError) {
    process.stderr.write(`petrel ${command}: ${e.message}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`petrel ${command}: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  }
}
