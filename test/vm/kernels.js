'use strict';
// `npm run test:kernels`: the package's tests on other kernels and page sizes, in QEMU guests
// (TCG: nested KVM does not work on the machines this was written on, and TCG is what runs a
// foreign arch anyway).
//
//   guest            kernel (Debian)              page size  UFFD_FEATURE_MOVE
//   x86_64-6.1       bookworm 6.1 amd64           4K         no   (the MOVE-less path)
//   arm64-6.1        bookworm 6.1 arm64           4K         no
//   arm64-6.12       bookworm-backports 6.12      4K         yes
//   arm64-6.12-16k   bookworm-backports 6.12-16k  16K        yes  (-cpu max: 16K granule)
//   arm64-6.12-64k   self-built (build-64k-kernel.sh), only when cached: 64K, yes
//
// Each guest boots the kernel with an initramfs holding a static /init (vminit.c), the Node of
// the host's version for that arch, its shared libraries, and /app: the package as `npm pack`
// produced it (with the x64 and arm64 prebuilds, loaded by node-gyp-build) plus the guest
// runner (guest/run.js) and, unless --no-jest, the jest suites compiled to JS with jest itself.
// The host passes the expectations (page size, MOVE) on the kernel command line.
//
// Options: --only id[,id]  --no-jest  --jest-args "<args>"  --env K=V[,K=V]  --jobs N
//          --verbose  --keep  --time-scale N (test deadlines × N in the guests; default 4)
//          --jest id="<args>" (repeatable: jest only in the named guests, each with its own args;
//          the other guests run the smoke checks only; CI uses this, see .ci/kernels)
//          --build-64k (build the 64K-page kernel first when it is not cached; ~6 min)
//          --script FILE (run FILE in each guest instead of the tests: a quick probe)
// Env: UFFD_VM_CACHE (downloads; default ~/.cache/userfaultfd-vm), UFFD_VM_64K (a 64K Image),
//      CI=true (a missing tool, kernel or guest is a failure, never a skip).
const { spawn, spawnSync, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const fetch = require('./fetch');
const { CpioWriter } = require('./cpio');
const { stageSuite } = require('./suite');

const root = path.join(__dirname, '..', '..');
const CI = process.env.CI === 'true';
const argv = process.argv.slice(2);
const opt = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
// --script FILE: run FILE (plain JS, copied to /app/guest) in each guest instead of the runner;
// its output is shown and its exit status is the verdict (a quick probe on another kernel).
const SCRIPT = opt('--script');
/** The jest suites are staged and run at all (not with --no-jest, nor with --script). */
const JEST_ENABLED = !argv.includes('--no-jest') && SCRIPT === undefined;
const VERBOSE = argv.includes('--verbose') || SCRIPT !== undefined;
const started = Date.now();
// --jest id="args" (repeatable): jest runs in these guests only, each with its own arguments.
const JEST_PER_GUEST = new Map();
argv.forEach((a, i) => {
  if (a !== '--jest') return;
  const m = /^([\w.-]+)=(.*)$/s.exec(argv[i + 1] ?? '');
  if (!m) throw new Error(`--jest ${argv[i + 1]}: want guest="jest args"`);
  JEST_PER_GUEST.set(m[1], m[2]);
});
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;

const GUESTS = [
  { id: 'x86_64-6.1', arch: 'x86_64', pageSize: 4096, move: false, timeout: 480 },
  { id: 'arm64-6.1', arch: 'arm64', pageSize: 4096, move: false, timeout: 300 },
  { id: 'arm64-6.12', arch: 'arm64', pageSize: 4096, move: true, timeout: 300 },
  { id: 'arm64-6.12-16k', arch: 'arm64', pageSize: 16384, move: true, timeout: 300 },
  {
    id: 'arm64-6.12-64k',
    arch: 'arm64',
    pageSize: 65536,
    move: true,
    timeout: 300,
    optional: true,
  },
];

// Tool -> Debian package. Installed with apt-get when missing (root only).
const TOOLS = {
  'qemu-system-x86_64': 'qemu-system-x86',
  'qemu-system-aarch64': 'qemu-system-arm',
  'aarch64-linux-gnu-gcc': 'gcc-aarch64-linux-gnu',
  'aarch64-linux-gnu-g++': 'g++-aarch64-linux-gnu',
  'aarch64-linux-gnu-strip': 'binutils-aarch64-linux-gnu',
  cc: 'gcc',
  readelf: 'binutils',
  strip: 'binutils',
  'dpkg-deb': 'dpkg',
  'apt-get': 'apt',
  '/usr/share/keyrings/debian-archive-keyring.gpg': 'debian-archive-keyring',
  // libc6-dev: the static libc that vminit links against
  '/usr/lib/x86_64-linux-gnu/libc.a': 'libc6-dev',
};

function have(tool) {
  if (tool.startsWith('/')) return fs.existsSync(tool);
  return spawnSync('sh', ['-c', `command -v '${tool}'`], { stdio: 'ignore' }).status === 0;
}

function ensureTools() {
  const missing = Object.keys(TOOLS).filter((t) => !have(t));
  if (missing.length === 0) return [];
  const pkgs = [...new Set(missing.map((t) => TOOLS[t]))];
  if (process.getuid?.() === 0 && have('apt-get')) {
    console.log(`> apt-get install -y ${pkgs.join(' ')}`);
    const install = () =>
      spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...pkgs], {
        stdio: 'inherit',
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      }).status === 0;
    if (!install()) {
      spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
      install();
    }
  }
  return Object.keys(TOOLS).filter((t) => !have(t));
}

/** Runs a command quietly; on failure prints its output and throws. */
function quiet(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.status !== 0) {
    process.stdout.write(r.stdout ?? '');
    process.stderr.write(r.stderr ?? '');
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status})`);
  }
  return r.stdout;
}

/** The shared libraries `elf` needs, found in `libDirs`, recursively (readelf reads any arch). */
function neededLibs(elfs, libDirs) {
  const found = new Map();
  const visit = (file) => {
    const out = execFileSync('readelf', ['-dW', file], { encoding: 'utf8' });
    for (const [, lib] of out.matchAll(/Shared library: \[([^\]]+)\]/g)) {
      if (found.has(lib)) continue;
      const dir = libDirs.find((d) => fs.existsSync(path.join(d, lib)));
      if (!dir) throw new Error(`${lib} (needed by ${file}) not found in ${libDirs.join(', ')}`);
      const p = fs.realpathSync(path.join(dir, lib));
      found.set(lib, p);
      visit(p);
    }
  };
  elfs.forEach(visit);
  return found;
}

const ARCH = {
  x86_64: {
    libDirs: ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu'],
    interp: ['lib64/ld-linux-x86-64.so.2', 'ld-linux-x86-64.so.2'],
    qemu: ['qemu-system-x86_64', '-accel', 'tcg', '-cpu', 'max'],
    console: 'ttyS0',
  },
  arm64: {
    libDirs: ['/usr/aarch64-linux-gnu/lib'],
    interp: ['lib/ld-linux-aarch64.so.1', 'ld-linux-aarch64.so.1'],
    // -cpu max: the only CPU model with the 16K and 64K granules (cortex-a57 hangs a 16K
    // kernel); pauth-impdef: a cheaper pointer-auth algorithm under TCG.
    qemu: ['qemu-system-aarch64', '-M', 'virt', '-accel', 'tcg', '-cpu', 'max,pauth-impdef=on'],
    console: 'ttyAMA0',
  },
};

/** The guest image of one arch: /init, /node/bin/node + libraries, /app. */
function buildInitramfs(arch, node, appDir, out) {
  const a = ARCH[arch];
  const w = new CpioWriter(out);
  for (const d of ['dev', 'proc', 'sys', 'tmp', 'lib', 'app']) w.dir(d);
  w.file('init', fetch.vminit(arch), 0o755);
  w.file('node/bin/node', node, 0o755);
  const addons = [];
  const findAddons = (dir) => {
    for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, d.name);
      if (d.isDirectory()) findAddons(p);
      else if (d.name.endsWith('.node') && p.includes(arch === 'arm64' ? 'arm64' : 'x64')) {
        addons.push(p);
      }
    }
  };
  findAddons(appDir);
  const libs = neededLibs([node, ...addons], a.libDirs);
  for (const [name, file] of libs) w.file(`lib/${name}`, file, 0o755);
  const [interpPath, interpName] = a.interp;
  if (!libs.has(interpName)) {
    const dir = a.libDirs.find((d) => fs.existsSync(path.join(d, interpName)));
    w.file(`lib/${interpName}`, fs.realpathSync(path.join(dir, interpName)), 0o755);
  }
  if (interpPath !== `lib/${interpName}`) w.symlink(interpPath, `/lib/${interpName}`);
  // Skip the other arch's prebuild and anything a guest never reads (the suite's README.md is
  // read: the eco and readme-example tests compare it with examples/).
  const other = arch === 'arm64' ? 'linux-x64' : 'linux-arm64';
  w.tree(
    'app',
    appDir,
    (rel) =>
      rel.endsWith(`prebuilds/${other}`) ||
      (/\.(map|md|d\.ts)$/.test(rel) && rel !== 'suite/README.md'),
  );
  return w.close();
}

/** /app: the packed package + node-gyp-build, the guest runner, and the compiled suites. */
function stageApp(stage, withJest) {
  const app = path.join(stage, 'app');
  fs.mkdirSync(path.join(app, 'node_modules'), { recursive: true });
  const packed = JSON.parse(
    quiet('npm', ['pack', '--json', '--pack-destination', stage], { cwd: root }),
  )[0];
  const tgz = path.join(stage, packed.filename);
  quiet('tar', ['-x', '-z', '-f', tgz, '-C', stage]);
  fs.renameSync(path.join(stage, 'package'), path.join(app, 'node_modules', 'userfaultfd'));
  // The package's one runtime dependency (node-addon-api is for source builds only).
  fs.cpSync(
    path.dirname(require.resolve('node-gyp-build/package.json', { paths: [root] })),
    path.join(app, 'node_modules', 'node-gyp-build'),
    { recursive: true },
  );
  fs.cpSync(path.join(__dirname, 'guest'), path.join(app, 'guest'), { recursive: true });
  if (SCRIPT) fs.copyFileSync(SCRIPT, path.join(app, 'guest', path.basename(SCRIPT)));
  let suites = [];
  if (withJest) {
    suites = stageSuite(
      root,
      path.join(app, 'suite'),
      path.join(app, 'node_modules', 'userfaultfd'),
    );
  }
  return { app, tarball: packed.filename, suites };
}

/**
 * The guest's hard limit: its smoke budget, plus 15 minutes when the jest suites run (a cap for a
 * hang, not an expected time: CI's full set takes 5–7 minutes in an arm64 guest at load 2, and
 * TCG runs about half as fast at load 4-5).
 */
function timeoutOf(guest) {
  return guest.timeout + (runsJest(guest) ? 900 : 0);
}

/** Whether jest runs in this guest: not with --no-jest or --script; with --jest, where named. */
function runsJest(guest) {
  return JEST_ENABLED && (JEST_PER_GUEST.size === 0 || JEST_PER_GUEST.has(guest.id));
}

/** Boots one guest; resolves { ok, code, result, log, seconds }. */
function boot(guest, kernel, initrd, logFile) {
  const a = ARCH[guest.arch];
  const env = [
    `UFFD_EXPECT_PAGESIZE=${guest.pageSize}`,
    `UFFD_EXPECT_MOVE=${guest.move ? 1 : 0}`,
    'UFFD_EXPECT_PREBUILD=1',
    `CI=${CI ? 'true' : 'false'}`,
  ];
  // Words on the kernel command line cannot hold spaces: the runner splits on commas.
  const jestArgs = JEST_PER_GUEST.size > 0 ? JEST_PER_GUEST.get(guest.id) : opt('--jest-args');
  if (!runsJest(guest)) env.push('UFFD_NO_JEST=1');
  if (jestArgs) env.push(`UFFD_JEST_ARGS=${jestArgs.trim().replace(/\s+/g, ',')}`);
  // Deadlines in the tests scale with the guest (test/helpers/time.ts): TCG runs Node several
  // times slower than the host, more so on a busy host. --time-scale N overrides.
  env.push(`UFFD_TEST_TIME_SCALE=${opt('--time-scale') ?? 4}`);
  env.push(`UFFD_DEADLINE=${timeoutOf(guest) - 45}`);
  // --env K=V[,K=V]: extra guest environment (e.g. UFFD_DIFF_RUNS=200 to bound fast-check runs)
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] !== '--env') continue;
    for (const kv of (argv[i + 1] ?? '').split(',').filter(Boolean)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*=\S*$/.test(kv)) throw new Error(`--env ${kv}: want KEY=VALUE`);
      env.push(kv);
    }
  }
  const append = [`console=${a.console}`, 'panic=-1', 'quiet', ...env];
  const script = SCRIPT ? path.basename(SCRIPT) : 'run.js';
  append.push('--', '/node/bin/node', `/app/guest/${script}`);
  const args = [
    ...a.qemu.slice(1),
    '-smp',
    '2',
    '-m',
    '2048',
    '-nographic',
    '-no-reboot',
    '-nic',
    'none',
    '-kernel',
    kernel,
    '-initrd',
    initrd,
    '-append',
    append.join(' '),
  ];
  const t0 = Date.now();
  return new Promise((resolve) => {
    const log = fs.createWriteStream(logFile);
    log.write(`$ ${a.qemu[0]} ${args.join(' ')}\n`);
    const child = spawn(a.qemu[0], args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let partial = ''; // the serial console arrives in pieces: echo whole lines only
    const onData = (d) => {
      const s = d.toString().replace(/\r/g, '');
      out += s;
      log.write(s);
      if (!VERBOSE) return;
      const lines = (partial + s).split('\n');
      partial = lines.pop();
      for (const l of lines) process.stdout.write(`  [${guest.id}] ${l}\n`);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    let timedOut = false;
    const timer = setTimeout(
      () => {
        timedOut = true;
        child.kill('SIGKILL');
      },
      timeoutOf(guest) * 1000,
    );
    child.on('close', (code) => {
      clearTimeout(timer);
      log.end();
      const seconds = (Date.now() - t0) / 1000;
      const m = /VMINIT exit=(\d+)/.exec(out);
      const r = /^VMRESULT (.*)$/m.exec(out);
      let result;
      try {
        result = r ? JSON.parse(r[1]) : undefined;
      } catch {
        result = undefined;
      }
      let why;
      if (timedOut) why = `timed out after ${timeoutOf(guest)} s`;
      else if (!m) why = `no VMINIT status (qemu exit ${code}: the kernel or /init failed)`;
      else if (result && !result.ok) {
        const parts = [];
        if (result.smoke?.fail) parts.push(`smoke ${result.smoke.fail} failed`);
        if (result.jest?.fail) parts.push(`jest ${result.jest.fail} failed`);
        if (result.jest?.hung?.length) parts.push(`${result.jest.hung.length} suite(s) hung`);
        if (result.aborted) parts.push('runner aborted');
        why = parts.join(', ') || `guest runner exit ${m[1]}`;
      } else if (m[1] !== '0') why = `guest exit ${m[1]}`;
      const ok = !why && (SCRIPT !== undefined || result?.ok === true);
      resolve({ ok, why, result, out, seconds });
    });
  });
}

function row(cells, widths) {
  return cells.map((c, i) => String(c).padEnd(widths[i])).join('  ');
}

async function main() {
  if (process.arch !== 'x64') throw new Error('test:kernels cross-builds from an x64 host');
  const only = opt('--only')?.split(',');
  const withJest = JEST_ENABLED;
  let guests = GUESTS.filter((g) => !only || only.includes(g.id));
  for (const id of JEST_PER_GUEST.keys()) {
    if (!guests.some((g) => g.id === id)) throw new Error(`--jest ${id}: no such guest selected`);
  }
  if (guests.length === 0) throw new Error(`--only matches no guest (${GUESTS.map((g) => g.id)})`);

  console.log(`> tools (+${elapsed()})`);
  const missing = ensureTools();
  if (missing.length > 0) {
    const msg = `missing tools: ${missing.join(', ')} (Debian packages: ${[...new Set(missing.map((t) => TOOLS[t]))].join(' ')})`;
    if (CI) throw new Error(msg);
    console.log(`SKIP test:kernels: ${msg}`);
    return 0;
  }

  console.log(`> prebuilds (+${elapsed()})`);
  for (const arch of ['x64', 'arm64']) {
    quiet(process.execPath, [
      path.join(root, 'scripts', 'prebuild.js'),
      '--arch',
      arch,
      '--if-stale',
    ]);
  }

  if (argv.includes('--build-64k') && !fetch.kernel64k()) {
    console.log(`> build the 64K-page kernel (~6 min) (+${elapsed()})`);
    const r = spawnSync(path.join(__dirname, 'build-64k-kernel.sh'), [], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error('build-64k-kernel.sh failed');
  }

  console.log(`> downloads (cache ${fetch.cacheDir()}) (+${elapsed()})`);
  const kernels = fetch.kernels(guests.filter((g) => !g.optional).map((g) => g.id));
  const k64 = fetch.kernel64k();
  if (k64) kernels['arm64-6.12-64k'] = k64;
  guests = guests.filter((g) => {
    if (kernels[g.id]) return true;
    console.log(`  ${g.id}: no kernel cached (build it with test/vm/build-64k-kernel.sh): not run`);
    return false;
  });
  const nodes = {};
  if (guests.some((g) => g.arch === 'x86_64')) nodes.x86_64 = fetch.nodeHost();
  if (guests.some((g) => g.arch === 'arm64')) nodes.arm64 = fetch.nodeArm64();

  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'uffd-vm-'));
  const logs = path.join(fetch.cacheDir(), 'logs');
  fs.mkdirSync(logs, { recursive: true });
  const results = [];
  try {
    console.log(
      `> npm pack + stage /app${withJest ? ' (with the jest suites)' : ''} (+${elapsed()})`,
    );
    const { app, tarball, suites } = stageApp(stage, withJest);
    console.log(`  ${tarball}; jest suites: ${suites.length ? suites.join(' ') : '(none)'}`);
    const images = {};
    for (const arch of Object.keys(nodes)) {
      images[arch] = path.join(stage, `${arch}.cpio`);
      const size = buildInitramfs(arch, nodes[arch], app, images[arch]);
      console.log(`  initramfs ${arch}: ${(size / 2 ** 20).toFixed(0)} MiB`);
    }

    // Guests run --jobs at a time (default: one per 2 host CPUs; each guest has 2 vCPUs).
    const jobs = Math.max(1, Number(opt('--jobs') ?? Math.floor(os.cpus().length / 2)));
    const queue = [...guests];
    const worker = async () => {
      for (let g = queue.shift(); g; g = queue.shift()) {
        console.log(`> boot ${g.id} (${path.basename(kernels[g.id])}) (+${elapsed()})`);
        const logFile = path.join(logs, `${g.id}.log`);
        const r = await boot(g, kernels[g.id], images[g.arch], logFile);
        results.push({ guest: g, ...r });
        const tail = r.ok ? '' : `; ${r.why ?? 'checks failed'}; console log: ${logFile}`;
        console.log(`  ${g.id}: ${r.ok ? 'PASS' : 'FAIL'} in ${r.seconds.toFixed(0)} s${tail}`);
        if (!r.ok && !VERBOSE) {
          const lines = r.out
            .split('\n')
            .filter((l) => /not ok|Error|FAIL|HUNG|●|panic|VMINIT/.test(l));
          console.log(
            lines
              .slice(-40)
              .map((l) => `  | ${l}`)
              .join('\n'),
          );
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(jobs, guests.length) }, worker));
    results.sort((a, b) => GUESTS.indexOf(a.guest) - GUESTS.indexOf(b.guest));
  } finally {
    if (argv.includes('--keep')) console.log(`kept ${stage}`);
    else fs.rmSync(stage, { recursive: true, force: true });
  }

  const head = ['guest', 'kernel', 'page', 'MOVE', 'features', 'smoke', 'jest', 'time', 'result'];
  const rows = results.map(({ guest: g, ok, result: v, seconds, why }) => {
    const feats = v?.features ?? [];
    const jest = v?.jest
      ? `${v.jest.pass}/${v.jest.pass + v.jest.fail}`
      : runsJest(g)
        ? '-'
        : 'off';
    return [
      g.id,
      v?.kernel ?? '?',
      v?.pageSize ?? '?',
      v?.features ? (feats.includes('move') ? 'yes' : 'no') : '?',
      v?.features ? `${feats.length}` : '?',
      v?.smoke ? `${v.smoke.pass}/${v.smoke.pass + v.smoke.fail}` : '-',
      jest,
      `${seconds.toFixed(0)} s`,
      ok ? 'PASS' : `FAIL${why ? ` (${why})` : ''}`,
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  console.log(`\n${row(head, widths)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  for (const r of rows) console.log(row(r, widths));
  const failed = results.filter((r) => !r.ok).length;
  console.log(
    `\ntest:kernels: ${results.length - failed}/${results.length} guests passed in ${elapsed()}`,
  );
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`test:kernels FAILED: ${e.stack ?? e}`);
    process.exit(1);
  },
);
