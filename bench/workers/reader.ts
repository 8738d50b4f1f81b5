/**
 * Scenario 6's application thread: keeps reading random to-space pages while the main thread
 * compacts, and checks that each page holds the live page it should (stamp = from index + 1).
 * Its reads of pages not yet relocated fault, and the main thread serves them.
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

parentPort!.once('message', () => {
  let s = seed >>> 0 || 1;
  let reads = 0;
  let bad = 0;
  while (Atomics.load(flag, 0) === 0) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    const j = s % live;
    if (words[j * step] !== liveIdx[j]! + 1) bad++;
    reads++;
  }
  m.unmap();
  parentPort!.postMessage({ reads, bad });
});
parentPort!.postMessage('ready');
