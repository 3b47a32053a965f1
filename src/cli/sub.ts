// `petrel sub`: subscribe and print messages, like mosquitto_sub (plus --json lines).
import { ClientError, MqttClient, reasonText } from '../client/index.js';
import { isValidUtf8, type Properties, type PublishPacket, type Subscription } from '../codec/index.js';
import { matchesTopic } from '../topic/index.js';
import { CONNECTION_HELP, parseClientArgs, reportError, UsageError } from './client-args.js';

export const SUB_USAGE = `Usage: petrel sub -t FILTER [-t FILTER …] [options]

Subscription and output:
  -t, --topic FILTER      topic filter to subscribe to (repeatable; or the path of an -L mqtt:// URL)
  -T, --filter-out FILTER do not print messages whose topic matches FILTER (repeatable)
  -q, --qos 0|1|2         maximum QoS to subscribe with (default 0)
  -C, --count N           exit after N messages
  -W, --timeout SECS      exit after SECS seconds (status 27 when -C was not reached)
  -R, --no-retained       do not print retained messages (those sent on subscribing)
  --retained-only         print retained messages only; exit at the first non-retained one
  -E, --exit-after-sub    exit once the subscription is acknowledged
  -U, --unsubscribe FILTER   unsubscribe from FILTER (with -c: a stored session) and exit
  -v, --verbose           print "topic payload"
  -N                      no newline after each payload
  -F, --format FORMAT     mosquitto_sub format: %t topic %p payload %q qos %r retain %m packet id
                          %l length %x hex payload %I ISO time %U unix time %j JSON %% \\n \\t
  --json                  one JSON object per line: topic, payload (text, or base64 with
                          "encoding":"base64"), qos, retain, properties (MQTT 5)

${CONNECTION_HELP}
Exit status: 0 after -C messages, -E, or SIGINT/SIGTERM; 1 when the connection failed, was refused or was
lost, or every subscription was refused (reason codes are shown by name); 2 for a usage error; 27 on -W.
`;

const SUB_OPTIONS = {
  'filter-out': { type: 'string', short: 'T', multiple: true },
  count: { type: 'string', short: 'C' },
  'no-retained': { type: 'boolean', short: 'R' },
  'retained-only': { type: 'boolean' },
  'exit-after-sub': { type: 'boolean', short: 'E' },
  unsubscribe: { type: 'string', short: 'U', multiple: true },
  verbose: { type: 'boolean', short: 'v' },
  'no-newline': { type: 'boolean', short: 'N' },
  format: { type: 'string', short: 'F' },
  json: { type: 'boolean' },
} as const;

function jsonProperties(p: Properties): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) out[k] = Buffer.isBuffer(v) ? v.toString('base64') : v;
  return out;
}

/** The --json line for a message. */
export function toJson(p: PublishPacket): string {
  const text = isValidUtf8(p.payload);
  const o: Record<string, unknown> = {
    topic: p.topic,
    payload: text ? p.payload.toString('utf8') : p.payload.toString('base64'),
  };
  if (!text) o.encoding = 'base64';
  o.qos = p.qos;
  o.retain = p.retain;
  if (p.properties !== undefined) o.properties = jsonProperties(p.properties);
  return JSON.stringify(o);
}

/** mosquitto_sub's -F format (the common subset). */
export function format(fmt: string, p: PublishPacket): string {
  return fmt.replace(/%([%tpqrmlxIUj])|\\([nt\\])/g, (_m, f: string | undefined, esc: string | undefined) => {
    if (esc !== undefined) return esc === 'n' ? '\n' : esc === 't' ? '\t' : '\\';
    switch (f) {
      case '%':
        return '%';
      case 't':
        return p.topic;
      case 'p':
        return p.payload.toString('utf8');
      case 'q':
        return String(p.qos);
      case 'r':
        return p.retain ? '1' : '0';
      case 'm':
        return String(p.packetId ?? 0);
      case 'l':
        return String(p.payload.length);
      case 'x':
        return p.payload.toString('hex');
      case 'I':
        return new Date().toISOString();
      case 'U':
        return (Date.now() / 1000).toFixed(9);
      default:
        return toJson(p);
    }
  });
}

export async function sub(argv: string[]): Promise<void> {
  let client: MqttClient | undefined;
  try {
    const a = parseClientArgs('sub', argv, SUB_OPTIONS);
    const v = a.values;
    if (v.help) {
      process.stdout.write(SUB_USAGE);
      return;
    }
    const unsub = (v.unsubscribe as string[] | undefined) ?? [];
    if (a.topics.length === 0 && unsub.length === 0) throw new UsageError('a topic filter (-t) is required');
    const count = v.count !== undefined ? Number(v.count) : undefined;
    if (count !== undefined && !(Number.isInteger(count) && count > 0)) {
      throw new UsageError(`-C expects a positive integer, got "${v.count}"`);
    }
    const outputs = ['json', 'format', 'verbose'].filter((k) => v[k] !== undefined);
    if (outputs.length > 1) throw new UsageError('give only one of --json, -F, -v');
    const filterOut = (v['filter-out'] as string[] | undefined) ?? [];
    const newline = v['no-newline'] ? '' : '\n';
    const render = v.json
      ? (p: PublishPacket) => `${toJson(p)}\n`
      : v.format !== undefined
        ? (p: PublishPacket) => `${format(v.format as string, p)}${newline}`
        : v.verbose
          ? (p: PublishPacket) => `${p.topic} ${p.payload.toString('utf8')}${newline}`
          : (p: PublishPacket) => `${p.payload.toString('utf8')}${newline}`;

    const deadline = a.timeout !== undefined ? Date.now() + a.timeout * 1000 : undefined;
    client = await MqttClient.connect(a.connect);
    const c = client;
    const debug = (msg: string): void => {
      if (v.debug) process.stderr.write(`petrel sub: ${msg}\n`);
    };
    debug(`connected as "${a.connect.clientId}" (session present: ${c.connack.sessionPresent})`);
    let printed = 0;
    let finished = false;
    const done = new Promise<number>((resolve) => {
      const finish = (code: number): void => {
        if (finished) return;
        finished = true;
        resolve(code);
      };
      c.onMessage = (p) => {
        if (finished) return;
        if (v['retained-only'] && !p.retain) return finish(0);
        if (v['no-retained'] && p.retain) return;
        if (filterOut.some((f) => matchesTopic(f, p.topic))) return;
        process.stdout.write(render(p));
        printed++;
        if (count !== undefined && printed >= count) finish(0);
      };
      c.onClose = (err) => {
        if (err && !finished) {
          process.stderr.write(`petrel sub: ${err.message}\n`);
          finish(1);
        }
      };
      if (deadline !== undefined) {
        setTimeout(() => {
          if (!finished) process.stderr.write(`petrel sub: timed out after ${a.timeout} s\n`);
          finish(27);
        }, deadline - Date.now()).unref();
      }
      const stop = (): void => finish(0);
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });

    if (unsub.length > 0) {
      const rcs = await c.unsubscribe(unsub, a.props.unsubscribe);
      rcs.forEach((rc, i) => {
        if (rc >= 0x80)
          process.stderr.write(`petrel sub: unsubscribe from "${unsub[i]}" refused: ${reasonText(rc)}\n`);
      });
      if (a.topics.length === 0) {
        await c.disconnect(0, a.props.disconnect);
        return;
      }
    }
    const subs: Subscription[] = a.topics.map((topicFilter) => ({
      topicFilter,
      qos: a.qos,
      noLocal: false,
      retainAsPublished: false,
      retainHandling: 0,
    }));
    const rcs = await c.subscribe(subs, a.props.subscribe);
    let refused = 0;
    rcs.forEach((rc, i) => {
      if (rc >= 0x80) {
        refused++;
        process.stderr.write(`petrel sub: subscription to "${a.topics[i]}" refused: ${reasonText(rc)}\n`);
      }
    });
    if (refused === rcs.length) throw new ClientError('every subscription was refused');
    debug(`subscribed: ${a.topics.map((t, i) => `${t} (${reasonText(rcs[i]!)})`).join(', ')}`);
    if (v['exit-after-sub']) {
      await c.disconnect(0, a.props.disconnect);
      return;
    }
    const code = await done;
    await c.disconnect(0, a.props.disconnect);
    process.exitCode = code;
  } catch (e) {
    client?.destroy();
    reportError('sub', e);
  }
}
