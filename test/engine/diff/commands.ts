/**
 * The differential test's vocabulary: random commands over a small region (N pages straddling
 * a PMD boundary inside a PROT_NONE arena), executed identically on an AddressSpace and its
 * userfaultfds, with every outcome reduced to plain data for comparison.
 */
import fc from 'fast-check';
import * as fs from 'node:fs';
import type { AddressSpace, ForkedChild, SimulatedSpace } from '../../../lib';
import { UffdError } from '../../../lib/errors';
import type { FeatureName } from '../../../lib/features';
import type { Userfaultfd } from '../../../lib/userfaultfd';
import { delay, pageCode, pendingEvents, reserve } from '../helpers/backends';

/** Pages in the region under test. */
export const N = 48;

export type Prot = 'none' | 'r' | 'rw';
export type Cmd =
  | { op: 'mmap'; off: number; len: number; prot: Prot; shared: boolean; populate: boolean }
  | { op: 'munmap'; off: number; len: number }
  | { op: 'mprotect'; off: number; len: number; prot: Prot }
  | { op: 'mlock'; off: number; len: number; onFault: boolean }
  | { op: 'munlock'; off: number; len: number }
  | { op: 'madvise'; off: number; len: number; advice: Advice }
  | { op: 'access'; off: number; at: number; write: boolean; byte: number; resolve: Resolve }
  | { op: 'register'; u: number; off: number; len: number; missing: boolean; wp: boolean }
  | { op: 'unregister'; u: number; off: number; len: number }
  | { op: 'move'; u: number; dst: number; src: number; len: number; holes: boolean }
  | { op: 'copy'; u: number; dst: number; src: number; len: number; from: CopyFrom; fill: number }
  | { op: 'zeropage'; u: number; off: number; len: number }
  | { op: 'poison'; u: number; off: number; len: number }
  | { op: 'wp'; u: number; off: number; len: number; protect: boolean }
  | { op: 'fork' }
  | { op: 'kill' }
  | { op: 'mremap'; off: number; oldLen: number; newLen: number; to: number; kind: RemapKind };

type Advice = 'dontneed' | 'dontfork' | 'dofork' | 'hugepage' | 'nohugepage' | 'pageout' | 'remove';
type Resolve = 'copy' | 'zeropage';
type CopyFrom = 'arena' | 'arena+1' | 'buffer';
type RemapKind = 'shrink' | 'grow' | 'fixed' | 'dontunmap';

const off = fc.integer({ min: 0, max: N - 1 });
const len = fc.integer({ min: 1, max: 8 });
const u = fc.integer({ min: 0, max: 1 });
const prot = fc.constantFrom<Prot>('rw', 'rw', 'rw', 'r', 'none');
const MOVE = fc.record({
  op: fc.constant('move' as const),
  u,
  dst: off,
  src: off,
  len,
  holes: fc.boolean(),
});

const WEIGHTED: fc.WeightedArbitrary<Cmd>[] = [
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('mmap' as const),
      off,
      len: fc.integer({ min: 1, max: 16 }),
      prot,
      shared: fc.integer({ min: 0, max: 9 }).map((x) => x < 2),
      populate: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('munmap' as const), off, len }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('mprotect' as const), off, len, prot }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('mlock' as const), off, len, onFault: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('munlock' as const), off, len }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('madvise' as const),
      off,
      len,
      advice: fc.constantFrom<Advice>(
        'dontneed',
        'dontneed',
        'dontfork',
        'dofork',
        'hugepage',
        'nohugepage',
        'pageout',
        'remove',
      ),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('access' as const),
      off,
      at: fc.integer({ min: 0, max: 63 }),
      write: fc.boolean(),
      byte: fc.integer({ min: 1, max: 255 }),
      resolve: fc.constantFrom<Resolve>('copy', 'zeropage'),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('register' as const),
      u,
      off,
      len: fc.integer({ min: 1, max: 16 }),
      missing: fc.boolean(),
      wp: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('unregister' as const), u, off, len }) },
  { weight: 6, arbitrary: MOVE },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('copy' as const),
      u,
      dst: off,
      src: off,
      len,
      from: fc.constantFrom<CopyFrom>('arena', 'arena+1', 'buffer'),
      fill: fc.integer({ min: 0, max: 255 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('zeropage' as const), u, off, len }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('poison' as const), u, off, len }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('wp' as const), u, off, len, protect: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('fork' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('kill' as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('mremap' as const),
      off,
      oldLen: len,
      newLen: len,
      to: off,
      kind: fc.constantFrom<RemapKind>('shrink', 'grow', 'fixed', 'dontunmap'),
    }),
  },
];

/**
 * The commands; without 'move' for a kernel without UFFDIO_MOVE (6.1): move() there is the MOVE
 * emulation over the kernel (lib/engine/emulated-move.ts), which the model has no twin of
 * (emulated-move.test.ts and the probe table's emulated mode check it). Same weights otherwise,
 * so a seed draws the same sequences as before.
 */
export function cmdArb(opts: { move: boolean }): fc.Arbitrary<Cmd> {
  return fc.oneof(...WEIGHTED.filter((w) => opts.move || w.arbitrary !== MOVE));
}

/** A sequence always starts by mapping something, so most commands have memory to act on. */
export const seqArb = (opts: { move: boolean }): fc.Arbitrary<Cmd[]> =>
  fc
    .tuple(
      fc.record({
        op: fc.constant('mmap' as const),
        off: fc.integer({ min: 0, max: 8 }),
        len: fc.integer({ min: 16, max: 40 }),
        prot: fc.constant<Prot>('rw'),
        shared: fc.constant(false),
        populate: fc.boolean(),
      }),
      fc.array(cmdArb(opts), { minLength: 1, maxLength: 12 }),
    )
    .map(([first, rest]) => [first as Cmd, ...rest]);

export interface Env {
  space: AddressSpace;
  ps: number;
  arena: number;
  arenaLen: number;
  /** Start of the region under test (N pages). */
  region: number;
  uffds: Userfaultfd[];
  children: ForkedChild[];
}

export async function setup(space: AddressSpace, pmdSize: number): Promise<Env> {
  const arena = reserve(space, 2 * pmdSize, pmdSize);
  const ps = space.pageSize;
  const region = arena + pmdSize - (N / 2) * ps;
  // What the kernel offers of these (6.1 has neither WP_UNPOPULATED nor POISON); the model of
  // that kernel offers the same, so both sides open alike.
  const probe = space.userfaultfd();
  const offered = (names: FeatureName[]): FeatureName[] =>
    names.filter((n) => probe.availableFeatures.has(n));
  probe.close();
  const uffds = [
    space.userfaultfd({ features: offered(['threadId', 'wpUnpopulated', 'poison']) }),
    space.userfaultfd({ features: offered(['threadId', 'poison']) }),
  ];
  return { space, ps, arena, arenaLen: 2 * pmdSize, region, uffds, children: [] };
}

/**
 * Unmaps the arena. With `model` (the simulated twin of a kernel env), the region's pages are
 * unmapped only where both map them: a page a command unmapped or moved away stopped being ours,
 * and anything in the process may have been mapped into that hole since (a kernel page mapped
 * where the model has none is such a thing, or a mismatch the test already reported). Outside
 * the region the arena is never touched by a command: still our PROT_NONE reservation.
 */
export async function teardown(env: Env, model?: Env): Promise<void> {
  for (const c of env.children.splice(0)) await c.kill();
  for (const uf of env.uffds) uf.close();
  const { space, ps, arena, arenaLen, region } = env;
  if (model === undefined) return space.munmap(arena, arenaLen);
  const mapped = (e: Env): boolean[] => {
    const out = new Array<boolean>(N).fill(false);
    for (const v of e.space.vmaInfo(e.region, N * e.ps)) {
      const from = Math.max(0, (v.start - e.region) / e.ps);
      const to = Math.min(N, (v.end - e.region) / e.ps);
      for (let p = from; p < to; p++) out[p] = true;
    }
    return out;
  };
  const mine = mapped(env);
  const theirs = mapped(model);
  space.munmap(arena, region - arena);
  space.munmap(region + N * ps, arena + arenaLen - (region + N * ps));
  for (let p = 0; p < N;) {
    if (!(mine[p] && theirs[p])) {
      p++;
      continue;
    }
    let q = p;
    while (q < N && mine[q] && theirs[q]) q++;
    space.munmap(region + p * ps, (q - p) * ps);
    p = q;
  }
}

/** An outcome: plain data, equal on both backends when the model is right. */
export type Outcome = Record<string, unknown>;

function errOutcome(e: unknown): Outcome {
  // A signal on the accessing thread has no ioctl result field, whatever the error's class.
  const c = (e as { code?: string }).code;
  if (c === 'SIGSEGV' || c === 'SIGBUS') return { err: c };
  if (e instanceof UffdError) {
    return { err: e.code, field: e.field ?? null, done: e.bytesDone };
  }
  return { err: 'EXCEPTION', message: String(e) };
}

function attempt(fn: () => unknown): Outcome {
  try {
    const v = fn();
    return { ok: typeof v === 'number' || typeof v === 'undefined' ? (v ?? true) : true };
  } catch (e) {
    return errOutcome(e);
  }
}

/** A value relative to the region (addresses differ between backends). */
function rel(env: Env, addr: number): number {
  return (addr - env.region) / env.ps;
}

export async function execute(env: Env, c: Cmd): Promise<Outcome> {
  const { space, ps } = env;
  const at = (p: number): number => env.region + p * ps;
  const clip = (o: number, l: number): number => Math.max(1, Math.min(l, N - o));
  switch (c.op) {
    case 'mmap':
      return attempt(() => {
        space.mmap(clip(c.off, c.len) * ps, {
          fixed: at(c.off),
          prot: c.prot,
          shared: c.shared,
          populate: c.populate,
        });
      });
    case 'munmap':
      return attempt(() => space.munmap(at(c.off), clip(c.off, c.len) * ps));
    case 'mprotect':
      return attempt(() => space.mprotect(at(c.off), clip(c.off, c.len) * ps, c.prot));
    case 'mlock':
      return attempt(() => space.mlock(at(c.off), clip(c.off, c.len) * ps, { onFault: c.onFault }));
    case 'munlock':
      return attempt(() => space.munlock(at(c.off), clip(c.off, c.len) * ps));
    case 'madvise':
      return attempt(() => space.madvise(at(c.off), clip(c.off, c.len) * ps, c.advice));
    case 'register':
      return attempt(() => {
        const r = env.uffds[c.u]!.register(at(c.off), clip(c.off, c.len) * ps, {
          missing: c.missing || !c.wp,
          wp: c.wp,
        });
        return [...r].join(',').length;
      });
    case 'unregister':
      return attempt(() => env.uffds[c.u]!.unregister(at(c.off), clip(c.off, c.len) * ps));
    case 'move':
      return attempt(() =>
        env.uffds[c.u]!.move(at(c.dst), at(c.src), clip(Math.max(c.dst, c.src), c.len) * ps, {
          allowSrcHoles: c.holes,
        }),
      );
    case 'copy': {
      const l = clip(Math.max(c.dst, c.src), c.len) * ps;
      const src =
        c.from === 'buffer'
          ? new Uint8Array(l).fill(c.fill)
          : at(c.src) + (c.from === 'arena+1' ? 1 : 0);
      return attempt(() => env.uffds[c.u]!.copy(at(c.dst), src, l));
    }
    case 'zeropage':
      return attempt(() => env.uffds[c.u]!.zeropage(at(c.off), clip(c.off, c.len) * ps));
    case 'poison':
      return attempt(() => env.uffds[c.u]!.poison(at(c.off), clip(c.off, c.len) * ps));
    case 'wp':
      return attempt(() =>
        env.uffds[c.u]!.writeProtect(at(c.off), clip(c.off, c.len) * ps, c.protect),
      );
    case 'fork': {
      if (env.children.length >= 2) return { skipped: true };
      env.children.push(await space.fork());
      return { ok: true };
    }
    case 'kill': {
      const child = env.children.pop();
      if (child === undefined) return { skipped: true };
      await child.kill();
      return { ok: true };
    }
    case 'mremap': {
      const ol = clip(c.off, c.oldLen) * ps;
      let nl = clip(c.off, c.newLen) * ps;
      if (c.kind === 'shrink') {
        const to = Math.max(ps, ol - c.newLen * ps);
        return attempt(() => rel(env, space.mremap(at(c.off), ol, to)));
      }
      if (c.kind === 'grow') {
        nl = ol + ps * clip(c.off, c.newLen);
        if (c.off * ps + nl > N * ps) return { skipped: true };
        return attempt(() => rel(env, space.mremap(at(c.off), ol, nl)));
      }
      const dontUnmap = c.kind === 'dontunmap';
      if (dontUnmap) nl = ol;
      if (c.to * ps + nl > N * ps) return { skipped: true };
      return attempt(() =>
        rel(env, space.mremap(at(c.off), ol, nl, { fixed: at(c.to), mayMove: true, dontUnmap })),
      );
    }
    case 'access':
      return access(env, at(c.off) + c.at, c.write, c.byte, c.resolve);
  }
}

/**
 * A thread's access (read or write of one byte). While it is blocked in a userfault, the fault
 * events are read from every uffd and resolved (COPY/ZEROPAGE for missing, unprotect for wp),
 * exactly the same way on both backends; the events are part of the outcome.
 */
async function access(
  env: Env,
  addr: number,
  write: boolean,
  byte: number,
  resolve: Resolve,
): Promise<Outcome> {
  const { space, ps } = env;
  let settled: Outcome | undefined;
  const p = write ? space.write(addr, new Uint8Array([byte])) : space.read(addr, 1);
  p.then(
    (v) => {
      settled = { ok: v === undefined ? true : Array.from(v as Uint8Array) };
    },
    (e) => {
      settled = errOutcome(e);
    },
  );
  const events: unknown[] = [];
  for (let spin = 0; settled === undefined; spin++) {
    await delay(spin < 20 ? 0 : 1);
    for (let i = 0; i < env.uffds.length; i++) {
      for (const ev of pendingEvents(env.uffds[i]!)) {
        if (ev.type !== 'pagefault') {
          events.push({ u: i, type: ev.type });
          continue;
        }
        const page = ev.address - (ev.address % ps);
        const uf = env.uffds[i]!;
        let how: Outcome;
        if (ev.kind === 'wp') how = attempt(() => uf.writeProtect(page, ps, false));
        else if (resolve === 'copy')
          how = attempt(() => uf.copy(page, new Uint8Array(ps).fill(7), ps));
        else how = attempt(() => uf.zeropage(page, ps));
        if ('err' in how) attempt(() => uf.wake(page, ps));
        events.push({ u: i, at: rel(env, page), kind: ev.kind, write: ev.write, how });
      }
    }
    if (spin > 1500) return { err: 'TIMEOUT', events };
  }
  return { ...settled, events };
}

let memFd: number | undefined;

/**
 * The bytes of a present page without touching it from a thread: /proc/self/mem on the kernel
 * (no fault for a present page, PROT_NONE included), the page store on the simulated side.
 */
function peek(space: AddressSpace, addr: number, len: number): Uint8Array {
  if (space.kind === 'simulated') {
    const d = (space as SimulatedSpace).peek(addr);
    const off = addr % space.pageSize;
    return d === undefined ? new Uint8Array(len) : d.slice(off, off + len);
  }
  memFd ??= fs.openSync('/proc/self/mem', 'r');
  const out = Buffer.alloc(len);
  fs.readSync(memFd, out, 0, len, addr);
  return out;
}

export interface Snapshot {
  vmas: number;
  /** Each VMA (clipped to the region, in pages from its start): perms, mlock, registration. */
  layout: string;
  pages: string;
  bytes: (number[] | string)[];
}

/** The state a test can see: VMA count and layout, pagemap of each page, first bytes of present pages. */
export async function snapshot(env: Env): Promise<Snapshot> {
  const { space, ps, region } = env;
  const info = space.pageInfo(region, N * ps);
  const bytes: (number[] | string)[] = [];
  for (let i = 0; i < N; i++) {
    bytes.push(info[i]!.present ? Array.from(peek(space, region + i * ps, 4)) : '-');
  }
  return {
    vmas: space.vmaCount(region, N * ps),
    layout: space
      .vmaInfo(region, N * ps)
      .map((v) => {
        const s = (Math.max(v.start, region) - region) / ps;
        const e = (Math.min(v.end, region + N * ps) - region) / ps;
        const u = `${v.uffd.missing ? 'm' : ''}${v.uffd.wp ? 'w' : ''}${v.uffd.minor ? 'i' : ''}`;
        return `${s}-${e} ${v.perms}${v.locked ? ' lo' : ''}${u ? ` u${u}` : ''}`;
      })
      .join(' | '),
    pages: info.map(pageCode).join(' '),
    bytes,
  };
}
