/**
 * xorshift32 and a Fisher-Yates permutation: the same generator as bench/ref/common.h, so the C
 * reference and the package visit the same scattered pages in the same order.
 */
export function xorshift32(state: { s: number }): number {
  let x = state.s;
  x ^= x << 13;
  x >>>= 0;
  x ^= x >>> 17;
  x ^= x << 5;
  x >>>= 0;
  state.s = x;
  return x;
}

/** A permutation of 0..n-1 (seed != 0), identical to permutation() in common.h. */
export function permutation(n: number, seed: number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  const st = { s: seed >>> 0 };
  for (let i = n; i > 1; i--) {
    const j = xorshift32(st) % i;
    const t = p[i - 1]!;
    p[i - 1] = p[j]!;
    p[j] = t;
  }
  return p;
}
