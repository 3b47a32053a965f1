/**
 * A log-bucketed histogram of microseconds (about 3.5% resolution), cheap to record and to merge across
 * worker threads (a plain array of counts).
 */
export const STEPS = 20;
const SIZE = 40 * STEPS;

export class Histogram {
  readonly counts: number[] = new Array<number>(SIZE).fill(0);
  count = 0;
  max = 0;

  record(us: number): void {
    const i = us <= 1 ? 0 : Math.min(SIZE - 1, Math.floor(Math.log2(us) * STEPS));
    this.counts[i]!++;
    this.count++;
    if (us > this.max) this.max = us;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.max = 0;
  }

  merge(counts: readonly number[], max: number): void {
    for (let i = 0; i < SIZE; i++) {
      const c = counts[i] ?? 0;
      this.counts[i]! += c;
      this.count += c;
    }
    if (max > this.max) this.max = max;
  }

  /** The value at quantile q (0..1), in microseconds (bucket midpoint), or 0 when empty. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < SIZE; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.max, 2 ** ((i + 0.5) / STEPS));
    }
    return this.max;
  }
}
