/**
 * Scenario 7, package side, run in a child process (it drives the VMA count to
 * vm.max_map_count, which must not happen to the bench process itself). Same work as
 * bench/ref/remap.c: every other page of a from-space of 2*live pages moves to page j of a dense
 * to-space, by `mm.mremap(..., { mayMove, fixed })` or by `uffd.move()`.
 *
 *   node remap-child.js <root> mode=mremap|move live=N
 *
 * Prints one JSON object like the C program.
 */
import { join } from 'node:path';
import { vmaCount } from '../lib/proc';

function arg(name: string, def: string): string {
  const a = process.argv.find((x) => x.startsWith(`${name}=`));
  return a === undefined ? def : a.slice(name.length + 1);
}

async function main(): Promise<void> {
  const root = process.argv[2]!;

  const P = require(join(root, 'dist')) as typeof import('../../lib/index');
  const { mm, Userfaultfd, writeMemory, readMemory, pageSize: ps } = P;
  const move = arg('mode', 'move') === 'move';
  const live = Number(arg('live', '10000'));
  const fromPages = 2 * live;
  const from = mm.mmap(fromPages * ps);
  const to = mm.mmap(live * ps);
  mm.madvise(from, fromPages * ps, 'nohugepage');
  mm.madvise(to, live * ps, 'nohugepage');
  // Stamp page k with k + 1, 256 pages per native-thread write.
  const CH = 256;
  for (let k0 = 0; k0 < fromPages; k0 += CH) {
    const n = Math.min(CH, fromPages - k0);
    const buf = new Uint8Array(n * ps);
    const w = new Uint32Array(buf.buffer);
    for (let i = 0; i < n; i++) w[(i * ps) / 4] = k0 + i + 1;
    await writeMemory(from + k0 * ps, buf);
  }
  const uffd = move ? Userfaultfd.open() : undefined;
  uffd?.register(to, live * ps);

  const before = vmaCount();
  let done = 0;
  let errno = 0;
  const t0 = process.hrtime.bigint();
  try {
    if (uffd !== undefined) {
      for (let j = 0; j < live; j++, done++) uffd.move(to + j * ps, from + 2 * j * ps, ps);
    } else {
      for (let j = 0; j < live; j++, done++) {
        mm.mremap(from + 2 * j * ps, ps, ps, { mayMove: true, fixed: to + j * ps });
      }
    }
  } catch (e) {
    errno = -((e as { errno?: number }).errno ?? 0);
  }
  const ns = Number(process.hrtime.bigint() - t0);
  const after = vmaCount();
  // Check what moved (chunked reads on a native thread).
  for (let j0 = 0; j0 < done; j0 += CH) {
    const n = Math.min(CH, done - j0);
    const data = await readMemory(to + j0 * ps, n * ps);
    const w = new Uint32Array(data.buffer, data.byteOffset, data.byteLength / 4);
    for (let i = 0; i < n; i++) {
      if (w[(i * ps) / 4] !== 2 * (j0 + i) + 1) throw new Error(`content mismatch at ${j0 + i}`);
    }
  }
  process.stdout.write(
    JSON.stringify({ ns, pages: done, vmasBefore: before, vmasAfter: after, errno }) + '\n',
  );
  uffd?.close();
}

main().catch((e: unknown) => {
  process.stderr.write(`${String((e as Error).stack ?? e)}\n`);
  process.exit(1);
});
