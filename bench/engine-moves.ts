/**
 * Engine speed: simulated UFFDIO_MOVE page moves per second (target: >= 1M/s, so that large
 * differential runs stay cheap). Pages ping-pong between two registered areas of a
 * SimulatedSpace, in chunks of 1, 16 and 512 pages, through the raw simulated uffd and through
 * the public Userfaultfd API.
 *
 *   npx tsc -p tsconfig.json --outDir .cache/bench && node .cache/bench/bench/engine-moves.js
 *   (or: node -r ts-node/register bench/engine-moves.ts where ts-node is available)
 *
 * Prints one JSON line per case: { case, pages, seconds, pagesPerSecond }.
 */
import { SimulatedSpace } from '../lib';

const PAGES = 16384; // 64 MiB of 4K pages per area

function bench(label: string, chunk: number, useApi: boolean, minPages = 4_000_000): void {
  const space = new SimulatedSpace({ pageSize: 4096 });
  const ps = space.pageSize;
  const uffd = space.userfaultfd();
  const a = space.mmap(PAGES * ps);
  const b = space.mmap(PAGES * ps);
  uffd.register(a, PAGES * ps);
  uffd.register(b, PAGES * ps);
  // Populate a (zero-filled pages: COPY of a zero buffer allocates real pages, no contents).
  uffd.copy(a, new Uint8Array(PAGES * ps), PAGES * ps);
  const raw = uffd.raw;
  let moved = 0;
  let from = a;
  let to = b;
  const t0 = process.hrtime.bigint();
  while (moved < minPages) {
    for (let off = 0; off < PAGES * ps; off += chunk * ps) {
      if (useApi) uffd.move(to + off, from + off, chunk * ps);
      else if (raw.move(to + off, from + off, chunk * ps, 0) !== 0) throw new Error('move failed');
    }
    moved += PAGES;
    [from, to] = [to, from];
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(
    JSON.stringify({
      case: label,
      chunk,
      pages: moved,
      seconds: +s.toFixed(3),
      pagesPerSecond: Math.round(moved / s),
    }),
  );
  uffd.close();
}

bench('raw move, 1 page per call', 1, false, 2_000_000);
bench('raw move, 16 pages per call', 16, false);
bench('raw move, 512 pages per call', 512, false, 20_000_000);
bench('Userfaultfd.move, 1 page per call', 1, true, 2_000_000);
bench('Userfaultfd.move, 16 pages per call', 16, true);
