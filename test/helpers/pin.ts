/**
 * A long-term pin (FOLL_PIN | FOLL_LONGTERM) of a range, as io_uring fixed buffers take it
 * (native/pin.cc): spec §5.2 X3/X4, where UFFDIO_MOVE refuses the pinned page with EBUSY.
 */
import { readFileSync } from 'node:fs';
import { native } from '../../lib/binding';

export interface LongTermPin {
  /** The io_uring ring fd holding the registered buffer. */
  readonly ring: number;
  /**
   * IORING_UNREGISTER_BUFFERS, then close the ring. The unregister unpins before it returns;
   * closing the ring alone unpins later, from io_ring_exit_work on a workqueue (a MOVE right
   * after close() was still EBUSY here). Idempotent.
   */
  unpin(): void;
}

/** Pins [addr, addr+len) (mapped, populated or not: registration faults it in). Throws on failure. */
export function pinLongTerm(addr: number, len: number): LongTermPin {
  const b = native();
  const ring = b.ioUringPin(addr, len);
  if (ring < 0) {
    const disabled = readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim();
    throw new Error(`io_uring pin failed (${ring}); kernel.io_uring_disabled=${disabled}`);
  }
  let pinned = true;
  return {
    ring,
    unpin(): void {
      if (!pinned) return;
      pinned = false;
      const r = b.ioUringUnpin(ring);
      b.close(ring);
      if (r < 0) throw new Error(`IORING_UNREGISTER_BUFFERS failed (${r})`);
    },
  };
}
