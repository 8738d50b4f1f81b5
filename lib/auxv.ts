/**
 * The page size without the addon: AT_PAGESZ from the auxiliary vector the kernel gave this
 * process at exec (getauxval(3); /proc/self/auxv is an array of native-endian, word-sized
 * { type, value } pairs ending with AT_NULL). Used where the addon cannot load (no prebuild for
 * this platform and no compiler), so that the simulated engine still sees the real page size:
 * 16K on Apple-silicon-class arm64 Linux, 64K on some arm64 and ppc64 servers.
 */
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';

const AT_NULL = 0n;
const AT_PAGESZ = 6n;

/** AT_PAGESZ, or undefined when /proc/self/auxv is unreadable (not Linux, no procfs). */
export function auxvPageSize(): number | undefined {
  let auxv: Buffer;
  try {
    auxv = readFileSync('/proc/self/auxv');
  } catch {
    return undefined;
  }
  const le = endianness() === 'LE';
  // 64-bit processes have 8-byte words; a 32-bit Node (armv7, ia32) has 4-byte words.
  const word = process.arch.endsWith('64') ? 8 : 4;
  const read = (off: number): bigint =>
    word === 8
      ? le
        ? auxv.readBigUInt64LE(off)
        : auxv.readBigUInt64BE(off)
      : BigInt(le ? auxv.readUInt32LE(off) : auxv.readUInt32BE(off));
  for (let off = 0; off + 2 * word <= auxv.length; off += 2 * word) {
    const type = read(off);
    if (type === AT_PAGESZ) return Number(read(off + word));
    if (type === AT_NULL) break;
  }
  return undefined;
}
