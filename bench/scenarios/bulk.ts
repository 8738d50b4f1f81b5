/**
 * Scenario 5: one bulk MOVE or COPY of a whole range (16 MiB and 1 GiB by default), from a
 * populated source into an empty registered destination, with 4 KiB pages (MADV_NOHUGEPAGE) or
 * THP-backed (`Mapping.anonymous(len, { hugepage: true })`: 2 MiB aligned, MADV_HUGEPAGE). For
 * THP, MOVE moves whole PMDs (spec §2.5) while COPY fills 4 KiB PTEs.
 * C reference (bench/ref/bulk.c): the same ioctl, continued on partial progress.
 */
import * as fs from 'node:fs';
import { type BenchOptions, elapsedNs, interleave, median, now, runRef } from '../lib/harness';
import { type Row, finish, ratioTarget } from '../lib/report';
import { pkg } from '../lib/pkg';
import { anonHugeBytes } from '../lib/proc';

type BulkOp = 'move' | 'copy';

/**
 * µs for the package's call; records the THP-mapped bytes of source + destination after the
 * call (a THP MOVE moves whole PMDs to dst; a COPY leaves the source's THPs and fills 4 KiB). /proc/self/smaps is read after the clock stops: reading it just before the
 * call walked this process's page tables and made a 16 MiB THP move twice as slow.
 */
export function pkgBulk(op: BulkOp, bytes: number, thp: boolean, thpSeen: number[]): number {
  const { Userfaultfd, Mapping, pageSize: ps, UffdError } = pkg();
  const uffd = Userfaultfd.open();
  const src = Mapping.anonymous(bytes, { hugepage: thp });
  const dst = Mapping.anonymous(bytes, { hugepage: thp });
  try {
    const b = new Uint8Array(src.buffer);
    for (let off = 0, i = 1; off < bytes; off += ps, i++) b[off] = i & 0xff;
    uffd.register(dst.address, bytes);
    const t0 = now();
    try {
      if (op === 'move') uffd.move(dst.address, src.address, bytes);
      else uffd.copy(dst.address, src.address, bytes);
    } catch (e) {
      // Partial progress (spec §2.6): finish the rest, as the C reference does.
      if (!(e instanceof UffdError) || e.code !== 'EAGAIN' || e.bytesDone === 0) throw e;
      const done = e.bytesDone;
      const rest = bytes - done;
      if (op === 'move') uffd.completeMove(dst.address + done, src.address + done, rest);
      else uffd.completeCopy(dst.address + done, src.address + done, rest);
    }
    const ns = elapsedNs(t0);
    thpSeen.push(anonHugeBytes(src.address, bytes) + anonHugeBytes(dst.address, bytes));
    const last = new Uint8Array(dst.buffer)[bytes - ps];
    if (last !== (bytes / ps) % 256) throw new Error(`content mismatch: ${last}`);
    return ns / 1000;
  } finally {
    uffd.close();
    src.unmap();
    dst.unmap();
  }
}

function label(bytes: number): string {
  return bytes >= 1 << 30 ? `${bytes / (1 << 30)} GiB` : `${bytes / (1 << 20)} MiB`;
}

export async function scenario5(opts: BenchOptions): Promise<Row[]> {
  const sizes = opts.quick ? [4 << 20, 16 << 20] : [16 << 20, 1 << 30];
  const rows: Row[] = [];
  for (const bytes of sizes) {
    // Fewer repetitions for the GiB class: each one maps, fills and moves 2 GiB.
    const reps = bytes >= 1 << 30 ? Math.max(3, opts.reps >> 1) : opts.reps * 2;
    for (const thp of [false, true]) {
      for (const op of ['move', 'copy'] as const) {
        const thpC: number[] = [];
        const thpPkg: number[] = [];
        // A THP MOVE is a few page-table updates, so the TLB shootdowns that follow them weigh:
        // the kernel sends them to every CPU this mm ran on, and a Node process has threads
        // (V8's, libuv's) that ran on the other CPUs. The C reference with as many idle threads
        // shows that share (bench/ref/bulk.c, idle_threads).
        const withThreads = thp && op === 'move';
        const idleThreads = Math.max(0, fs.readdirSync('/proc/self/task').length - 1);
        const contenders: Record<string, () => number> = {
          C: () => {
            const r = runRef(opts, 'bulk', { op, bytes, thp: thp ? 1 : 0 });
            thpC.push(r.thpBytes!);
            return r.ns! / 1000;
          },
          pkg: () => pkgBulk(op, bytes, thp, thpPkg),
        };
        if (withThreads) {
          contenders['C+threads'] = () =>
            runRef(opts, 'bulk', { op, bytes, thp: 1, idle_threads: idleThreads }).ns! / 1000;
        }
        const s = await interleave(
          `s5 ${op} ${label(bytes)} ${thp ? 'THP' : '4K'}`,
          reps,
          contenders,
        );
        const threaded = s['C+threads'];
        const threadNote =
          threaded === undefined
            ? ''
            : `; C with ${idleThreads} idle threads (as many as this Node process has): ` +
              `${median(threaded).toPrecision(3)} µs, package/that ${(
                median(s.pkg!) / median(threaded)
              ).toFixed(2)}×`;
        const frac = (xs: number[]): string =>
          xs.length ? `${Math.round((100 * Math.min(...xs)) / bytes)}%` : '?';
        rows.push(
          finish({
            scenario: 5,
            id: `s5.${op}.${label(bytes).replace(' ', '')}.${thp ? 'thp' : '4k'}`,
            label: `bulk ${op} ${label(bytes)}, ${thp ? 'THP' : '4 KiB pages'}`,
            unit: 'µs',
            c: s.C,
            pkg: s.pkg,
            target: ratioTarget(1.02),
            note: thp
              ? `THP-mapped after the call (src + dst): C ${frac(thpC)}, package ${frac(thpPkg)}` +
                threadNote
              : undefined,
            extra: {
              bytes,
              thp,
              thpBytesC: thpC,
              thpBytesPkg: thpPkg,
              ...(threaded === undefined ? {} : { idleThreads, cWithIdleThreads: threaded }),
            },
          }),
        );
      }
    }
  }
  return rows;
}
