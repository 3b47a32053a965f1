// `petrel pub`: publish one message (or each line of stdin), like mosquitto_pub.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { ClientError, MqttClient, reasonText } from '../client/index.js';
import { CONNECTION_HELP, parseClientArgs, reportError, UsageError } from './client-args.js';

export const PUB_USAGE = `Usage: petrel pub -t TOPIC (-m MSG | -f FILE | -s | -l | -n) [options]

Message:
  -t, --topic TOPIC       topic to publish to (or the path of an -L mqtt:// URL)
  -m, --message MSG       the payload
  -f, --file FILE         the payload is the file's content
  -s, --stdin-file        the payload is all of stdin
  -l, --stdin-line        publish each non-empty line of stdin as a message
  -n, --null-message      a zero-length payload
  -q, --qos 0|1|2         QoS (default 0)
  -r, --retain            set the RETAIN flag
  --repeat N              publish the message N times (default 1)
  --repeat-delay SECS     wait between repeats (default 0)

${CONNECTION_HELP}
Exit status: 0 when every message was published (and acknowledged for QoS 1/2); 1 when the connection
failed, was refused, or the broker refused a message (the reason code is shown by name); 2 for a usage error.
`;

const PUB_OPTIONS = {
  message: { type: 'string', short: 'm' },
  file: { type: 'string', short: 'f' },
  'stdin-file': { type: 'boolean', short: 's' },
  'stdin-line': { type: 'boolean', short: 'l' },
  'null-message': { type: 'boolean', short: 'n' },
  retain: { type: 'boolean', short: 'r' },
  repeat: { type: 'string' },
  'repeat-delay': { type: 'string' },
} as const;

export async function pub(argv: string[]): Promise<void> {
  let client: MqttClient | undefined;
  try {
    const a = parseClientArgs('pub', argv, PUB_OPTIONS);
    const v = a.values;
    if (v.help) {
      process.stdout.write(PUB_USAGE);
      return;
    }
    if (a.topics.length !== 1)
      throw new UsageError(a.topics.length === 0 ? 'a topic (-t) is required' : 'give one topic (-t)');
    const topic = a.topics[0]!;
    const sources = ['message', 'file', 'stdin-file', 'stdin-line', 'null-message'].filter(
      (k) => v[k] !== undefined,
    );
    if (sources.length !== 1) {
      throw new UsageError(
        sources.length === 0
          ? 'give the message with one of -m, -f, -s, -l or -n'
          : `give only one of -m, -f, -s, -l, -n (got ${sources.map((k) => `--${k}`).join(', ')})`,
      );
    }
    const repeat = v.repeat !== undefined ? Number(v.repeat) : 1;
    if (!Number.isInteger(repeat) || repeat < 1)
      throw new UsageError(`--repeat expects a positive integer, got "${v.repeat}"`);
    const delay = v['repeat-delay'] !== undefined ? Number(v['repeat-delay']) : 0;
    if (!(delay >= 0)) throw new UsageError(`--repeat-delay expects seconds, got "${v['repeat-delay']}"`);
    let payload: Buffer | undefined;
    if (v.message !== undefined) payload = Buffer.from(v.message as string);
    else if (v['null-message']) payload = Buffer.alloc(0);
    else if (v.file !== undefined) {
      try {
        payload = readFileSync(v.file as string);
      } catch (e) {
        throw new UsageError(`-f: cannot read "${v.file}": ${(e as Error).message}`);
      }
    } else if (v['stdin-file']) payload = await readStdin();

    client = await MqttClient.connect(a.connect);
    if (v.debug) process.stderr.write(`petrel pub: connected as "${a.connect.clientId}"\n`);
    let lost: ClientError | undefined;
    client.onClose = (err) => {
      lost = err;
    };
    const opts = { qos: a.qos, retain: v.retain === true, properties: a.props.publish };
    const send = async (body: Buffer): Promise<void> => {
      if (lost) throw lost;
      const rc = await client!.publish(topic, body, opts);
      if (rc >= 0x80)
        throw new ClientError(`the broker refused the message on "${topic}": ${reasonText(rc)}`, rc);
    };
    if (payload !== undefined) {
      for (let i = 0; i < repeat; i++) {
        if (i > 0 && delay > 0) await new Promise((r) => setTimeout(r, delay * 1000));
        await send(payload);
      }
    } else {
      // -l: one message per non-empty line; QoS 0 lines are written in order, acks are awaited at the end.
      const waits: Promise<void>[] = [];
      for await (const line of createInterface({
        input: process.stdin,
        crlfDelay: Number.POSITIVE_INFINITY,
      })) {
        if (line.length > 0) waits.push(send(Buffer.from(line)));
        if (waits.length >= 1000) await Promise.all(waits.splice(0));
      }
      await Promise.all(waits);
    }
    if (lost) throw lost;
    await client.disconnect(0, a.props.disconnect);
  } catch (e) {
    client?.destroy();
    reportError('pub', e);
  }
}

async function readStdin(): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of process.stdin) parts.push(c as Buffer);
  return Buffer.concat(parts);
}
