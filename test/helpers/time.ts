/**
 * Time limits in tests scale with the machine: UFFD_TEST_TIME_SCALE (default 1) multiplies every
 * child-process deadline the helpers set. test/vm/kernels.js sets it in its QEMU (TCG) guests,
 * where Node starts and runs several times slower than on the host, so a deadline that only
 * guards against a hang does not fire on a slow but healthy run. Tests that expect a hang
 * (a child killed after a grace period) wait longer there, and still see the hang.
 */
export const TIME_SCALE = ((): number => {
  const v = Number(process.env.UFFD_TEST_TIME_SCALE ?? 1);
  return Number.isFinite(v) && v >= 1 ? v : 1;
})();

/** `ms` scaled by UFFD_TEST_TIME_SCALE. */
export function scaledMs(ms: number): number {
  return Math.round(ms * TIME_SCALE);
}
