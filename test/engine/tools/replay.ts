// Replays a differential counterexample on both backends, printing VMAs (with smaps flags) per step.
// node .cache/dbg/test/engine/tools/replay.js '<counterexample JSON>'  (after compiling, see run-replay.sh)
import { SimulatedSpace, kernelSpace } from '../../../lib';
import { execute, setup, snapshot, teardown, type Env, N } from '../diff/commands';
import { readSmaps } from '../../../lib/engine/procfs';
import type { SimulatedSpace as S } from '../../../lib/engine/space';

function kvmas(env: Env): string {
  const ps = env.ps;
  const lo = env.region - 8 * ps,
    hi = env.region + (N + 8) * ps;
  return readSmaps()
    .filter((e) => e.start < hi && e.end > lo)
    .map(
      (e) =>
        `[${(e.start - env.region) / ps},${(e.end - env.region) / ps}) ${e.read ? 'r' : '-'}${e.write ? 'w' : '-'}${e.shared ? 's' : 'p'} {${[...(e.vmFlags ?? [])].filter((f) => !['rd', 'wr', 'mr', 'mw', 'me', 'ex', 'mx', 'sd'].includes(f)).join(' ')}}`,
    )
    .join('\n   ');
}
function svmas(env: Env): string {
  const sp = env.space as S;
  const ps = env.ps;
  const lo = env.region - 8 * ps,
    hi = env.region + (N + 8) * ps;
  return sp.vmas.list
    .filter((v) => v.start < hi && v.end > lo)
    .map(
      (v) =>
        `[${(v.start - env.region) / ps},${(v.end - env.region) / ps}) f=${v.flags.toString(16)} pgoff=${v.pgoff - env.region / ps} av=${v.anonVma} uffd=${v.uffd?.id ?? '-'}`,
    )
    .join('\n   ');
}
(async () => {
  const seq = JSON.parse(process.argv[2]!)[0];
  const k = await setup(kernelSpace(), 2 << 20);
  const s = await setup(new SimulatedSpace({ swap: false }), 2 << 20);
  for (const c of seq) {
    const ko = await execute(k, c);
    const so = await execute(s, c);
    console.log('==', JSON.stringify(c));
    console.log(' K', JSON.stringify(ko), '\n   ' + kvmas(k));
    console.log(' S', JSON.stringify(so), '\n   ' + svmas(s));
    const ks = await snapshot(k),
      ss = await snapshot(s);
    if (ks.pages !== ss.pages) console.log(' pages K', ks.pages, '\n pages S', ss.pages);
    if (JSON.stringify(ks.bytes) !== JSON.stringify(ss.bytes))
      console.log(' bytes K', JSON.stringify(ks.bytes), '\n bytes S', JSON.stringify(ss.bytes));
  }
  await teardown(k);
  await teardown(s);
  process.exit(0);
})();
