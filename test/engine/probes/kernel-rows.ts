/**
 * The kernel side of the probe table (probe-table.test.ts, probe-table-swap.test.ts): one jest
 * test per row, on the real kernel's MOVE or on the MOVE emulation (lib/engine/emulated-move.ts)
 * over the real kernel, where the emulation's own outcome for a few rows is pinned below.
 */
import * as fs from 'node:fs';
import { makeEnv } from './env';
import { expected, type Row, type TableProfile } from './rows';

export type KernelMode = 'kernel' | 'emulated';

/**
 * Where the MOVE emulation cannot match the kernel, by design: userspace cannot see
 * PageAnonExclusive (only pagemap's "mapped once" bit), a long-term pin, whether an empty pte
 * table exists, and a copy is never a THP move. The emulation's own outcome is pinned here, in
 * terms of the page and PMD size as the rows' expectations are.
 */
export const EMULATION_DIFFERS: Record<
  string,
  { observed: (ps: number, pmd: number) => string; why: string; unless?: () => boolean }
> = {
  C40: {
    observed: (ps) => `ret=0 field=${ps}`,
    why: 'after the fork child exited the page is mapped once: copied (the kernel: EBUSY until written)',
  },
  C42: {
    observed: (ps) => `ret=0 field=${3 * ps}`,
    why: 'same: the third, never-written page is mapped once, so it is copied too',
  },
  C45: {
    observed: (_, pmd) => `src_thp=1 ret=0 field=${pmd} dst_thp=0 dst[2M-1]=0x5c src_present=0`,
    why: 'COPY fills dst with small pages; a real MOVE moves the PMD',
  },
  C46: {
    observed: (_, pmd) =>
      `src_thp=1 ret=0 field=${pmd / 2} dst_thp=0 src_tail_present=1 src_tail_thp=1`,
    why: 'MADV_DONTNEED of half a THP splits the PMD but leaves the folio large (deferred split)',
  },
  X3: {
    observed: (ps) => `pin=0 ret=0 field=${ps}`,
    why: 'no pagemap bit shows a long-term pin (folio_maybe_dma_pinned): the page is copied and src zapped, while the io_uring buffer keeps the old page',
  },
  X4: {
    observed: () => 'ret=-1 ENOENT field=-ENOENT',
    why: 'the MOVE made while pinned already moved the page (X3): src is empty after the unpin',
  },
  X6: {
    observed: (ps) => `src_swapped=1 ret=0 field=${ps} dst_swapped=0 src_empty=1 dst[0]=0x4b`,
    why: 'COPY reads src, which swaps it in: dst gets a present page, not the swap entry',
  },
  X7: {
    observed: (ps) => `src_swapped=1 ret=0 field=${ps}`,
    why: 'pagemap does not show pte_swp_exclusive: a shared swap entry is copied',
  },
  X25: {
    observed: () => 'ret=-1 ENOENT field=-ENOENT',
    why: 'an emptied but still existing pte table looks like no table in pagemap',
    // With THP "always" (Debian's default: the arm64 guests) the touch maps a THP, the
    // DONTNEED splits it and the other pages of the table stay present: the emulation sees the
    // table and says EEXIST, as the kernel does.
    unless: () => thpAlways(),
  },
};

/** /sys/kernel/mm/transparent_hugepage/enabled says [always]. */
function thpAlways(): boolean {
  try {
    const policy = fs.readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8');
    return policy.includes('[always]');
  } catch {
    return false;
  }
}

/**
 * Declares the jest test of one row on the kernel (real MOVE) or on the MOVE emulation, against
 * the answer of `profile`, the running kernel's.
 */
export function kernelRowTest(row: Row, mode: KernelMode, profile: TableProfile): void {
  test(
    `${row.id} ${row.what}`,
    async () => {
      const env = makeEnv(mode);
      try {
        let differs = mode === 'emulated' ? EMULATION_DIFFERS[row.id] : undefined;
        if (differs?.unless?.()) differs = undefined;
        expect(await row.run(env)).toBe(
          differs?.observed(env.ps, env.pmd) ?? expected(row, profile, env.ps, env.pmd),
        );
      } finally {
        await env.cleanup();
      }
    },
    row.timeout,
  );
}
