/**
 * lib/engine/procfs.ts reads /proc/self/maps and smaps in 64 KiB chunks (never one large
 * allocation, which could be mmap()ed into a hole a caller has just made). The chunked read must
 * see exactly the lines a whole-file read sees, including a line cut by a chunk boundary (which
 * a regular file has; seq_file ends each read on a line).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { kernelSpace } from '../../lib';
import { forEachLine, readMaps, readSmaps } from '../../lib/engine/procfs';
import { kernelAvailable } from './helpers/backends';

const ci = process.env.CI === 'true';

describe('procfs: chunked reads of /proc/self/{maps,smaps}', () => {
  test('forEachLine joins a line cut by a chunk boundary (a regular file reads in any size)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uffd-procfs-'));
    const file = path.join(dir, 'lines');
    try {
      // 3,000 lines of varying length (about 150 KiB): boundaries at 64 KiB and 128 KiB fall
      // inside lines; the last line has no newline.
      const lines = Array.from({ length: 3000 }, (_, i) => `${i}:${'x'.repeat(i % 97)}`);
      fs.writeFileSync(file, lines.join('\n'), 'latin1');
      const cut = lines.join('\n').lastIndexOf('\n', 64 * 1024);
      expect(cut).toBeLessThan(64 * 1024 - 1);
      const seen: string[] = [];
      forEachLine(file, (l) => seen.push(l));
      expect(seen).toEqual(lines);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the same VMAs, flags and paths as a whole-file read, with the files past 64 KiB', () => {
    if (!kernelAvailable()) {
      if (ci) throw new Error('CI=true but the kernel backend is unavailable');
      console.warn('NOT RUN: no kernel backend here');
      return;
    }
    const space = kernelSpace();
    const ps = space.pageSize;
    // Alternate protections so no two neighbours merge: 1,200 extra VMAs make maps ~100 KiB
    // and smaps ~1 MiB, so both cross several chunk boundaries.
    // Pages 1, 3, ..., 2n-1 change; the compared range [1, 2n) starts and ends on one, so
    // neither end merges with a neighbour outside the reservation.
    const n = 1200;
    const len = (2 * n + 2) * ps;
    const base = space.mmap(len, { prot: 'none' });
    try {
      for (let i = 0; i < n; i++) space.mprotect(base + (2 * i + 1) * ps, ps, i % 2 ? 'r' : 'rw');
      // Nothing may map or unmap between the reads: no allocation crosses glibc's mmap
      // threshold here, and the VMAs of this range are compared, not the whole file.
      const whole = fs.readFileSync('/proc/self/maps', 'latin1');
      expect(whole.length).toBeGreaterThan(64 * 1024);
      const inRange = (e: { start: number; end: number }): boolean =>
        e.start >= base + ps && e.end <= base + 2 * n * ps;
      const expected = whole
        .split('\n')
        .map((l) => /^([0-9a-f]+)-([0-9a-f]+) (\S{4})/.exec(l))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => ({ start: parseInt(m[1]!, 16), end: parseInt(m[2]!, 16), perms: m[3]! }))
        .filter(inRange);
      expect(expected).toHaveLength(2 * n - 1);
      // The range's own lines span more than one chunk, so a boundary falls inside them.
      const rangeBytes = whole
        .split('\n')
        .filter((l) => {
          const m = /^([0-9a-f]+)-([0-9a-f]+)/.exec(l);
          return m !== null && inRange({ start: parseInt(m[1]!, 16), end: parseInt(m[2]!, 16) });
        })
        .reduce((sum, l) => sum + l.length + 1, 0);
      expect(rangeBytes).toBeGreaterThan(64 * 1024);
      const perms = (e: {
        read: boolean;
        write: boolean;
        exec: boolean;
        shared: boolean;
      }): string =>
        `${e.read ? 'r' : '-'}${e.write ? 'w' : '-'}${e.exec ? 'x' : '-'}${e.shared ? 's' : 'p'}`;
      const maps = readMaps()
        .filter(inRange)
        .map((e) => ({ start: e.start, end: e.end, perms: perms(e) }));
      expect(maps).toEqual(expected);
      const smaps = readSmaps().filter(inRange);
      expect(smaps.map((e) => ({ start: e.start, end: e.end, perms: perms(e) }))).toEqual(expected);
      // Every entry got its VmFlags line, wherever the chunk boundaries fell.
      for (const [j, e] of smaps.entries()) {
        expect(e.vmFlags?.has('rd')).toBe(j % 2 === 0);
        expect(e.vmFlags?.has('mr')).toBe(true);
      }
    } finally {
      space.munmap(base, len);
    }
  });
});
