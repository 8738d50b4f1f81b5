'use strict';
// `npm run prebuildify` / `npm run prebuildify:arm64`: N-API prebuilds, stripped, in
// prebuilds/linux-<arch>/userfaultfd.glibc.node, which node-gyp-build (the loader in
// lib/binding.ts and the `install` script) picks before falling back to a source build.
//
//   node scripts/prebuild.js            # the host's arch (x64 here)
//   node scripts/prebuild.js --arch arm64   # cross-build with Debian's g++-aarch64-linux-gnu
//   ... --if-stale                          # only when native/ or binding.gyp is newer
//
// The build runs in a scratch copy of binding.gyp + native/ so the developer's build/ (which
// node-gyp-build prefers over prebuilds/) is never replaced by a foreign-arch binary.
// Headers: the running Node's own include/node (official tarballs and Debian/nodesource
// packages ship it), so nothing is downloaded from nodejs.org; N-API headers do not depend on
// the target arch. --tag-libc names the file *.glibc.node: on musl, node-gyp-build then skips it
// and the install script builds from source instead of loading a binary that cannot work.
const { spawnSync, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.join(__dirname, '..');
const args = process.argv.slice(2);
const archArg = args.indexOf('--arch');
const arch = archArg >= 0 ? args[archArg + 1] : process.arch;

// Cross toolchains by Node arch name: Debian package, GNU triplet, ELF e_machine.
const CROSS = {
  arm64: { pkg: 'g++-aarch64-linux-gnu', triplet: 'aarch64-linux-gnu', machine: 183 },
  x64: { pkg: 'g++-x86-64-linux-gnu', triplet: 'x86_64-linux-gnu', machine: 62 },
};

function die(msg) {
  console.error(`prebuild: ${msg}`);
  process.exit(1);
}

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function findPrebuildify() {
  if (process.env.PREBUILDIFY) return process.env.PREBUILDIFY;
  try {
    return require.resolve('prebuildify/bin.js', { paths: [root] });
  } catch {
    return die('prebuildify is not installed (it is a devDependency: run `npm install`)');
  }
}

function nodeHeaders() {
  // node-gyp honours npm_config_nodedir; set it to this Node's prefix when it has the headers.
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = path.join(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined;
}

const target = CROSS[arch];
if (!target) die(`unsupported --arch ${arch} (x64 or arm64)`);

if (args.includes('--if-stale')) {
  const mtime = (f) => fs.statSync(f).mtimeMs;
  const sources = [path.join(root, 'binding.gyp')].concat(
    fs.readdirSync(path.join(root, 'native')).map((f) => path.join(root, 'native', f)),
  );
  const dir = path.join(root, 'prebuilds', `linux-${arch}`);
  const built = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.node')) : [];
  const newest = Math.max(...sources.map(mtime));
  if (built.length > 0 && built.every((f) => mtime(path.join(dir, f)) > newest)) {
    console.log(`prebuilds/linux-${arch} is up to date`);
    process.exit(0);
  }
}
const env = { ...process.env };
const nodedir = nodeHeaders();
if (nodedir) env.npm_config_nodedir = nodedir;
let stripBin = 'strip';

if (arch !== process.arch) {
  const t = target.triplet;
  if (!have(`${t}-g++`)) {
    if (process.getuid?.() !== 0 || !have('apt-get')) {
      die(`${t}-g++ is missing: apt-get install ${target.pkg} (Debian/Ubuntu)`);
    }
    console.log(`> apt-get install -y ${target.pkg}`);
    let r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', target.pkg], {
      stdio: 'inherit',
    });
    if (r.status !== 0) {
      spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
      r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', target.pkg], {
        stdio: 'inherit',
      });
    }
    if (r.status !== 0) die(`apt-get install ${target.pkg} failed`);
  }
  Object.assign(env, { CC: `${t}-gcc`, CXX: `${t}-g++`, LINK: `${t}-g++`, AR: `${t}-ar` });
  stripBin = `${t}-strip`;
}

const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'uffd-prebuild-'));
try {
  fs.copyFileSync(path.join(root, 'binding.gyp'), path.join(stage, 'binding.gyp'));
  fs.copyFileSync(path.join(root, 'package.json'), path.join(stage, 'package.json'));
  fs.cpSync(path.join(root, 'native'), path.join(stage, 'native'), { recursive: true });
  // node-addon-api and node-gyp resolve from the project's node_modules.
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(stage, 'node_modules'));
  const pbArgs = [
    findPrebuildify(),
    '--napi',
    '--strip',
    '--tag-libc',
    '--arch',
    arch,
    '--strip-bin',
    stripBin,
    '--out',
    root,
    stage,
  ];
  console.log(
    `> prebuildify ${pbArgs.slice(1).join(' ')}${nodedir ? ` (nodedir ${nodedir})` : ''}`,
  );
  const r = spawnSync(process.execPath, pbArgs, { cwd: stage, env, stdio: 'inherit' });
  if (r.status !== 0) die(`prebuildify failed (exit ${r.status})`);
} finally {
  fs.rmSync(stage, { recursive: true, force: true });
}

// Check what was produced: the right ELF machine, stripped, and the library versions it needs.
const dir = path.join(root, 'prebuilds', `linux-${arch}`);
for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.node'))) {
  const file = path.join(dir, f);
  const head = Buffer.alloc(20);
  const fd = fs.openSync(file, 'r');
  fs.readSync(fd, head, 0, 20, 0);
  fs.closeSync(fd);
  const machine = head.readUInt16LE(18);
  if (head.toString('latin1', 1, 4) !== 'ELF' || machine !== target.machine) {
    die(`${file}: not an ELF for ${arch} (e_machine ${machine})`);
  }
  let needs = '';
  try {
    const readelf = arch === process.arch ? 'readelf' : `${target.triplet}-readelf`;
    const out = execFileSync(readelf, ['-W', '--version-info', '--dynamic', file], {
      encoding: 'utf8',
    });
    const libs = [...out.matchAll(/Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
    const max = (re) =>
      [...new Set([...out.matchAll(re)].map((m) => m[1]))]
        .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
        .pop();
    needs = ` needs ${libs.join(' ')}; GLIBC_${max(/GLIBC_([0-9.]+)/g)}`;
    const cxx = max(/GLIBCXX_([0-9.]+)/g);
    if (cxx) needs += ` GLIBCXX_${cxx}`;
  } catch {
    // readelf is optional: the ELF header check above is the one that matters
  }
  console.log(`${path.relative(root, file)}: ${fs.statSync(file).size} bytes, ${arch}${needs}`);
}
