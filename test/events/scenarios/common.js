'use strict';
// Shared by the scenario scripts: each runs in its own `node` process (spawned by
// test/events/helpers.ts with a hard timeout), loads the built package from dist/, and ends by
// printing one `RESULT <json>` line that the jest test asserts on.
const fs = require('fs');
const path = require('path');
const { Worker } = require('worker_threads');

const DIST = path.join(__dirname, '..', '..', '..', 'dist');
const u = require(DIST);
/** The addon itself, for test-only helpers (forkPause, reap, gettid). */
const native = () => require(path.join(DIST, 'binding')).native();

/** Runs an async main and prints its value as the RESULT line; any throw exits 1. */
function main(fn) {
  fn().then(
    (value) => {
      process.stdout.write(`RESULT ${JSON.stringify(value === undefined ? null : value)}\n`);
    },
    (err) => {
      console.error('scenario failed:', err);
      process.exit(1);
    },
  );
}

/** The kernel wait channel of one of our threads ('handle_userfault' while it awaits a fault). */
function wchan(tid) {
  try {
    return fs.readFileSync(`/proc/self/task/${tid}/wchan`, 'utf8');
  } catch {
    return '';
  }
}

/** Every thread of this process that sleeps in handle_userfault. */
function userfaultSleepers() {
  return fs.readdirSync('/proc/self/task').filter((t) => wchan(t) === 'handle_userfault');
}

/** Polls `pred` every 2 ms; throws after `ms` (a safety net, not an assertion on speed). */
async function until(pred, what, ms = 8000) {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/**
 * A Worker running `fn(u, workerData, parentPort)` (fn is serialised with toString, so it may
 * only use its arguments and require()). Its result is the first message it posts.
 */
function worker(fn, workerData) {
  const code =
    `const u = require(${JSON.stringify(DIST)});\n` +
    `const { parentPort, workerData } = require('worker_threads');\n` +
    `Promise.resolve((${fn.toString()})(u, workerData, parentPort)).then(\n` +
    `  (v) => { if (v !== undefined) parentPort.postMessage(v); },\n` +
    `  (e) => { parentPort.postMessage({ error: String(e && e.stack || e) }); });\n`;
  return new Worker(code, { eval: true, workerData });
}

/** The next message of a Worker, as a promise (rejects on an error message or exit). */
function nextMessage(w) {
  return new Promise((resolve, reject) => {
    const onMessage = (m) => {
      cleanup();
      if (m && typeof m === 'object' && 'error' in m) reject(new Error(m.error));
      else resolve(m);
    };
    const onError = (e) => {
      cleanup();
      reject(e);
    };
    const onExit = (code) => {
      cleanup();
      reject(new Error(`worker exited (${code}) before posting`));
    };
    const cleanup = () => {
      w.off('message', onMessage);
      w.off('error', onError);
      w.off('exit', onExit);
    };
    w.on('message', onMessage);
    w.on('error', onError);
    w.on('exit', onExit);
  });
}

/** Fills page i of [addr, addr + pages * ps) with pattern(i, j) through a view (unregistered!). */
function fillPattern(mapping, pages, pattern) {
  const ps = u.pageSize;
  const b = new Uint8Array(mapping.buffer);
  for (let i = 0; i < pages; i++) for (let j = 0; j < ps; j++) b[i * ps + j] = pattern(i, j);
}

const pattern = (i, j) => (i * 31 + j * 7 + 1) & 0xff;

module.exports = {
  u,
  DIST,
  native,
  main,
  wchan,
  userfaultSleepers,
  until,
  worker,
  nextMessage,
  fillPattern,
  pattern,
};
