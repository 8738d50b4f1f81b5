/**
 * The package as the bench uses it: the built `dist/` (what users run, and what worker threads
 * load), typed from lib/. `npm run bench` builds dist/ first.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The repository root: the nearest directory upwards whose package.json is `userfaultfd`. */
export function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'userfaultfd') {
          return dir;
        }
      } catch {
        // not ours: keep looking
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('bench: cannot find the userfaultfd package root');
    dir = up;
  }
}

export type Pkg = typeof import('../../lib/index');
export type Uffd = import('../../lib/userfaultfd').Userfaultfd;

let cached: Pkg | undefined;
let pkgDir: string | undefined;

/**
 * Measure the package built in another checkout (`--pkg DIR`: its dist/ and addon), e.g. a
 * branch that has an API this one lacks. Must be called before the first pkg().
 */
export function setPkgRoot(dir: string): void {
  if (cached !== undefined) throw new Error('setPkgRoot() after the package was loaded');
  pkgDir = dir;
}

/** The checkout whose dist/ is measured (workers load it too). */
export function pkgRoot(): string {
  return pkgDir ?? repoRoot();
}

/** The built package (dist/). */
export function pkg(): Pkg {
  cached ??= require(join(pkgRoot(), 'dist')) as Pkg;
  return cached;
}

/** What the native resolver of the events issue returns (lib/ may not have it yet). */
export interface NativeResolverLike {
  counters(): Record<string, number | bigint>;
  stop(): unknown;
}
export interface ResolverRange {
  start: number;
  len: number;
  policy: 'zeropage' | 'copy' | 'move';
  source?: number;
}
type WithResolver = {
  startResolver?: (opts: { ranges: ResolverRange[] }) => NativeResolverLike;
};

/** `uffd.startResolver` when the package has it (events issue), else undefined. */
export function resolverOf(
  uffd: Uffd,
): ((opts: { ranges: ResolverRange[] }) => NativeResolverLike) | undefined {
  const f = (uffd as unknown as WithResolver).startResolver;
  return typeof f === 'function' ? f.bind(uffd) : undefined;
}

/** Whether `Userfaultfd.prototype.startResolver` exists in the built package. */
export function hasResolver(): boolean {
  const proto = pkg().Userfaultfd.prototype as unknown as WithResolver;
  return typeof proto.startResolver === 'function';
}
