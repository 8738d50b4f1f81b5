'use strict';
// `npm run test:pack`: what a user gets from the registry, on a machine without a compiler.
//
// 1. Makes sure prebuilds/linux-<arch> is current (scripts/prebuild.js --if-stale).
// 2. `npm pack`s the package (which runs `prepare`: the TypeScript build) and checks the file
//    list: dist/ (CommonJS + ESM + types), native/ sources, binding.gyp, the prebuild; no build/.
// 3. Checks the symbol versions every prebuild in the tarball needs (scripts/elf-versions.js,
//    cross-checked with `readelf -V`): none may be above the baseline the README promises,
//    glibc 2.31 and the libstdc++ of GCC 10 (the build container's Debian 11). Under CI=true
//    both linux-x64 and linux-arm64 must be there.
// 4. Installs the tarball into a fresh temporary directory twice, with PATH reduced to node, npm
//    and sh (no cc, c++, make or python, so node-gyp cannot build): once with --ignore-scripts, and
//    once with scripts on (the `install` script is node-gyp-build, which must find the prebuild
//    and not try to compile).
// 5. In each, runs test/vm/guest/smoke.js against the installed copy with UFFD_EXPECT_PREBUILD=1
//    (the addon must come from prebuilds/, a real COPY/ZEROPAGE/MOVE round trip and served
//    faults), and imports the ESM entry.
// Exit status 1 on any failure. ~15 s when the prebuild is current.
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const { BASELINE, versionNeeds, newestNeeds, aboveBaseline } = require('./elf-versions');

const root = path.join(__dirname, '..');
const started = Date.now();
const COMPILERS = ['cc', 'gcc', 'c++', 'g++', 'clang', 'make', 'python3', 'python'];

function step(label) {
  console.log(`\n> ${label} (+${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.status !== 0) {
    console.error(r.stdout ?? '', r.stderr ?? '');
    throw new Error(
      `${cmd} ${args.join(' ')} failed (exit ${r.status}${r.error ? `: ${r.error.message}` : ''})`,
    );
  }
  return r.stdout;
}

/** A directory holding only node, npm and sh: the PATH of a machine with no build tools. */
function barePath(dir) {
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  // npm's own entry point (npm-cli.js), wherever this system installed it
  const which = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim();
  if (!which) throw new Error('npm is not on PATH');
  const npmCli = fs.realpathSync(which);
  const npxCli = path.join(path.dirname(npmCli), 'npx-cli.js');
  fs.symlinkSync(npmCli, path.join(bin, 'npm'));
  fs.symlinkSync(npxCli, path.join(bin, 'npx'));
  // npm runs lifecycle scripts with sh -c; a shell is not a build tool
  fs.symlinkSync(fs.realpathSync('/bin/sh'), path.join(bin, 'sh'));
  for (const c of COMPILERS) {
    const w = spawnSync('sh', ['-c', `command -v ${c}`], { env: { PATH: bin } });
    if (w.status === 0) throw new Error(`${c} is still reachable on the bare PATH`);
  }
  return bin;
}

/** The environment of the install: no npm_* variables from `npm run`, a bare PATH. */
function bareEnv(bin, extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^npm_/i.test(k) && k !== 'PATH' && k !== 'INIT_CWD') env[k] = v;
  }
  return { ...env, PATH: bin, ...extra };
}

/** The version needs `readelf -V` lists, or undefined when there is no readelf. */
function readelfNeeds(file) {
  const r = spawnSync('readelf', ['-W', '-V', file], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return undefined;
  const section = r.stdout.split(/Version needs section/)[1] ?? '';
  return [...section.matchAll(/Name: (\S+)/g)].map((m) => m[1]).sort();
}

/** Fails when a prebuild needs a symbol version above the baseline (see the header). */
function checkBaseline(prebuilds) {
  const bad = [];
  for (const rel of prebuilds.filter((f) => f.endsWith('.node'))) {
    const file = path.join(root, rel);
    const needs = versionNeeds(file);
    // Every glibc addon needs some GLIBC_ version of libc.so.6: finding none means the parser
    // read nothing, and the check below would pass vacuously.
    if (!(needs.get('libc.so.6') ?? []).some((v) => v.startsWith('GLIBC_'))) {
      throw new Error(`${rel}: no GLIBC_ version needs found in libc.so.6`);
    }
    const mine = [...new Set([...needs.values()].flat())].sort();
    const theirs = readelfNeeds(file);
    if (theirs === undefined && process.env.CI === 'true') {
      throw new Error('readelf (binutils) is missing: the cross-check needs it under CI=true');
    }
    if (theirs && [...new Set(theirs)].join(' ') !== mine.join(' ')) {
      throw new Error(`${rel}: readelf -V lists ${theirs.join(' ')}; elf-versions.js ${mine}`);
    }
    const newest = Object.entries(newestNeeds(needs)).map(([k, v]) => `${k}_${v}`);
    console.log(`${rel}: newest ${newest.join(' ')}${theirs ? ' (readelf agrees)' : ''}`);
    const above = aboveBaseline(needs);
    if (above.length) bad.push(`${rel} needs ${above.join(', ')}`);
  }
  if (bad.length) {
    throw new Error(
      `above the baseline (${BASELINE.label}): ${bad.join('; ')}. Rebuild them in the ` +
        'bullseye container (npm run prebuildify / prebuildify:arm64, see scripts/prebuild.js).',
    );
  }
}

function main() {
  step('prebuild (if stale)');
  run(process.execPath, [path.join(root, 'scripts', 'prebuild.js'), '--if-stale'], {
    stdio: 'inherit',
  });

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uffd-pack-'));
  let ok = false;
  try {
    step('npm pack');
    const packed = JSON.parse(
      run('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: root }),
    )[0];
    const files = packed.files.map((f) => f.path);
    const tgz = path.join(tmp, packed.filename);
    const must = [
      'package.json',
      'binding.gyp',
      'dist/index.js',
      'dist/index.mjs',
      'dist/index.d.ts',
      'native/uapi.h',
      `prebuilds/linux-${process.arch}/userfaultfd.glibc.node`,
    ];
    for (const f of must) if (!files.includes(f)) throw new Error(`${f} is not in the tarball`);
    const stray = files.filter((f) => /^(build|node_modules|test|lib)\//.test(f));
    if (stray.length) throw new Error(`unexpected files in the tarball: ${stray.join(', ')}`);
    const prebuilds = files.filter((f) => f.startsWith('prebuilds/'));
    console.log(
      `${packed.filename}: ${files.length} files, ${(packed.size / 1024).toFixed(0)} KiB; ` +
        prebuilds.join(' '),
    );

    step('prebuild symbol versions');
    if (process.env.CI === 'true') {
      for (const a of ['x64', 'arm64']) {
        const f = `prebuilds/linux-${a}/userfaultfd.glibc.node`;
        if (!files.includes(f)) throw new Error(`${f} is not in the tarball (CI=true)`);
      }
    }
    checkBaseline(prebuilds);

    const bin = barePath(tmp);
    for (const mode of ['--ignore-scripts', 'with install scripts']) {
      const app = path.join(tmp, mode === '--ignore-scripts' ? 'app-noscripts' : 'app-scripts');
      fs.mkdirSync(app);
      fs.writeFileSync(
        path.join(app, 'package.json'),
        JSON.stringify({ name: 'uffd-pack-test', version: '1.0.0', private: true }),
      );
      step(`npm install ${packed.filename} ${mode}, no compiler on PATH`);
      const args = ['install', '--no-audit', '--no-fund', '--prefer-offline', tgz];
      if (mode === '--ignore-scripts') args.push('--ignore-scripts');
      run('npm', args, { cwd: app, env: bareEnv(bin), stdio: 'inherit' });
      if (fs.existsSync(path.join(app, 'node_modules', 'userfaultfd', 'build'))) {
        throw new Error(
          'the install produced a build/ directory: it compiled instead of using the prebuild',
        );
      }

      step(`smoke test of the installed package (${mode})`);
      fs.copyFileSync(
        path.join(__dirname, '..', 'test', 'vm', 'guest', 'smoke.js'),
        path.join(app, 'smoke.js'),
      );
      run(process.execPath, ['smoke.js'], {
        cwd: app,
        env: bareEnv(bin, { UFFD_EXPECT_PREBUILD: '1' }),
        stdio: 'inherit',
      });
      const esm =
        "import { probe, pageSize, Userfaultfd } from 'userfaultfd';" +
        "if (typeof Userfaultfd.open !== 'function' || !probe().available) process.exit(1);" +
        'console.log(`esm entry ok (page size ${pageSize})`);';
      run(process.execPath, ['--input-type=module', '-e', esm], {
        cwd: app,
        env: bareEnv(bin),
        stdio: 'inherit',
      });
    }
    ok = true;
  } finally {
    if (ok || !process.env.UFFD_KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true });
    else console.log(`kept ${tmp}`);
  }
  console.log(`\ntest:pack passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

try {
  main();
} catch (e) {
  console.error(`\ntest:pack FAILED: ${e.message}`);
  process.exit(1);
}
