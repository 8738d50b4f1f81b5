/**
 * Scenario 6's application thread: reads a random to-space page every 5 µs (spinning in between,
 * like a mutator doing some work between heap accesses; the same pace as bench/ref/compact.c)
 * while the main thread compacts, and checks that each page holds the live page it should
 * (stamp = from index + 1). Its reads of pages not yet relocated fault, and the main thread
 * serves them.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { join } from 'node:path';

interface Data {
  root: string;
  address: number;
  length: number;
  pageSize: number;
  liveIdx: Uint32Array;
  stop: SharedArrayBuffer;
  seed: number;
}

const { root, address, length, pageSize, liveIdx, stop, seed } = workerData as Data;

const { Mapping } = require(join(root, 'dist')) as typeof import('../../lib/index');
const m = Mapping.attach(address, length);
const words = new Uint32Array(m.buffer);
const flag = new Int32Array(stop);
const live = liveIdx.length;
const step = pageSize / 4;
const PACE_NS = 5000n;

parentPort!.once('message', () => {
  let s = seed >>> 0 || 1;
  let reads = 0;
  let bad = 0;
  let next = process.hrtime.bigint();
  while (Atomics.load(flag, 0) === 0) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    const j = s % live;
    if (words[j * step] !== liveIdx[j]! + 1) bad++;
    reads++;
    next += PACE_NS;
    let t = process.hrtime.bigint();
    while (t < next && Atomics.load(flag, 0) === 0) t = process.hrtime.bigint();
    if (t > next + PACE_NS) next = t; // after a fault: no catch-up burst
  }
  m.unmap();
  parentPort!.postMessage({ reads, bad });
});
parentPort!.postMessage('ready');
