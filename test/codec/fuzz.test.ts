/**
 * Property: arbitrary bytes only ever yield packets or a clean CodecError, never another exception, never a
 * hang, never more buffered than maxPacketSize; every decoded packet re-encodes and decodes back to itself.
 * Each campaign runs in a worker thread so a hang fails on the time limit instead of freezing the run.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import type { FuzzOptions, FuzzReport } from './fuzz-core.js';

const INPUTS = 10_000; // per protocol version: 20,000 in all
const TIME_LIMIT_MS = 15_000;
const MAX_PACKET_SIZE = 64 * 1024;

function runInWorker(opts: FuzzOptions): Promise<FuzzReport> {
  // Worker threads do not get the tsx loader from --import on Node 20: register it, then load the worker.
  const entry = new URL('./fuzz-worker.ts', import.meta.url).href;
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  const worker = new Worker(boot, { eval: true, workerData: opts });
  return new Promise<FuzzReport>((resolve, reject) => {
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`fuzzing did not finish within ${TIME_LIMIT_MS} ms: a hang?`));
    }, TIME_LIMIT_MS);
    worker.once('message', (r: FuzzReport) => {
      clearTimeout(timer);
      resolve(r);
    });
    worker.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  }).finally(() => void worker.terminate());
}

describe('codec fuzz', () => {
  for (const version of [4, 5] as const) {
    test(`v${version} - ${INPUTS} random and mutated inputs in random chunks: packets or a CodecError only`, async () => {
      const report = await runInWorker({
        seed: 0xf022 + version,
        inputs: INPUTS,
        version,
        maxPacketSize: MAX_PACKET_SIZE,
      });
      assert.deepEqual(report.failures, []);
      assert.equal(report.inputs, INPUTS);
      assert.ok(report.maxBuffered <= MAX_PACKET_SIZE);
      // The campaign exercised both outcomes: many packets decoded, many inputs rejected.
      assert.ok(report.packets > INPUTS / 4, `decoded ${report.packets} packets`);
      const rejected = Object.values(report.errors).reduce((a, b) => a + b, 0);
      assert.ok(rejected > INPUTS / 4, `rejected ${rejected} inputs`);
      assert.ok(report.errors['0x81'] !== undefined && report.errors['0x82'] !== undefined);
      assert.ok(report.slowestMs < 1000, `slowest input took ${report.slowestMs} ms`);
    });
  }
});
