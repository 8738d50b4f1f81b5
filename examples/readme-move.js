'use strict';
// README example: a Worker touches a fresh mapping; the main thread serves each fault by
// moving the page in from a source mapping (UFFDIO_MOVE: no copy). Run: node examples/readme-move.js
const { Worker } = require('node:worker_threads');
const { Userfaultfd, Mapping, pageSize } = require('userfaultfd');

const len = 16 * pageSize;
const src = Mapping.anonymous(len);
new Uint8Array(src.buffer).fill(42); // the data to move in
const dst = Mapping.anonymous(len); // fresh: every page is missing
const uffd = Userfaultfd.open({ features: ['move'] });
uffd.register(dst.address, len);

const server = uffd.serve((fault, { page }) => {
  uffd.move(page, src.address + (page - dst.address), pageSize);
});
const worker = new Worker(
  `const { workerData: d, parentPort } = require('node:worker_threads');
   const { Mapping } = require(d.pkg);
   const view = new Uint8Array(Mapping.attach(d.address, d.len).buffer);
   parentPort.postMessage(view.reduce((sum, byte) => sum + byte, 0)); // faults on every page`,
  { eval: true, workerData: { pkg: require.resolve('userfaultfd'), address: dst.address, len } },
);
worker.once('message', async (sum) => {
  console.log(sum === 42 * len ? 'ok' : 'wrong', sum, server.stats.faults, 'faults');
  await server.stop();
  uffd.close();
});
