import type { AddressInfo } from 'node:net';
import { type FastifyInstance, fastify } from 'fastify';
import type { Broker } from '../broker/broker.js';
import { BrokerMetrics } from './metrics.js';

export interface HttpAddress {
  host: string;
  port: number;
}

/**
 * The HTTP listener: `GET /metrics` (Prometheus text format) and `GET /healthz` (200 while the broker runs,
 * 503 once it is shutting down, for load balancers). Fastify, no logging of its own.
 */
export class MetricsHttpServer {
  readonly metrics: BrokerMetrics;
  private readonly app: FastifyInstance;
  private readonly broker: Broker;
  private listening = false;

  constructor(broker: Broker) {
    this.broker = broker;
    this.metrics = new BrokerMetrics(broker);
    const app = fastify({ logger: false });
    app.get('/metrics', async (_req, reply) => {
      const body = await this.metrics.text();
      return reply.type(this.metrics.contentType).send(body);
    });
    app.get('/healthz', async (_req, reply) => {
      const ok = !this.broker.isClosed;
      return reply
        .code(ok ? 200 : 503)
        .send({ status: ok ? 'ok' : 'shutting_down', connections: this.broker.clients.size });
    });
    this.app = app;
  }

  async listen(host: string, port: number): Promise<HttpAddress> {
    await this.app.listen({ host, port });
    this.listening = true;
    this.metrics.start();
    return this.address()!;
  }

  /** The bound address (the real port when the config said 0), or undefined before `listen`. */
  address(): HttpAddress | undefined {
    if (!this.listening) return undefined;
    const a = this.app.server.address() as AddressInfo | string | null;
    if (a === null || typeof a === 'string') return undefined;
    return { host: a.address, port: a.port };
  }

  async close(): Promise<void> {
    this.metrics.stop();
    this.listening = false;
    await this.app.close();
  }
}
