/** Token buckets, bans (client id, username, address/CIDR; with expiry) and flapping detection. */
import { ConfigError } from '../config/index.js';
import { AddressRange } from './match.js';

/** A token bucket: `rate` tokens a second, at most `burst`. Time comes from `now()` (ms). */
export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    readonly rate: number,
    readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
  }

  /** Takes `n` tokens if there are enough; returns whether it did. */
  tryTake(n = 1): boolean {
    this.refill();
    if (this.tokens >= n) {
      this.tokens -= n;
      return true;
    }
    return false;
  }

  /** Takes `n` tokens, going into debt; returns how many ms until the balance is back to zero (0 = none). */
  take(n: number): number {
    this.refill();
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.rate) * 1000);
  }
}

export interface BanConfig {
  clientid?: string;
  username?: string;
  ip?: string;
  until?: string;
}

interface Ban {
  clientid?: string;
  username?: string;
  ip?: AddressRange;
  /** ms since the epoch; Infinity = forever. */
  until: number;
}

export interface BanSubject {
  clientId: string;
  username: string | undefined;
  remoteAddress: string;
}

export class Bans {
  private readonly list: Ban[] = [];
  /** Dynamic bans by client id (flapping). Keyed by client input: a Map, never an object. */
  private readonly byClientId = new Map<string, number>();

  constructor(
    config: readonly BanConfig[],
    private readonly now: () => number = Date.now,
  ) {
    config.forEach((b, i) => {
      const where = `bans[${i}]`;
      const n =
        (b.clientid !== undefined ? 1 : 0) +
        (b.username !== undefined ? 1 : 0) +
        (b.ip !== undefined ? 1 : 0);
      if (n !== 1)
        throw new ConfigError([{ path: where, message: 'expected exactly one of clientid, username or ip' }]);
      let until = Number.POSITIVE_INFINITY;
      if (b.until !== undefined) {
        until = Date.parse(b.until);
        if (Number.isNaN(until))
          throw new ConfigError([
            { path: `${where}.until`, message: `expected an ISO 8601 date, got "${b.until}"` },
          ]);
      }
      let ip: AddressRange | undefined;
      if (b.ip !== undefined) {
        try {
          ip = new AddressRange(b.ip);
        } catch (e) {
          throw new ConfigError([{ path: `${where}.ip`, message: (e as Error).message }]);
        }
      }
      this.list.push({ clientid: b.clientid, username: b.username, ip, until });
    });
  }

  /** Bans a client id for `ms`. */
  banClientId(clientId: string, ms: number): void {
    this.byClientId.set(clientId, this.now() + ms);
  }

  isBanned(s: BanSubject): boolean {
    const t = this.now();
    const d = this.byClientId.get(s.clientId);
    if (d !== undefined) {
      if (d > t) return true;
      this.byClientId.delete(s.clientId);
    }
    for (const b of this.list) {
      if (b.until <= t) continue;
      if (b.clientid !== undefined && b.clientid === s.clientId) return true;
      if (b.username !== undefined && b.username === s.username) return true;
      if (b.ip?.has(s.remoteAddress)) return true;
    }
    return false;
  }
}

/** Counts CONNECTs per client id in a sliding window; `hit` says when one reaches `max`. */
export class FlappingDetector {
  private readonly seen = new Map<string, number[]>();
  constructor(
    readonly max: number,
    readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records a CONNECT; true when the client id connected `max` times within the window. */
  hit(clientId: string): boolean {
    const t = this.now();
    if (this.seen.size > 100_000) this.sweep(t);
    let times = this.seen.get(clientId);
    if (times === undefined) this.seen.set(clientId, (times = []));
    while (times.length > 0 && times[0]! <= t - this.windowMs) times.shift();
    times.push(t);
    if (times.length >= this.max) {
      this.seen.delete(clientId);
      return true;
    }
    return false;
  }

  private sweep(t: number): void {
    for (const [k, v] of this.seen) if (v[v.length - 1]! <= t - this.windowMs) this.seen.delete(k);
  }
}
