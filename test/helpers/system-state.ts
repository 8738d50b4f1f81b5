/**
 * System state that some kernel rows of spec §5.2 need, set up for a describe and restored after
 * it: a hugetlb pool (X8–X13: vm.nr_hugepages), a swap device (X6, X7: a temporary swapfile) and
 * a fast-scanning ksmd (X5: only while a test waits for a merge). The spec's probe did the same
 * by hand (§5.2: `echo 4 > nr_hugepages`, `echo 1 > ksm/run`, a 64 MiB swapfile).
 *
 * Root is required. `describeSystem` runs its tests when root; under CI=true a non-root run
 * fails; a local non-root run registers one passing test that prints NOT RUN (never a skip that
 * hides the rows).
 *
 * These are machine-wide settings and jest runs test files in parallel (maxWorkers 2), so every
 * set-up holds one machine-wide lock until it is restored: without it, one file restoring
 * nr_hugepages (or swapping off) under another file's test breaks it, and a file that saved the
 * other's raised value "restores" it for good. The lock is a listening Unix socket bound to an
 * abstract address (unix(7)): one binder per network namespace, released by the kernel when the
 * process dies (no stale lock file), and it needs no tool the test/vm guests lack (flock(1)).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { pageSize } from '../../lib';
import { native } from '../../lib/binding';
import { pageKind, pagemap } from './kernel';

const LOCK_ADDRESS = '\0userfaultfd-test-system-state';
const NR_HUGEPAGES = '/proc/sys/vm/nr_hugepages';
const KSM = '/sys/kernel/mm/ksm/';

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

export interface SystemNeeds {
  /** Raise vm.nr_hugepages by this many pages (the pool must then have that many free). */
  hugetlbPages?: number;
  /** An active swap device: the one there is, or a temporary 64 MiB swapfile. */
  swap?: boolean;
  /** Save the KSM settings, so that `ksmScanning()` may change them (restored after). */
  ksm?: boolean;
}

const readTrim = (p: string): string => readFileSync(p, 'utf8').trim();

/** Takes the machine-wide lock (waiting up to timeoutMs); resolves with its release. */
async function lock(timeoutMs: number): Promise<() => Promise<void>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const server = createServer();
    const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      server.once('error', resolve);
      server.listen(LOCK_ADDRESS, () => resolve(undefined));
    });
    if (err === undefined) {
      server.unref();
      return () => new Promise<void>((resolve) => server.close(() => resolve()));
    }
    if (err.code !== 'EADDRINUSE') throw err;
    if (Date.now() > deadline) {
      throw new Error(`system state: another test held the lock for ${timeoutMs / 1000} s`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Runs fn holding the machine-wide lock, for tests that change a machine-wide setting outside
 * describeSystem (vm.unprivileged_userfaultfd, /dev/userfaultfd's ACL: privileges.test.ts) and
 * for tests that read one and check what a child saw against it (doctor.test.ts): without the
 * lock, the other jest worker may change it in between (a CI-form ASan run failed that way).
 */
export async function withSystemLock<T>(fn: () => Promise<T> | T): Promise<T> {
  const unlock = await lock(120000);
  try {
    return await fn();
  } finally {
    await unlock();
  }
}

/** vm.nr_hugepages raised by n; returns the undo. */
function raiseHugetlbPool(n: number): () => void {
  const orig = readTrim(NR_HUGEPAGES);
  writeFileSync(NR_HUGEPAGES, String(Number(orig) + n));
  const undo = (): void => writeFileSync(NR_HUGEPAGES, orig);
  const free = Number(/HugePages_Free:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))![1]);
  if (free < n) {
    undo();
    throw new Error(`vm.nr_hugepages raised by ${n} but only ${free} huge pages are free`);
  }
  return undo;
}

/** The active swap device, or a temporary 64 MiB swapfile (block-backed /var/tmp); the undo. */
function ensureSwap(): () => void {
  const active = readTrim('/proc/swaps').split('\n').length > 1;
  if (active) return () => {};
  const file = `/var/tmp/uffd-test-swap-${process.pid}`;
  execFileSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', 'count=64'], { stdio: 'ignore' });
  chmodSync(file, 0o600);
  try {
    execFileSync('mkswap', [file], { stdio: 'ignore' });
    execFileSync('swapon', [file]);
  } catch (e) {
    unlinkSync(file);
    throw e;
  }
  return () => {
    execFileSync('swapoff', [file]);
    if (existsSync(file)) unlinkSync(file);
  };
}

const KSM_KNOBS = ['pages_to_scan', 'sleep_millisecs', 'run'] as const;
/** The KSM settings saved by the current set-up (undefined: KSM is not ours to change). */
let ksmSaved: Map<string, string> | undefined;

function restoreKsm(): void {
  // The rate first, run last: ksmd never goes on at full speed after this.
  for (const k of KSM_KNOBS) writeFileSync(KSM + k, ksmSaved!.get(k)!);
}

/**
 * ksmd at full speed (pages_to_scan 10000, no sleep between batches) until the returned stop()
 * restores the saved settings. Only inside a `describeSystem(…, { ksm: true })`.
 *
 * Why full speed: ksmd scans every MADV_MERGEABLE area of the machine in turn and merges a page
 * on its second visit (the first records its checksum), so a merge waits for two full passes
 * over everything mergeable: a QEMU guest marks its RAM mergeable, and at the default rate (100
 * pages per 20 ms) one 2 GiB guest put ours ~50 s away. At full speed a merge took 1.5–9 s here
 * with such a guest running (load 5–7 on 2 cores) and ~50 ms without; stopping ksmd again keeps
 * merged pages merged (ours, and any of the guest's merged meanwhile).
 */
export function ksmScanning(): () => void {
  if (ksmSaved === undefined) throw new Error('ksmScanning() outside describeSystem({ ksm })');
  writeFileSync(KSM + 'pages_to_scan', '10000');
  writeFileSync(KSM + 'sleep_millisecs', '0');
  writeFileSync(KSM + 'run', '1');
  return restoreKsm;
}

/**
 * Every page of the range is one KSM page: one PFN (that is what merging does) carrying KPF_KSM.
 * The PFN test matters: some kernels report KPF_KSM on every anonymous page (seen on Debian 6.12
 * arm64; lib/engine/procfs.ts, decodePage).
 */
export function ksmMerged(addr: number, len: number): boolean {
  const pages = pagemap(addr, len / pageSize);
  const pfn = pages[0]!.pfn;
  if (pfn === 0n || pages.some((p) => !p.present || p.pfn !== pfn)) return false;
  return pageKind(addr).ksm;
}

/**
 * MADV_MERGEABLE on the range (its pages must have identical contents), then ksmd at full speed
 * until every page of it is the same KSM page (at most 30 s). Inside describeSystem({ ksm }).
 */
export async function ksmMerge(addr: number, len: number): Promise<void> {
  const MADV_MERGEABLE = 12; // asm-generic/mman-common.h
  const r = native().madvise(addr, len, MADV_MERGEABLE);
  if (r < 0) throw new Error(`MADV_MERGEABLE failed (${r})`);
  const stop = ksmScanning();
  try {
    const deadline = Date.now() + 30000;
    while (!ksmMerged(addr, len)) {
      if (Date.now() > deadline) throw new Error('ksmd did not merge the pages in 30 s');
      await new Promise((res) => setTimeout(res, 20));
    }
  } finally {
    stop();
  }
}

/** Sets the needs up under the lock; resolves with the (idempotent) restore. */
export async function setUpSystemState(needs: SystemNeeds): Promise<() => Promise<void>> {
  if (!isRoot()) throw new Error('system state (hugetlb, swap, KSM) needs root');
  const unlock = await lock(120000);
  const undo: (() => void)[] = [];
  const undoAll = (): void => {
    for (const u of undo.splice(0).reverse()) u();
  };
  // A test file that dies without afterAll (an uncaught error, process.exit) still restores.
  process.on('exit', undoAll);
  try {
    if (needs.hugetlbPages) undo.push(raiseHugetlbPool(needs.hugetlbPages));
    if (needs.swap) undo.push(ensureSwap());
    if (needs.ksm) {
      ksmSaved = new Map(KSM_KNOBS.map((k) => [k, readTrim(KSM + k)]));
      undo.push(() => {
        restoreKsm();
        ksmSaved = undefined;
      });
    }
  } catch (e) {
    undoAll();
    process.off('exit', undoAll);
    await unlock();
    throw e;
  }
  let done = false;
  return async () => {
    if (done) return;
    done = true;
    try {
      undoAll();
    } finally {
      process.off('exit', undoAll);
      await unlock();
    }
  };
}

/**
 * A describe whose tests run with `needs` set up (beforeAll) and restored (afterAll). Not root:
 * under CI=true a failing test; locally one test that prints NOT RUN, so the gap is loud.
 */
export function describeSystem(name: string, needs: SystemNeeds, fn: () => void): void {
  describe(name, () => {
    if (!isRoot()) {
      test('system state needs root', () => {
        if (process.env.CI === 'true') throw new Error(`CI=true but not root: ${name} cannot run`);
        console.warn(`NOT RUN (not root): ${name}`);
      });
      return;
    }
    let restore: (() => Promise<void>) | undefined;
    beforeAll(async () => {
      restore = await setUpSystemState(needs);
    }, 150000);
    afterAll(async () => {
      await restore?.();
    }, 60000);
    fn();
  });
}
