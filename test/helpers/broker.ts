import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { Decoder, encode, type Packet, type ProtocolVersion } from '../../src/codec/index.js';
import { defaultConfig, type PetrelConfig } from '../../src/config/index.js';
import type { Clock } from '../../src/core/clock.js';
import { createLogger } from '../../src/server/logger.js';
import { PetrelServer } from '../../src/server/server.js';

export type ConfigPatch = { mqtt?: Partial<PetrelConfig['mqtt']> } & Omit<Partial<PetrelConfig>, 'mqtt'>;

/**
 * Starts a broker on 127.0.0.1 port 0 and checks it bound. `await using b = await startBroker()`. `clock` (e.g. a
 * FakeClock) replaces the wall clock for the broker's times and timers: expiry tests advance it instead of sleeping.
 */
export async function startBroker(
  patch: ConfigPatch = {},
  opts: { clock?: Clock } = {},
): Promise<TestBroker> {
  const base = defaultConfig();
  const config: PetrelConfig = {
    ...base,
    ...patch,
    listeners: patch.listeners ?? [
      { type: 'tcp', host: '127.0.0.1', port: 0, max_connections: 0, proxy_protocol: false },
    ],
    mqtt: { ...base.mqtt, ...patch.mqtt },
    // Tests run in memory unless they ask for a store.
    storage: patch.storage ?? { type: 'memory' },
    // The HTTP (metrics) listener is off unless a test asks for it (then on port 0).
    http: patch.http ?? null,
    // No $SYS tree unless a test asks for it (its retained topics would show up in '$SYS/#' and counts).
    sys_interval: patch.sys_interval ?? 0,
  };
  const server = new PetrelServer(config, {
    logger: createLogger(process.env.PETREL_TEST_LOG ?? 'silent'),
    clock: opts.clock,
  });
  const addrs = await server.listen();
  const port = addrs[0]?.port ?? 0;
  if (!(port > 0)) throw new Error(`broker did not bind a port: ${JSON.stringify(addrs)}`);
  return new TestBroker(server, port);
}

export class TestBroker {
  readonly clients: MqttClient[] = [];
  readonly raws: RawClient[] = [];
  constructor(
    readonly server: PetrelServer,
    readonly port: number,
  ) {}

  get broker() {
    return this.server.broker;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** An mqtt.js client, connected (rejects on connection error). */
  async client(opts: IClientOptions = {}): Promise<MqttClient> {
    const c = mqtt.connect(this.url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    this.clients.push(c);
    await new Promise<void>((resolve, reject) => {
      c.once('connect', () => resolve());
      c.once('error', reject);
      c.once('close', () => reject(new Error('closed before CONNACK')));
    });
    return c;
  }

  /** A raw packet client speaking `version` (encodes with our codec; asserts exact packets). */
  async raw(version: ProtocolVersion = 4): Promise<RawClient> {
    const r = await RawClient.connect(this.port, version);
    this.raws.push(r);
    return r;
  }

  /** A raw packet client over TLS (a `tls` listener at `port`; `opts` carries ca, cert, key, …). */
  async rawTls(version: ProtocolVersion, opts: ConnectionOptions, port = this.port): Promise<RawClient> {
    const r = await RawClient.connectTls(port, version, opts);
    this.raws.push(r);
    return r;
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.end(true);
    for (const r of this.raws) r.destroy();
    await this.server.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** A TCP client that sends packets (or bytes) and waits for whole packets, with timeouts. */
export class RawClient {
  readonly socket: Socket;
  readonly decoder: Decoder;
  private readonly inbox: Packet[] = [];
  private waiter: (() => void) | undefined;
  closed = false;
  version: ProtocolVersion;

  private constructor(socket: Socket, version: ProtocolVersion) {
    this.socket = socket;
    this.version = version;
    this.decoder = new Decoder({ protocolVersion: version });
    socket.on('data', (chunk: Buffer) => {
      const err = this.decoder.feed(chunk, this.inbox);
      if (err) this.inbox.push({ type: 0, error: err } as unknown as Packet);
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => {});
  }

  static async connect(port: number, version: ProtocolVersion): Promise<RawClient> {
    const s = connect({ host: '127.0.0.1', port });
    await once(s, 'connect');
    return new RawClient(s, version);
  }

  /** Connects over TLS; rejects when the handshake fails. */
  static async connectTls(
    port: number,
    version: ProtocolVersion,
    opts: ConnectionOptions,
  ): Promise<RawClient> {
    const s = tlsConnect({ host: '127.0.0.1', port, ...opts });
    await once(s, 'secureConnect');
    return new RawClient(s, version);
  }

  send(p: Packet): void {
    this.socket.write(encode(p, this.version));
  }

  write(bytes: Buffer | string): void {
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes.replace(/\s+/g, ''), 'hex') : bytes);
  }

  /** The next packet; rejects after `ms` or when the connection closes first. */
  async next(ms = 2000): Promise<Packet> {
    const deadline = Date.now() + ms;
    for (;;) {
      const p = this.inbox.shift();
      if (p !== undefined) return p;
      if (this.closed) throw new Error('connection closed while waiting for a packet');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no packet within ${ms} ms`);
      await this.wake(left);
    }
  }

  /** Resolves true when the server closes the connection within `ms`, false otherwise. */
  async waitClosed(ms = 2000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await this.wake(left);
    }
    return true;
  }

  /** Resolves when data arrives or the connection closes, or after `ms`, whichever comes first. */
  private wake(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.waiter = () => {
        clearTimeout(t);
        this.waiter = undefined;
        resolve();
      };
    });
  }

  /** Packets received so far and not yet taken. */
  pending(): Packet[] {
    return this.inbox.splice(0);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Resolves with the first `n` messages an mqtt.js client receives (rejects after `ms`). */
export function collect(
  c: MqttClient,
  n: number,
  ms = 3000,
): Promise<{ topic: string; payload: Buffer; packet: mqtt.IPublishPacket }[]> {
  const got: { topic: string; payload: Buffer; packet: mqtt.IPublishPacket }[] = [];
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      c.off('message', on);
      reject(
        new Error(
          `received ${got.length} of ${n} messages within ${ms} ms: ${JSON.stringify(got.map((g) => g.topic))}`,
        ),
      );
    }, ms);
    const on = (topic: string, payload: Buffer, packet: mqtt.IPublishPacket): void => {
      got.push({ topic, payload, packet });
      if (got.length === n) {
        clearTimeout(t);
        c.off('message', on);
        resolve(got);
      }
    };
    c.on('message', on);
  });
}

/** Collects messages for `ms` and returns them (to assert that nothing, or exactly N, arrived). */
export async function collectFor(
  c: MqttClient,
  ms: number,
): Promise<{ topic: string; payload: Buffer; packet: mqtt.IPublishPacket }[]> {
  const got: { topic: string; payload: Buffer; packet: mqtt.IPublishPacket }[] = [];
  const on = (topic: string, payload: Buffer, packet: mqtt.IPublishPacket): void => {
    got.push({ topic, payload, packet });
  };
  c.on('message', on);
  await new Promise((r) => setTimeout(r, ms));
  c.off('message', on);
  return got;
}

/** CONNECT packet with defaults. */
export function connectPacket(
  version: ProtocolVersion,
  over: Partial<Extract<Packet, { type: 1 }>> = {},
): Packet {
  return {
    type: 1,
    protocolName: version === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion: version,
    clean: true,
    keepAlive: 60,
    clientId: 'raw-client',
    ...over,
  } as Packet;
}
