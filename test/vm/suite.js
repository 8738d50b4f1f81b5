'use strict';
// Stages the project's jest suites for a guest that has Node and nothing else: the TypeScript
// (lib/ and test/, minus test/vm) is compiled to CommonJS on the host with tsc, and jest runs the
// compiled *.test.js with `transform: {}`, so neither ts-jest nor typescript (23 MB) goes into the
// initramfs; only the packages the compiled tests require (jest, fast-check, ...) and their
// dependency closure do. The tree mirrors the repository, so lib/binding.ts still finds the addon
// through node-gyp-build at the suite root (prebuilds/) and workers still load dist/.
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const fetch = require('./fetch');

/**
 * Suites the guests do not run, each for a reason the guest cannot supply (it has Node and the
 * staged suite, no compiler, no typescript, no coreutils):
 */
const HOST_ONLY = new Map([
  // compiles the package with typescript's tsc (deliberately not staged: 23 MB) to check the
  // ESM/CJS entry points; the guest already loads the packed package through smoke.js
  [path.join('test', 'eco', 'esm-cjs.test.ts'), 'needs typescript (tsc)'],
  // spawns `getconf PAGESIZE` and `setpriv` to check `userfaultfd doctor` against the system's
  // own tools; the guest has neither (smoke.js checks the page size against AT_PAGESZ)
  [path.join('test', 'eco', 'doctor.test.ts'), 'needs getconf and setpriv'],
  // X6/X7 need a swap device: the guests have no disk (ramfs cannot hold swap) and no
  // dd/mkswap/swapon
  [path.join('test', 'native', 'probe-x-swap.test.ts'), 'needs a swap device'],
  // the same rows in the engine's probe table (the other rows run in probe-table.test.ts)
  [path.join('test', 'engine', 'probe-table-swap.test.ts'), 'needs a swap device'],
  // switches to nobody with setpriv, grants /dev/userfaultfd with setfacl/getfacl and scans the
  // lib/ and native/ sources; the guests have none of these (the host job and the podman
  // containers run it)
  [
    path.join('test', 'reliability', 'privileges.test.ts'),
    'needs setpriv, setfacl and the sources',
  ],
]);

/** test/**\/*.test.ts, except this directory's own files and HOST_ONLY. */
function findSuites(root) {
  const out = [];
  const walk = (dir) => {
    for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, d.name);
      const rel = path.relative(root, p);
      if (d.isDirectory() && rel !== path.join('test', 'vm')) walk(p);
      else if (d.isFile() && d.name.endsWith('.test.ts') && !HOST_ONLY.has(rel)) out.push(rel);
    }
  };
  if (fs.existsSync(path.join(root, 'test'))) walk(path.join(root, 'test'));
  return out.sort();
}

/** The package directory `name` resolves to from `from`, or undefined. */
function resolvePackage(name, from) {
  for (let d = from; ; d = path.dirname(d)) {
    const p = path.join(d, 'node_modules', name);
    if (fs.existsSync(path.join(p, 'package.json'))) return p;
    if (path.dirname(d) === d) return undefined;
  }
}

/**
 * Copies `names` and their dependency closure from root/node_modules into dest/node_modules,
 * keeping the hoisted layout (a nested node_modules stays nested inside its parent's copy).
 */
function copyClosure(root, names, dest) {
  const seen = new Set();
  const visit = (dir) => {
    const real = fs.realpathSync(dir);
    if (seen.has(real)) return;
    seen.add(real);
    const pj = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    const deps = { ...pj.dependencies, ...pj.optionalDependencies, ...pj.peerDependencies };
    for (const n of Object.keys(deps)) {
      const p = resolvePackage(n, dir);
      if (p) visit(p);
    }
  };
  for (const n of names) {
    const p = resolvePackage(n, root);
    if (!p) throw new Error(`${n} is not installed in ${root}/node_modules`);
    visit(p);
  }
  const skip = /(\.(md|markdown|map|d\.ts|d\.mts|d\.cts|ts\.map)|LICENSE[^/]*|CHANGELOG[^/]*)$/i;
  // Native dependencies ship per-platform packages as optionalDependencies, and npm installed
  // only the host's (e.g. jest's resolver @unrs/resolver-binding-linux-x64-gnu). Add the arm64
  // glibc ones, fetched from the registry into the download cache.
  const extra = [];
  for (const dir of seen) {
    const pj = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    for (const [n, v] of Object.entries(pj.optionalDependencies ?? {})) {
      if (/linux-arm64(-gnu|-glibc)?$/.test(n) && !resolvePackage(n, dir)) extra.push([n, v]);
    }
  }
  for (const [n, v] of extra) {
    fs.cpSync(fetch.npmPackage(n, v), path.join(dest, 'node_modules', n), { recursive: true });
  }
  const modules = fs.realpathSync(path.join(root, 'node_modules'));
  for (const dir of seen) {
    const rel = path.relative(modules, dir);
    if (rel.startsWith('..')) continue; // outside node_modules (a linked package): not needed
    fs.cpSync(dir, path.join(dest, 'node_modules', rel), {
      recursive: true,
      dereference: true,
      // nested node_modules are copied on their own when they are in the closure
      filter: (src) =>
        !skip.test(src) && !path.relative(dir, src).split(path.sep).includes('node_modules'),
    });
  }
  return seen.size;
}

/** Bare package names that the compiled JS under `dir` requires. */
function requiredPackages(dir) {
  const names = new Set();
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.js')) {
        const src = fs.readFileSync(p, 'utf8');
        for (const [, spec] of src.matchAll(/require\(["']([^"'./][^"']*)["']\)/g)) {
          if (spec.startsWith('node:')) continue;
          const parts = spec.split('/');
          const name = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
          if (!require('module').builtinModules.includes(name)) names.add(name);
        }
      }
    }
  };
  walk(dir);
  return [...names];
}

/**
 * Stages the suites into `dest` (…/app/suite). Returns the suite paths (test/x/y.test.ts), or
 * [] when the project has none. `pkgDir` is the unpacked package (its dist/ and prebuilds/).
 */
function stageSuite(root, dest, pkgDir) {
  const suites = findSuites(root);
  if (suites.length === 0) return [];
  fs.mkdirSync(dest, { recursive: true });
  const tsconfig = path.join(dest, 'tsconfig.vm.json');
  fs.writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: path.join(root, 'tsconfig.json'),
      compilerOptions: {
        rootDir: root,
        outDir: dest,
        noEmit: false,
        declaration: false,
        sourceMap: false,
        incremental: false,
      },
      include: [path.join(root, 'lib', '**', '*.ts'), path.join(root, 'test', '**', '*.ts')],
      exclude: [path.join(root, 'test', 'vm')],
    }),
  );
  const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
  const r = spawnSync(process.execPath, [tsc, '-p', tsconfig], { encoding: 'utf8' });
  // Type errors are the lint step's business; what matters here is that JS was emitted.
  if (r.status !== 0 && !fs.existsSync(path.join(dest, suites[0].replace(/\.ts$/, '.js')))) {
    throw new Error(`tsc failed:\n${r.stdout}${r.stderr}`);
  }
  fs.rmSync(tsconfig);
  // What the tests read or spawn besides compiled TypeScript: plain JS scenarios and C peers under
  // test/ (not test/vm), and the README and examples the eco tests check and run.
  const copyData = (rel) => {
    const from = path.join(root, rel);
    if (!fs.existsSync(from)) return;
    fs.cpSync(from, path.join(dest, rel), {
      recursive: true,
      filter: (src) => !src.endsWith('.ts') && path.relative(root, src) !== path.join('test', 'vm'),
    });
  };
  const staged = [
    'test',
    'examples',
    'README.md',
    path.join('scripts', 'run-examples.js'),
    // spawned by test/reliability/bad-input.test.ts and load.test.ts
    path.join('scripts', 'fuzz.js'),
    path.join('scripts', 'fuzz'),
    path.join('scripts', 'soak.js'),
  ];
  for (const rel of staged) {
    copyData(rel);
  }
  // The guests have no compiler: C peers and helpers (test/events/peers/*.c, spawned by
  // processes.test.ts; test/reliability/fixtures/*.c, by fail-loud and privileges through
  // compileC) are built here, static, once per guest arch, as <name>.<process.arch> beside the
  // source; the tests use such a binary when it exists and run `cc` otherwise (the host).
  for (const peers of [
    path.join(dest, 'test', 'events', 'peers'),
    path.join(dest, 'test', 'reliability', 'fixtures'),
  ]) {
    if (!fs.existsSync(peers)) continue;
    for (const c of fs.readdirSync(peers).filter((f) => f.endsWith('.c'))) {
      for (const [arch, cc] of [
        ['x64', 'cc'],
        ['arm64', 'aarch64-linux-gnu-gcc'],
      ]) {
        const out = path.join(peers, `${c.slice(0, -2)}.${arch}`);
        const r = spawnSync(cc, ['-O2', '-Wall', '-static', '-o', out, path.join(peers, c)], {
          encoding: 'utf8',
        });
        if (r.status !== 0) throw new Error(`${cc} ${c} failed:\n${r.stdout}${r.stderr}`);
      }
    }
  }
  // The addon (prebuilds for node-gyp-build at the root lib/binding.js loads from) and dist/.
  fs.cpSync(path.join(pkgDir, 'prebuilds'), path.join(dest, 'prebuilds'), { recursive: true });
  fs.cpSync(path.join(pkgDir, 'dist'), path.join(dest, 'dist'), { recursive: true });
  fs.copyFileSync(path.join(root, 'package.json'), path.join(dest, 'package.json'));
  const base = require(path.join(root, 'jest.config.js'));
  const toJs = (v) => (typeof v === 'string' ? v.replace(/\.ts$/, '.js') : v);
  const config = {
    ...base,
    rootDir: '.',
    transform: {},
    testMatch: (base.testMatch ?? ['**/*.test.ts']).map((m) => m.replace(/\.ts$/, '.js')),
    testPathIgnorePatterns: [
      '/node_modules/',
      '/test/vm/',
      ...[...HOST_ONLY.keys()].map((rel) => `/${rel.replace(/\.ts$/, '.js')}$`),
    ],
    // per-suite lines that survive a hung suite (guest/jest-reporter.js, beside the suite)
    reporters: ['default', '<rootDir>/../guest/jest-reporter.js'],
    // TCG runs 3-10x slower than the host: scale the per-test budget, not the assertions.
    testTimeout: (base.testTimeout ?? 5000) * 4,
  };
  for (const k of ['setupFiles', 'setupFilesAfterEach', 'setupFilesAfterEnv']) {
    if (Array.isArray(base[k])) config[k] = base[k].map(toJs);
  }
  for (const k of ['globalSetup', 'globalTeardown']) if (base[k]) config[k] = toJs(base[k]);
  fs.writeFileSync(
    path.join(dest, 'jest.config.js'),
    `'use strict';\nmodule.exports = ${JSON.stringify(config, null, 2)};\n`,
  );
  const wanted = ['jest', 'node-gyp-build', ...requiredPackages(path.join(dest, 'test'))].filter(
    (n) => n !== 'userfaultfd',
  );
  copyClosure(root, [...new Set(wanted)], dest);
  // the guest runner compares this count with the reporter's to tell a hung suite
  fs.writeFileSync(path.join(dest, 'suites.json'), JSON.stringify(suites));
  return suites;
}

module.exports = { stageSuite, findSuites, HOST_ONLY };
