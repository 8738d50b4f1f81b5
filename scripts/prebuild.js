'use strict';
// `npm run prebuildify` / `npm run prebuildify:arm64`: N-API prebuilds, stripped, in
// prebuilds/linux-<arch>/userfaultfd.glibc.node, which node-gyp-build (the loader in
// lib/binding.ts and the `install` script) picks before falling back to a source build.
//
//   node scripts/prebuild.js                # the host's arch (x64 here)
//   node scripts/prebuild.js --arch arm64   # cross-built with Debian's g++-aarch64-linux-gnu
//   ... --if-stale    # only when native/ or binding.gyp is newer, or the file misses the baseline
//   ... --host        # skip the container: this host's toolchain (a local experiment; not in CI)
//
// Which glibc the prebuilds need. A binary binds each libc/libstdc++ symbol to the newest version
// of it in the glibc it was LINKED against, and an older glibc refuses to load it ("version
// `GLIBC_2.34' not found"). Built on Debian 12 (glibc 2.36, GCC 12) the addon needed GLIBC_2.34
// and GLIBCXX_3.4.29, so it failed on Debian 11, Ubuntu 20.04 and others where Node 20 runs.
// So the build runs in a Debian 11 "bullseye" container (glibc 2.31, g++ 10 and
// g++-aarch64-linux-gnu 10, the oldest Debian the archive still serves): the files then load on
// glibc >= 2.31 with the libstdc++ of GCC >= 10 (scripts/elf-versions.js BASELINE; test:pack
// checks every prebuild against it). Elsewhere npm builds from source (the `install` script).
//
// The container: podman (rootful, runc) running a local image, debootstrapped from
// deb.debian.org with the compilers and imported (`podman import`), so no registry is needed;
// made once (about 4 min here: debootstrap 165 s, import 35 s; 1.2 GB) and cached under a tag
// that names its recipe (localhost/userfaultfd-prebuild:bullseye-<hash>); with it, a build takes
// as long as on the host (the container adds about 1 s). The build runs with --network none: this
// Node binary, its headers (include/node: official tarballs and Debian/nodesource packages ship
// them; N-API headers do not depend on the target arch) and node_modules (node-gyp,
// node-addon-api, prebuildify) are mounted read-only, so nothing is downloaded. The x64 file is
// then loaded by Node inside the container, against bullseye's own glibc and libstdc++.
// Missing podman/runc/debootstrap are installed with apt-get when root. When the container is
// unavailable (not root, no podman, a Node that cannot run in bullseye) the build falls back to
// this host's toolchain with a warning, and test:pack then rejects files above the baseline;
// under CI=true an unavailable container is a failure. Env: PREBUILD_IMAGE (another image with
// node-gyp's needs: python3, make, g++, the cross g++), PREBUILD_MIRROR (the Debian mirror),
// CONTAINERS_CONF (default as in scripts/test-docker.sh). When bullseye leaves deb.debian.org
// for archive.debian.org, PREBUILD_MIRROR=http://archive.debian.org/debian should do (untested:
// unreachable here); a cached image keeps working.
//
// The build runs in a scratch copy of binding.gyp + native/ so the developer's build/ (which
// node-gyp-build prefers over prebuilds/) is never replaced by a foreign-arch binary.
// --tag-libc names the file *.glibc.node: on musl, node-gyp-build then skips it and the install
// script builds from source instead of loading a binary that cannot work.
const { spawnSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { BASELINE, versionNeeds, newestNeeds, aboveBaseline } = require('./elf-versions');

const root = path.join(__dirname, '..');
const args = process.argv.slice(2);
const archArg = args.indexOf('--arch');
const arch = archArg >= 0 ? args[archArg + 1] : process.arch;
const CI = process.env.CI === 'true';
const started = Date.now();

// Cross toolchains by Node arch name: Debian package, GNU triplet, ELF e_machine.
const CROSS = {
  arm64: { pkg: 'g++-aarch64-linux-gnu', triplet: 'aarch64-linux-gnu', machine: 183 },
  x64: { pkg: 'g++-x86-64-linux-gnu', triplet: 'x86_64-linux-gnu', machine: 62 },
};

// The build container: Debian 11 and what node-gyp needs (python3, make, g++) plus the cross g++
// for the other arch. The tag hashes this recipe, so changing it makes a new image.
const SUITE = 'bullseye';
const PACKAGES = ['g++', 'make', 'python3'].concat(
  Object.keys(CROSS)
    .filter((a) => a !== process.arch)
    .map((a) => CROSS[a].pkg),
);
const MIRROR = process.env.PREBUILD_MIRROR || 'http://deb.debian.org/debian';
const recipe = crypto
  .createHash('sha256')
  .update(`${SUITE} ${PACKAGES.join(',')}`)
  .digest('hex');
const IMAGE =
  process.env.PREBUILD_IMAGE || `localhost/userfaultfd-prebuild:${SUITE}-${recipe.slice(0, 8)}`;
const CONTAINERS_CONF = process.env.CONTAINERS_CONF || '/tmp/userfaultfd-containers.conf';

function die(msg) {
  console.error(`prebuild: ${msg}`);
  process.exit(1);
}

function secs(since) {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function isRoot() {
  return process.getuid?.() === 0;
}

/** apt-get install, with one `apt-get update` retry (a fresh machine has no package lists). */
function aptInstall(pkgs) {
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], {
      stdio: 'inherit',
    }).status === 0;
  console.log(`> apt-get install -y ${pkgs.join(' ')}`);
  if (install()) return true;
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  return install();
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
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))
    ? path.resolve(prefix)
    : undefined;
}

/** The prebuildify command line, building `stage` into `out`/prebuilds/linux-<arch>. */
function prebuildifyArgs(prebuildify, stripBin, stage, out) {
  return [
    prebuildify,
    '--napi',
    '--strip',
    '--tag-libc',
    '--arch',
    arch,
    '--strip-bin',
    stripBin,
    '--out',
    out,
    stage,
  ];
}

const target = CROSS[arch];
if (!target) die(`unsupported --arch ${arch} (x64 or arm64)`);
const cross = arch !== process.arch;
const outDir = path.join(root, 'prebuilds', `linux-${arch}`);

if (args.includes('--if-stale')) {
  const mtime = (f) => fs.statSync(f).mtimeMs;
  const sources = [path.join(root, 'binding.gyp')].concat(
    fs.readdirSync(path.join(root, 'native')).map((f) => path.join(root, 'native', f)),
  );
  const built = fs.existsSync(outDir)
    ? fs.readdirSync(outDir).filter((f) => f.endsWith('.node'))
    : [];
  const newest = Math.max(...sources.map(mtime));
  const fresh = (f) => {
    const file = path.join(outDir, f);
    if (mtime(file) <= newest) return false;
    try {
      return aboveBaseline(versionNeeds(file)).length === 0;
    } catch {
      return false;
    }
  };
  if (built.length > 0 && built.every(fresh)) {
    console.log(`prebuilds/linux-${arch} is up to date`);
    process.exit(0);
  }
}

// ---- the container path -----------------------------------------------------------------------

/** podman's config for this host, as scripts/test-docker.sh writes it. */
function containersConf() {
  if (fs.existsSync(CONTAINERS_CONF)) return;
  // runc: crun 1.8 refuses hosts with a hybrid cgroup v1/v2 layout. ulimits: podman's default
  // RLIMIT_NOFILE of 1048576 fails where root lacks CAP_SYS_RESOURCE, so use the shell's limit.
  const hard = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim();
  fs.writeFileSync(
    CONTAINERS_CONF,
    `[containers]\ndefault_ulimits = ["nofile=${hard}:${hard}", "nproc=20000:20000"]\n` +
      '[engine]\nruntime = "runc"\n',
  );
}

function podman(podmanArgs, opts = {}) {
  return spawnSync('podman', podmanArgs, {
    encoding: 'utf8',
    env: { ...process.env, CONTAINERS_CONF },
    ...opts,
  });
}

/** Debootstraps the build image (root only). Returns undefined, or why it could not. */
function makeImage() {
  const t = Date.now();
  const rootfs = fs.mkdtempSync(path.join(os.tmpdir(), 'uffd-prebuild-rootfs-'));
  try {
    console.log(
      `> debootstrap --variant=minbase --include=${PACKAGES.join(',')} ${SUITE} (${MIRROR})`,
    );
    const d = spawnSync(
      'debootstrap',
      ['--variant=minbase', `--include=${PACKAGES.join(',')}`, SUITE, rootfs, MIRROR],
      { encoding: 'utf8', maxBuffer: 64 << 20 },
    );
    if (d.status !== 0) {
      return `debootstrap ${SUITE} failed (exit ${d.status}): ${(d.stderr || d.stdout).trim().split('\n').pop()}`;
    }
    // The downloaded .debs are ~250 MB the image does not need.
    const debs = path.join(rootfs, 'var', 'cache', 'apt', 'archives');
    for (const f of fs.readdirSync(debs)) if (f.endsWith('.deb')) fs.rmSync(path.join(debs, f));
    console.log(`  debootstrap: ${secs(t)}`);
    const t2 = Date.now();
    const imp = spawnSync(
      'sh',
      ['-c', 'tar -C "$1" -c . | podman import -q - "$2" >/dev/null', 'sh', rootfs, IMAGE],
      { encoding: 'utf8', env: { ...process.env, CONTAINERS_CONF } },
    );
    if (imp.status !== 0) return `podman import failed: ${imp.stderr.trim()}`;
    console.log(`  podman import: ${secs(t2)}`);
    return undefined;
  } finally {
    fs.rmSync(rootfs, { recursive: true, force: true });
  }
}

/** Makes the container path ready. Returns undefined when it is, or why it is not. */
function containerReady(nodedir) {
  if (process.platform !== 'linux') return 'not Linux';
  if (!nodedir) return 'no local Node headers (include/node) to mount; set npm_config_nodedir';
  const custom = Boolean(process.env.PREBUILD_IMAGE);
  const tools = ['podman', 'runc'].concat(custom ? [] : ['debootstrap']);
  const missing = tools.filter((c) => !have(c));
  if (missing.length) {
    if (!isRoot() || !have('apt-get'))
      return `${missing.join(', ')} missing (not root: no apt-get)`;
    if (!aptInstall(['podman', 'runc', 'uidmap', 'debootstrap'])) {
      return 'apt-get install podman runc uidmap debootstrap failed';
    }
  }
  containersConf();
  if (podman(['image', 'exists', IMAGE]).status !== 0) {
    if (custom) {
      const pull = podman(['pull', IMAGE], { stdio: 'inherit' });
      if (pull.status !== 0) return `podman pull ${IMAGE} failed`;
    } else {
      if (!isRoot()) return `image ${IMAGE} is missing and debootstrap needs root`;
      const why = makeImage();
      if (why) return why;
    }
  }
  // The Node binary must run in the image (a Node linked to a newer glibc, or to a shared
  // libnode the image lacks, would not).
  const v = podman([
    'run',
    '--rm',
    '--network',
    'none',
    '-v',
    `${fs.realpathSync(process.execPath)}:/usr/local/bin/node:ro`,
    IMAGE,
    'node',
    '--version',
  ]);
  if (v.status !== 0 || v.stdout.trim() !== process.version) {
    return `this Node (${process.execPath}) does not run in ${IMAGE}: ${(v.stderr || v.stdout).trim()}`;
  }
  return undefined;
}

/** Builds `stage` in the container; the result lands in stage/prebuilds/linux-<arch>. */
function containerBuild(stage, nodedir, prebuildify) {
  // Mounted read-only at their own paths, so the stage's node_modules symlink and prebuildify's
  // own require() resolve as on the host; the headers go where npm_config_nodedir points.
  const nodeModules = fs.realpathSync(path.join(root, 'node_modules'));
  const prebuildifyModules = path.dirname(path.dirname(fs.realpathSync(prebuildify)));
  const headers = path.join(nodedir, 'include', 'node');
  const mounts = [
    `${stage}:${stage}`,
    `${fs.realpathSync(process.execPath)}:/usr/local/bin/node:ro`,
    `${fs.realpathSync(headers)}:${headers}:ro`,
  ];
  for (const dir of new Set([nodeModules, prebuildifyModules])) mounts.push(`${dir}:${dir}:ro`);
  const env = { HOME: '/tmp', npm_config_nodedir: nodedir };
  let stripBin = 'strip';
  if (cross) {
    const t = target.triplet;
    Object.assign(env, { CC: `${t}-gcc`, CXX: `${t}-g++`, LINK: `${t}-g++`, AR: `${t}-ar` });
    stripBin = `${t}-strip`;
  }
  const run = ['run', '--rm', '--network', 'none', '-w', stage];
  for (const m of mounts) run.push('-v', m);
  for (const [k, v] of Object.entries(env)) run.push('-e', `${k}=${v}`);
  run.push(IMAGE, 'node');
  const pbArgs = prebuildifyArgs(fs.realpathSync(prebuildify), stripBin, stage, stage);
  console.log(`> in ${IMAGE}: prebuildify ${pbArgs.slice(1).join(' ')} (nodedir ${nodedir})`);
  const r = podman([...run, ...pbArgs], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`prebuildify in ${IMAGE} failed (exit ${r.status})`);
  if (!cross) {
    // Loaded against the image's own glibc and libstdc++: the baseline, for real.
    const file = path.join(stage, 'prebuilds', `linux-${arch}`, 'userfaultfd.glibc.node');
    const check =
      `require(${JSON.stringify(file)});` +
      "const os = require('fs').readFileSync('/etc/os-release', 'utf8');" +
      'const name = /PRETTY_NAME="(.*)"/.exec(os)[1];' +
      'const glibc = process.report.getReport().header.glibcVersionRuntime;' +
      'console.log(`  it loads in ${name}, glibc ${glibc}`);';
    const load = podman([...run, '-e', check]);
    if (load.status !== 0) {
      throw new Error(`the prebuild does not load in ${IMAGE}: ${load.stderr.trim()}`);
    }
    process.stdout.write(load.stdout);
  }
}

// ---- the host path (fallback) -------------------------------------------------------------------

function hostBuild(stage, nodedir, prebuildify) {
  const env = { ...process.env };
  if (nodedir) env.npm_config_nodedir = nodedir;
  let stripBin = 'strip';
  if (cross) {
    const t = target.triplet;
    if (!have(`${t}-g++`)) {
      if (!isRoot() || !have('apt-get')) {
        throw new Error(`${t}-g++ is missing: apt-get install ${target.pkg} (Debian/Ubuntu)`);
      }
      if (!aptInstall([target.pkg])) throw new Error(`apt-get install ${target.pkg} failed`);
    }
    Object.assign(env, { CC: `${t}-gcc`, CXX: `${t}-g++`, LINK: `${t}-g++`, AR: `${t}-ar` });
    stripBin = `${t}-strip`;
  }
  const pbArgs = prebuildifyArgs(prebuildify, stripBin, stage, stage);
  console.log(
    `> prebuildify ${pbArgs.slice(1).join(' ')}${nodedir ? ` (nodedir ${nodedir})` : ''}`,
  );
  const r = spawnSync(process.execPath, pbArgs, { cwd: stage, env, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`prebuildify failed (exit ${r.status})`);
}

// ---- main ---------------------------------------------------------------------------------------

const nodedir = nodeHeaders();
const prebuildify = findPrebuildify();
let inContainer = false;
if (args.includes('--host')) {
  if (CI) die('--host under CI=true: shipped prebuilds are built in the baseline container');
} else {
  const t = Date.now();
  const why = containerReady(nodedir);
  if (!why) {
    inContainer = true;
    console.log(`prebuild: ${IMAGE} ready (${secs(t)})`);
  } else if (CI) {
    die(`the ${SUITE} build container is unavailable under CI=true: ${why}`);
  } else {
    console.warn(
      `prebuild: WARNING: the ${SUITE} build container is unavailable (${why}); building with ` +
        `this host's toolchain, so the file needs this host's glibc (test:pack rejects it if ` +
        `that is above ${BASELINE.label}).`,
    );
  }
}

const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'uffd-prebuild-'));
let failed;
try {
  fs.copyFileSync(path.join(root, 'binding.gyp'), path.join(stage, 'binding.gyp'));
  fs.copyFileSync(path.join(root, 'package.json'), path.join(stage, 'package.json'));
  fs.cpSync(path.join(root, 'native'), path.join(stage, 'native'), { recursive: true });
  // node-addon-api and node-gyp resolve from the project's node_modules.
  fs.symlinkSync(
    fs.realpathSync(path.join(root, 'node_modules')),
    path.join(stage, 'node_modules'),
  );
  const t = Date.now();
  if (inContainer) containerBuild(stage, nodedir, prebuildify);
  else hostBuild(stage, nodedir, prebuildify);
  console.log(`prebuild: built in ${secs(t)}${inContainer ? ` (${SUITE} container)` : ' (host)'}`);
  const built = path.join(stage, 'prebuilds', `linux-${arch}`);
  fs.mkdirSync(outDir, { recursive: true });
  for (const f of fs.readdirSync(built)) fs.copyFileSync(path.join(built, f), path.join(outDir, f));
} catch (e) {
  failed = e.message;
} finally {
  fs.rmSync(stage, { recursive: true, force: true });
}
if (failed) die(failed);

// Check what was produced: the right ELF machine, stripped, and the symbol versions it needs.
for (const f of fs.readdirSync(outDir).filter((n) => n.endsWith('.node'))) {
  const file = path.join(outDir, f);
  const head = Buffer.alloc(20);
  const fd = fs.openSync(file, 'r');
  fs.readSync(fd, head, 0, 20, 0);
  fs.closeSync(fd);
  const machine = head.readUInt16LE(18);
  if (head.toString('latin1', 1, 4) !== 'ELF' || machine !== target.machine) {
    die(`${file}: not an ELF for ${arch} (e_machine ${machine})`);
  }
  const needs = versionNeeds(file);
  const newest = Object.entries(newestNeeds(needs))
    .map(([k, v]) => `${k}_${v}`)
    .join(' ');
  console.log(
    `${path.relative(root, file)}: ${fs.statSync(file).size} bytes, ${arch}, ` +
      `needs ${[...needs.keys()].join(' ')}; newest ${newest}`,
  );
  const above = aboveBaseline(needs);
  if (above.length) {
    const msg = `${f} needs ${above.join(', ')}: above the baseline (${BASELINE.label})`;
    // From the container this is a regression (of the image or the code); from the host
    // fallback it is expected, and said loudly.
    if (inContainer) die(msg);
    console.warn(`prebuild: WARNING: ${msg}; it will not load on older systems`);
  }
}
console.log(`prebuild: done in ${secs(started)}`);
