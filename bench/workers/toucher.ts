/**
 * A worker thread that faults: it views a mapping of the main thread (Mapping.attach), and on
 * 'go' reads one byte of each page, one page after the other, timing the loop itself.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { join } from 'node:path';

interface Data {
  root: string;
  address: number;
  length: number;
  stride: number;
}

const { root, address, length, stride } = workerData as Data;

const { Mapping } = require(join(root, 'dist')) as typeof import('../../lib/index');
const m = Mapping.attach(address, length);
const view = new Uint8Array(m.buffer);

parentPort!.once('message', () => {
  const t0 = process.hrtime.bigint();
  let sum = 0;
  for (let off = 0; off < length; off += stride) sum += view[off]!;
  const ns = Number(process.hrtime.bigint() - t0);
  m.unmap();
  parentPort!.postMessage({ ns, sum });
});
parentPort!.postMessage('ready');
