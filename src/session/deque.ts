/** A FIFO queue with O(1) push and shift (an array with a moving head, compacted as it drains). */
export class Deque<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(v: T): void {
    this.items.push(v);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const v = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return v;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i] as T;
  }
}

/** A queue of deliveries that also counts the payload bytes it holds (for `max_queued_bytes`). */
export class DeliveryQueue<T extends { readonly msg: { readonly payload: Buffer } }> extends Deque<T> {
  bytes = 0;

  override push(v: T): void {
    this.bytes += v.msg.payload.length;
    super.push(v);
  }

  override shift(): T | undefined {
    const v = super.shift();
    if (v !== undefined) this.bytes -= v.msg.payload.length;
    return v;
  }

  override clear(): void {
    this.bytes = 0;
    super.clear();
  }
}
