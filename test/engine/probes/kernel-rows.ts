/**
 * The kernel side of the probe table (probe-table.test.ts, probe-table-swap.test.ts): one jest
 * test per row, on the real kernel's MOVE or on the MOVE emulation (lib/engine/emulated-move.ts)
 * over the real kernel, where the emulation's own outcome for a few rows is pinned below.
 */
import { makeEnv } from './env';
import type { Row } from './rows';

export type KernelMode = 'kernel' | 'emulated';

/**
 * Where the MOVE emulation cannot match the kernel, by design: userspace cannot see
 * PageAnonExclusive (only pagemap's "mapped once" bit), a long-term pin, whether an empty pte
 * table exists, and a copy is never a THP move. The emulation's own outcome is pinned here.
 */
export const EMULATION_DIFFERS: Record<string, { observed: string; why: string }> = {
  C40: {
    observed: 'ret=0 field=4096',
    why: 'after the fork child exited the page is mapped once: copied (the kernel: EBUSY until written)',
  },
  C42: {
    observed: 'ret=0 field=12288',
    why: 'same: the third, never-written page is mapped once, so it is copied too',
  },
  C45: {
    observed: 'src_thp=1 ret=0 field=2097152 dst_thp=0 dst[2M-1]=0x5c src_present=0',
    why: 'COPY fills dst with small pages; a real MOVE moves the PMD',
  },
  C46: {
    observed: 'src_thp=1 ret=0 field=1048576 dst_thp=0 src_tail_present=1 src_tail_thp=1',
    why: 'MADV_DONTNEED of half a THP splits the PMD but leaves the folio large (deferred split)',
  },
  X3: {
    observed: 'pin=0 ret=0 field=4096',
    why: 'no pagemap bit shows a long-term pin (folio_maybe_dma_pinned): the page is copied and src zapped, while the io_uring buffer keeps the old page',
  },
  X4: {
    observed: 'ret=-1 ENOENT field=-ENOENT',
    why: 'the MOVE made while pinned already moved the page (X3): src is empty after the unpin',
  },
  X6: {
    observed: 'src_swapped=1 ret=0 field=4096 dst_swapped=0 src_empty=1 dst[0]=0x4b',
    why: 'COPY reads src, which swaps it in: dst gets a present page, not the swap entry',
  },
  X7: {
    observed: 'src_swapped=1 ret=0 field=4096',
    why: 'pagemap does not show pte_swp_exclusive: a shared swap entry is copied',
  },
  X25: {
    observed: 'ret=-1 ENOENT field=-ENOENT',
    why: 'an emptied but still existing pte table looks like no table in pagemap',
  },
};

/** Declares the jest test of one row on the kernel (real MOVE) or on the MOVE emulation. */
export function kernelRowTest(row: Row, mode: KernelMode): void {
  test(
    `${row.id} ${row.what}`,
    async () => {
      const env = makeEnv(mode);
      try {
        const differs = mode === 'emulated' ? EMULATION_DIFFERS[row.id] : undefined;
        expect(await row.run(env)).toBe(differs?.observed ?? row.expect(env.ps, env.pmd));
      } finally {
        await env.cleanup();
      }
    },
    row.timeout,
  );
}
