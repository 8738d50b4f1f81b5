'use strict';
// Runs INSIDE the test container (scripts/test-docker.sh) and asserts what the package reports
// under one set of run flags. Prints one line per check and exits 1 if any failed.
//
//   node scripts/docker-check.js default         # no flags: seccomp -> EPERM, auto -> simulated
//   node scripts/docker-check.js profile         # --security-opt seccomp=docker/seccomp-userfaultfd.json
//   node scripts/docker-check.js profile-ptrace  # ... plus --cap-add SYS_PTRACE
//   node scripts/docker-check.js device          # --device /dev/userfaultfd (default seccomp)
//   node scripts/docker-check.js privileged      # --privileged
const { spawnSync } = require('child_process');
const path = require('path');

const root = path.join(__dirname, '..');
const mode = process.argv[2];
const uffd = require(root);
const { Userfaultfd, UffdError, doctor } = uffd;

let failed = 0;
function check(name, ok, detail = '') {
  if (!ok) failed++;
  console.log(`${ok ? 'PASS' : 'FAIL'} [${mode}] ${name}${detail ? `: ${detail}` : ''}`);
}
function pending(name, detail) {
  console.log(`PENDING [${mode}] ${name}: ${detail}`);
}

/** Userfaultfd.open(options): the uffd (closed again) or the error. */
function tryOpen(options) {
  try {
    const u = Userfaultfd.open(options);
    const r = { via: u.via, backend: u.backend, reason: u.fallbackReason };
    u.close();
    return r;
  } catch (e) {
    return { error: e };
  }
}

/** The quick-start example, end to end: a real fault served, a MOVE, an EEXIST. */
function quickStart() {
  const r = spawnSync(process.execPath, [path.join(root, 'examples', 'quick-start.js')], {
    encoding: 'utf8',
    timeout: 30000,
  });
  check(
    'examples/quick-start.js serves faults',
    r.status === 0 && /page first bytes: 1 2 3 4/.test(r.stdout) && /EEXIST/.test(r.stdout),
    r.status === 0 ? r.stdout.trim().split('\n').join(' | ') : `exit ${r.status}: ${r.stderr}`,
  );
}

const d = doctor();
const p = d.open.paths;
const paths = `userModeOnly=${p.userModeOnly.ok || p.userModeOnly.code} syscall=${p.syscall.ok || p.syscall.code} dev=${p.dev.ok || p.dev.code}`;
console.log(
  `doctor: seccomp=${d.seccomp.mode} CAP_SYS_PTRACE=${d.capabilities.sysPtrace} ${paths}`,
);

switch (mode) {
  case 'default': {
    check('doctor: not usable', d.ok === false && d.open.available === false);
    check('doctor: seccomp filter seen', d.seccomp.mode === 'filter', d.seccomp.mode);
    check(
      'doctor: every open path refused',
      p.userModeOnly.code === 'EPERM' && p.syscall.code === 'EPERM' && p.dev.code === 'ENOENT',
      paths,
    );
    const c = d.checks.find((x) => x.id === 'open.userModeOnly');
    check(
      'doctor: FAIL names the seccomp filter and the fix',
      c !== undefined &&
        c.status === 'fail' &&
        /seccomp/.test(c.summary) &&
        /--security-opt seccomp=\S+seccomp-userfaultfd\.json/.test(c.fix) &&
        /--privileged/.test(c.fix),
      c && c.fix,
    );
    const cli = spawnSync(process.execPath, [path.join(root, 'dist', 'cli.js'), 'doctor'], {
      encoding: 'utf8',
    });
    check(
      'doctor CLI: exit 1 and a FAIL line',
      cli.status === 1 && /\[FAIL\].*seccomp/.test(cli.stdout),
      `exit ${cli.status}`,
    );
    const k = tryOpen();
    check(
      'Userfaultfd.open(): UffdError EPERM from userfaultfd(2), naming seccomp',
      k.error instanceof UffdError &&
        k.error.code === 'EPERM' &&
        k.error.errno === -1 &&
        k.error.syscall === 'userfaultfd' &&
        /seccomp/.test(k.error.message),
      k.error ? `${k.error.code}: ${k.error.message}` : 'opened?!',
    );
    const a = tryOpen({ backend: 'auto' });
    let engine = {};
    try {
      engine = require(path.join(root, 'dist', 'engine'));
    } catch {
      // no engine directory at all
    }
    if (typeof engine.openSimulated === 'function') {
      check(
        "Userfaultfd.open({ backend: 'auto' }) falls back to the simulated engine, saying why",
        a.backend === 'simulated' && a.reason instanceof UffdError && a.reason.code === 'EPERM',
        a.error ? `threw ${a.error.code}: ${a.error.message}` : `backend=${a.backend}`,
      );
      check('doctor: auto backend = simulated', d.open.autoBackend === 'simulated');
    } else {
      // TODO(lead): the simulated engine (lib/engine openSimulated) is not in this branch yet.
      // Once it is, the branch above makes this a hard check.
      check(
        "Userfaultfd.open({ backend: 'auto' }) reaches the fallback with the EPERM cause",
        a.error instanceof UffdError &&
          a.error.code === 'ERR_UFFD_UNSUPPORTED' &&
          a.error.cause instanceof UffdError &&
          a.error.cause.code === 'EPERM',
        a.error ? `${a.error.code} (cause ${a.error.cause && a.error.cause.code})` : '',
      );
      pending(
        'auto backend -> simulated',
        'lib/engine has no openSimulated yet; the fallback could not be exercised',
      );
    }
    break;
  }
  case 'profile': {
    check('doctor: usable', d.ok);
    check('seccomp filter active', d.seccomp.mode === 'filter');
    check('USER_MODE_ONLY allowed by the profile', p.userModeOnly.ok === true, paths);
    check('userfaultfd(0) still EPERM without CAP_SYS_PTRACE', p.syscall.code === 'EPERM', paths);
    const k = tryOpen();
    check('Userfaultfd.open() via user-mode-only', k.via === 'user-mode-only', k.via);
    const km = tryOpen({ userModeOnly: false });
    check(
      'Userfaultfd.open({ userModeOnly: false }) is EPERM',
      km.error instanceof UffdError && km.error.code === 'EPERM',
    );
    quickStart();
    break;
  }
  case 'profile-ptrace': {
    check('doctor: usable', d.ok);
    check('CAP_SYS_PTRACE', d.capabilities.sysPtrace === true);
    check('both syscall paths allowed', p.userModeOnly.ok && p.syscall.ok, paths);
    const km = tryOpen({ userModeOnly: false });
    check('Userfaultfd.open({ userModeOnly: false }) via syscall', km.via === 'syscall', km.via);
    check('eventFork may be requested', tryOpen({ features: ['eventFork'] }).via !== undefined);
    quickStart();
    break;
  }
  case 'device': {
    check('doctor: usable', d.ok);
    check('default seccomp filter still active', d.seccomp.mode === 'filter');
    check(
      'the syscall is blocked, the device is not',
      p.userModeOnly.code === 'EPERM' && p.dev.ok,
      paths,
    );
    const k = tryOpen();
    check('Userfaultfd.open() falls back to /dev/userfaultfd', k.via === 'dev', k.via);
    const km = tryOpen({ userModeOnly: false });
    check('kernel-mode uffd through the device', km.via === 'dev', km.via);
    quickStart();
    break;
  }
  case 'privileged': {
    check('doctor: usable', d.ok);
    check('no seccomp filter', d.seccomp.mode === 'disabled');
    check('every path works', p.userModeOnly.ok && p.syscall.ok && p.dev.ok, paths);
    check('MOVE', d.features.move);
    quickStart();
    break;
  }
  default:
    console.error(`unknown mode ${mode}`);
    process.exit(2);
}
process.exitCode = failed ? 1 : 0;
