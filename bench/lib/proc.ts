/** Small /proc readers: the VMA count and a mapping's transparent-huge-page bytes. */
import { readFileSync } from 'node:fs';

/** Lines of /proc/self/maps: this process's VMA count. */
export function vmaCount(): number {
  const text = readFileSync('/proc/self/maps', 'utf8');
  let n = 0;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

/** AnonHugePages (bytes) of the VMAs inside [address, address + length). */
export function anonHugeBytes(address: number, length: number): number {
  const text = readFileSync('/proc/self/smaps', 'utf8');
  let inRange = false;
  let bytes = 0;
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (m) {
      const start = parseInt(m[1]!, 16);
      const end = parseInt(m[2]!, 16);
      inRange = start >= address && end <= address + length;
      continue;
    }
    if (inRange && line.startsWith('AnonHugePages:')) {
      bytes += Number(/(\d+)/.exec(line)?.[1] ?? 0) * 1024;
    }
  }
  return bytes;
}
