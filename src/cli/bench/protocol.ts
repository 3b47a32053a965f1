// Messages between the bench's main thread and its worker threads, and the payload layout.
import type { ConnectOptions } from '../../client/index.js';
import type { QoS } from '../../codec/index.js';

/** Payload: u32 publisher id, u32 sequence, f64 send time (µs since the epoch), then padding. */
export const HEADER_BYTES = 16;

/** Wall-clock microseconds, comparable across threads and processes on one machine. */
export function nowUs(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}

/** Int32 slots per worker in the shared counters. */
export const SLOTS = 4;
export const SENT = 0;
export const RECEIVED = 1;
export const ERRORS = 2;
export const CONNECTED = 3;

export interface WorkerInit {
  index: number;
  workers: number;
  connect: Omit<ConnectOptions, 'clientId'>;
  clientPrefix: string;
  pubs: { id: number; topic: string }[];
  subs: { id: number; filters: string[] }[];
  /** Idle connections (the conn scenario). */
  idle: number[];
  qos: QoS;
  payloadSize: number;
  /** Messages per second per publisher; 0 = as fast as the closed loop allows. */
  rate: number;
  /** Milliseconds a worker sleeps after an event-loop turn that read something (0 = never). */
  napMs: number;
  /** Published-but-undelivered cap, in messages (deliveries / fanout); 0 = no cap. */
  maxOutstanding: number;
  /** Deliveries each publish makes (0 when nothing subscribes here). */
  fanout: number;
  inflight: number;
  /** Handshakes in progress at once per worker; and connections per second per worker (0 = no limit). */
  connectConcurrency: number;
  connectRate: number;
  counters: SharedArrayBuffer;
}

export type ToWorker =
  | { type: 'start' }
  | { type: 'measure' }
  | { type: 'stop' }
  | { type: 'report' }
  | { type: 'close' };

export interface SubReport {
  id: number;
  /** Distinct sequence numbers received, by publisher id. */
  distinct: Record<number, number>;
  duplicates: number;
  reordered: number;
}

export type FromWorker =
  | { type: 'ready'; connected: number; errors: string[]; firstMs: number; lastMs: number }
  | { type: 'stopped'; sent: Record<number, number>; unacked: number; refused: number }
  | { type: 'report'; subs: SubReport[]; counts: number[]; max: number; errors: string[] }
  | { type: 'closed' };
