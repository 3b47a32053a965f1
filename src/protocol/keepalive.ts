import type { Broker } from '../broker/broker.js';
import type { Clock } from '../core/clock.js';

/** What the sweeper needs from a connection. */
export interface KeepAliveClient {
  /** Keep Alive in seconds (> 0). */
  readonly keepAlive: number;
  /** Clock time of the last packet received. */
  readonly lastActivity: number;
  /** Called once when 1.5 × Keep Alive passed without a packet; the client is no longer watched. */
  keepAliveExpired(idleMs: number): void;
}

const PERIOD_MS = 1000;

/**
 * Keep-alive supervision for all of a broker's connections with one timer instead of one per connection: a
 * sweep every second (more often when a Keep Alive is so short that a second is a large part of it) closes
 * those silent for 1.5 × their Keep Alive [MQTT-3.1.2-24]. The timer runs only while someone is watched.
 */
export class KeepAliveSweeper {
  private readonly clients = new Set<KeepAliveClient>();
  private readonly clock: Clock;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private period = PERIOD_MS;

  constructor(clock: Clock) {
    this.clock = clock;
  }

  get size(): number {
    return this.clients.size;
  }

  watch(c: KeepAliveClient): void {
    this.clients.add(c);
    // Close at most a quarter of the limit late.
    const quarter = Math.max(50, Math.floor((c.keepAlive * 1500) / 4));
    if (quarter < this.period) {
      this.period = quarter;
      if (this.timer !== undefined) {
        this.clock.clearTimeout(this.timer);
        this.timer = undefined;
      }
    }
    this.timer ??= this.clock.setTimeout(this.sweep, this.period);
  }

  unwatch(c: KeepAliveClient): void {
    if (!this.clients.delete(c) || this.clients.size > 0) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.period = PERIOD_MS;
  }

  private readonly sweep = (): void => {
    this.timer = undefined;
    const now = this.clock.now();
    for (const c of this.clients) {
      const idle = now - c.lastActivity;
      if (idle >= c.keepAlive * 1500) {
        this.clients.delete(c);
        c.keepAliveExpired(idle);
      }
    }
    if (this.clients.size > 0) this.timer = this.clock.setTimeout(this.sweep, this.period);
    else this.period = PERIOD_MS;
  };
}

const sweepers = new WeakMap<Broker, KeepAliveSweeper>();

/** The broker's sweeper (one per broker, made on first use). */
export function keepAliveSweeper(broker: Broker): KeepAliveSweeper {
  let s = sweepers.get(broker);
  if (s === undefined) sweepers.set(broker, (s = new KeepAliveSweeper(broker.clock)));
  return s;
}
