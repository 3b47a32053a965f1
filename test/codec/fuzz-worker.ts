/** Worker thread entry for fuzz.test.ts: runs one fuzz campaign and posts its report. */
import { parentPort, workerData } from 'node:worker_threads';
import { type FuzzOptions, runFuzz } from './fuzz-core.js';

parentPort!.postMessage(runFuzz(workerData as FuzzOptions));
