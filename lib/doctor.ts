/**
 * `doctor()`: everything that decides whether userfaultfd works in this process, read from the
 * system, plus the exact fix for each failure. It only reads: it opens and closes throwaway
 * userfaultfds through `probe()` and reads /proc and /sys; it never changes a sysctl, a
 * capability or a device's permissions.
 *
 * Who may create a userfaultfd (spec §1.1, userfaultfd(2), Documentation/admin-guide/mm/
 * userfaultfd.rst):
 * - `userfaultfd(UFFD_USER_MODE_ONLY)` (5.11+): always allowed by the kernel; only a seccomp
 *   filter or an LSM can refuse it (EPERM). Such an fd cannot trap faults taken in kernel mode.
 * - `userfaultfd(0)`: needs CAP_SYS_PTRACE or vm.unprivileged_userfaultfd=1, else EPERM.
 * - `/dev/userfaultfd` + USERFAULTFD_IOC_NEW (6.1+): no capability or sysctl check, only the
 *   device file's permissions (0600 root by default: EACCES).
 * - Requesting UFFD_FEATURE_EVENT_FORK needs CAP_SYS_PTRACE (spec §1.4).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { arch, release } from 'node:os';
import { join } from 'node:path';
import { native, nativeAvailable } from './binding';
import { probe, type ProbeResult } from './probe';

export type CheckStatus = 'ok' | 'info' | 'warn' | 'fail';

/** One diagnosis: what was found and, when it is not ok, the exact fix. */
export interface DoctorCheck {
  id: string;
  status: CheckStatus;
  summary: string;
  fix?: string;
}

export interface DoctorReport {
  /** Bumped when a field changes meaning. */
  schema: 1;
  /** True when some open path works and UFFDIO_API succeeds. */
  ok: boolean;
  package: { name: string; version: string };
  node: { version: string; platform: string; arch: string };
  process: { uid: number | null; user: string | null };
  addon: { loaded: boolean; path: string | null; error: string | null };
  kernel: { release: string; version: [number, number, number] | null; arch: string };
  pageSize: number | null;
  open: {
    available: boolean;
    /** The path probe() found first (user-mode-only, syscall, dev). */
    via: ProbeResult['via'] | null;
    code: string | null;
    paths: ProbeResult['paths'];
    /** What `Userfaultfd.open()` (userModeOnly: true, the default) would use. */
    defaultPath: 'user-mode-only' | 'dev' | null;
    /** What `Userfaultfd.open({ userModeOnly: false })` would use (kernel-mode faults). */
    kernelModePath: 'syscall' | 'dev' | null;
    /** What `Userfaultfd.open({ backend: 'auto' })` would give. */
    autoBackend: 'kernel' | 'simulated' | 'none';
  };
  features: { names: string[]; move: boolean; eventForkAllowed: boolean };
  sysctl: { unprivilegedUserfaultfd: number | null };
  capabilities: { effective: string | null; names: string[]; sysPtrace: boolean | null };
  seccomp: { mode: 'disabled' | 'strict' | 'filter' | 'unknown'; filters: number | null };
  device: {
    path: '/dev/userfaultfd';
    exists: boolean;
    mode: string | null;
    owner: string | null;
    group: string | null;
    /** true/false when known; null when neither getfacl nor `ls` could tell. */
    acl: boolean | null;
    aclEntries: string[] | null;
  };
  thp: {
    enabled: string | null;
    defrag: string | null;
    shmemEnabled: string | null;
    pmdSize: number | null;
  };
  memlock: { soft: string | null; hard: string | null };
  container: { hints: string[] };
  /** The seccomp profile shipped with the package (the default profile plus userfaultfd). */
  seccompProfile: string;
  checks: DoctorCheck[];
}

/** capabilities(7) bit numbers, as in <linux/capability.h>. */
const CAP_NAMES = [
  'CHOWN',
  'DAC_OVERRIDE',
  'DAC_READ_SEARCH',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'SETPCAP',
  'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE',
  'NET_BROADCAST',
  'NET_ADMIN',
  'NET_RAW',
  'IPC_LOCK',
  'IPC_OWNER',
  'SYS_MODULE',
  'SYS_RAWIO',
  'SYS_CHROOT',
  'SYS_PTRACE',
  'SYS_PACCT',
  'SYS_ADMIN',
  'SYS_BOOT',
  'SYS_NICE',
  'SYS_RESOURCE',
  'SYS_TIME',
  'SYS_TTY_CONFIG',
  'MKNOD',
  'LEASE',
  'AUDIT_WRITE',
  'AUDIT_CONTROL',
  'SETFCAP',
  'MAC_OVERRIDE',
  'MAC_ADMIN',
  'SYSLOG',
  'WAKE_ALARM',
  'BLOCK_SUSPEND',
  'AUDIT_READ',
  'PERFMON',
  'BPF',
  'CHECKPOINT_RESTORE',
] as const;

export const CAP_SYS_PTRACE = 19;

/** Names of the capability bits set in a CapEff-style hex mask ('CAP_SYS_PTRACE', 'CAP_40'...). */
export function decodeCapabilities(hex: string): string[] {
  const mask = BigInt(`0x${hex}`);
  const out: string[] = [];
  for (let b = 0; b < 64; b++) {
    if ((mask >> BigInt(b)) & 1n) out.push(`CAP_${CAP_NAMES[b] ?? String(b)}`);
  }
  return out;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** A `Key:\tvalue` field of /proc/self/status. */
function statusField(status: string | null, key: string): string | null {
  if (status === null) return null;
  const m = new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(status);
  return m ? (m[1] as string).trim() : null;
}

/** The bracketed choice of a sysfs THP knob ('always [madvise] never' -> 'madvise'). */
function bracketed(path: string): string | null {
  const t = readText(path);
  if (t === null) return null;
  const m = /\[([^\]]+)\]/.exec(t);
  return m ? (m[1] as string) : t.trim();
}

/** Name of uid/gid `id` from /etc/passwd or /etc/group; the number when not listed. */
function idName(file: '/etc/passwd' | '/etc/group', id: number): string {
  const t = readText(file);
  if (t !== null) {
    for (const line of t.split('\n')) {
      const f = line.split(':');
      if (f.length > 2 && Number(f[2]) === id) return f[0] as string;
    }
  }
  return String(id);
}

function run(cmd: string, args: string[]): string | null {
  try {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
    return r.status === 0 ? r.stdout : null;
  } catch {
    return null;
  }
}

function deviceInfo(): DoctorReport['device'] {
  const path = '/dev/userfaultfd' as const;
  let st;
  try {
    st = statSync(path);
  } catch {
    return {
      path,
      exists: false,
      mode: null,
      owner: null,
      group: null,
      acl: null,
      aclEntries: null,
    };
  }
  let acl: boolean | null = null;
  let aclEntries: string[] | null = null;
  // POSIX ACLs live in the system.posix_acl_access xattr, which Node cannot read: ask getfacl
  // (package `acl`) when installed, else the '+' that GNU ls appends to the mode string.
  const facl = run('getfacl', ['-cp', path]);
  if (facl !== null) {
    aclEntries = facl.split('\n').filter((l) => l !== '');
    acl = aclEntries.some((l) => /^(user|group):[^:]+:/.test(l) || l.startsWith('mask:'));
  } else {
    const ls = run('ls', ['-ld', path]);
    if (ls !== null) acl = /^\S{10}\+/.test(ls);
  }
  return {
    path,
    exists: true,
    mode: `0${(st.mode & 0o7777).toString(8)}`,
    owner: idName('/etc/passwd', st.uid),
    group: idName('/etc/group', st.gid),
    acl,
    aclEntries,
  };
}

function packageInfo(): { name: string; version: string } {
  const t = readText(join(__dirname, '..', 'package.json'));
  try {
    const p = JSON.parse(t ?? '{}') as { name?: string; version?: string };
    return { name: p.name ?? 'userfaultfd', version: p.version ?? 'unknown' };
  } catch {
    return { name: 'userfaultfd', version: 'unknown' };
  }
}

function addonInfo(): DoctorReport['addon'] {
  if (nativeAvailable()) {
    let path: string | null = null;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const ngb = require('node-gyp-build') as { path(dir: string): string };
      path = ngb.path(process.env.USERFAULTFD_ADDON_DIR ?? join(__dirname, '..'));
    } catch {
      // the addon loaded, so only the path lookup failed
    }
    return { loaded: true, path, error: null };
  }
  let error = 'unknown error';
  try {
    native();
  } catch (e) {
    error = (e as Error).message.split('\n')[0] as string;
  }
  return { loaded: false, path: null, error };
}

function simulatedAvailable(): boolean {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const engine = require('./engine') as { openSimulated?: unknown };
    return typeof engine.openSimulated === 'function';
  } catch {
    return false;
  }
}

function pageSizeOf(addonLoaded: boolean): number | null {
  if (addonLoaded) return native().pageSize();
  const g = run('getconf', ['PAGESIZE']);
  const n = g === null ? NaN : Number(g.trim());
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

function limits(): DoctorReport['memlock'] {
  const t = readText('/proc/self/limits');
  const m = t === null ? null : /^Max locked memory\s+(\S+)\s+(\S+)/m.exec(t);
  return m ? { soft: m[1] as string, hard: m[2] as string } : { soft: null, hard: null };
}

function containerHints(): string[] {
  const hints: string[] = [];
  if (existsSync('/run/.containerenv')) hints.push('/run/.containerenv (podman)');
  if (existsSync('/.dockerenv')) hints.push('/.dockerenv (docker)');
  if (process.env.container) hints.push(`$container=${process.env.container}`);
  const cg = readText('/proc/1/cgroup');
  if (cg !== null && /(docker|libpod|kubepods|containerd)/.test(cg)) hints.push('/proc/1/cgroup');
  return hints;
}

/** Gathers the report. Never throws; never changes system state. */
export function doctor(): DoctorReport {
  const pkg = packageInfo();
  const addon = addonInfo();
  const p = probe();
  const status = readText('/proc/self/status');
  const capHex = statusField(status, 'CapEff');
  const capNames = capHex === null ? [] : decodeCapabilities(capHex);
  const sysPtrace = capHex === null ? null : capNames.includes('CAP_SYS_PTRACE');
  const seccompField = statusField(status, 'Seccomp');
  const filtersField = statusField(status, 'Seccomp_filters');
  const seccompMode =
    seccompField === '0'
      ? 'disabled'
      : seccompField === '1'
        ? 'strict'
        : seccompField === '2'
          ? 'filter'
          : 'unknown';
  const sysctlText = readText('/proc/sys/vm/unprivileged_userfaultfd');
  const sysctl = sysctlText === null ? null : Number(sysctlText.trim());
  const rel = release();
  const vm = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(rel);
  const uid = typeof process.getuid === 'function' ? process.getuid() : null;
  const pmd = readText('/sys/kernel/mm/transparent_hugepage/hpage_pmd_size');
  const paths = p.paths;
  const defaultPath = paths.userModeOnly.ok ? 'user-mode-only' : paths.dev.ok ? 'dev' : null;
  const kernelModePath = paths.syscall.ok ? 'syscall' : paths.dev.ok ? 'dev' : null;
  const sim = simulatedAvailable();

  const report: DoctorReport = {
    schema: 1,
    ok: p.available,
    package: pkg,
    node: { version: process.version, platform: process.platform, arch: process.arch },
    process: { uid, user: uid === null ? null : idName('/etc/passwd', uid) },
    addon,
    kernel: {
      release: rel,
      version: vm ? [Number(vm[1]), Number(vm[2]), Number(vm[3] ?? 0)] : null,
      arch: arch(),
    },
    pageSize: pageSizeOf(addon.loaded),
    open: {
      available: p.available,
      via: p.via ?? null,
      code: p.code ?? null,
      paths,
      defaultPath,
      kernelModePath,
      autoBackend: p.available && defaultPath !== null ? 'kernel' : sim ? 'simulated' : 'none',
    },
    features: {
      names: p.features,
      move: p.features.includes('move'),
      eventForkAllowed: sysPtrace === true,
    },
    sysctl: { unprivilegedUserfaultfd: sysctl !== null && Number.isFinite(sysctl) ? sysctl : null },
    capabilities: { effective: capHex, names: capNames, sysPtrace },
    seccomp: {
      mode: seccompMode,
      filters: filtersField === null ? null : Number(filtersField),
    },
    device: deviceInfo(),
    thp: {
      enabled: bracketed('/sys/kernel/mm/transparent_hugepage/enabled'),
      defrag: bracketed('/sys/kernel/mm/transparent_hugepage/defrag'),
      shmemEnabled: bracketed('/sys/kernel/mm/transparent_hugepage/shmem_enabled'),
      pmdSize: pmd === null ? null : Number(pmd.trim()),
    },
    memlock: limits(),
    container: { hints: containerHints() },
    seccompProfile: join(__dirname, '..', 'docker', 'seccomp-userfaultfd.json'),
    checks: [],
  };
  report.checks = diagnose(report);
  return report;
}

/** The checks and their fixes, from the gathered facts (pure: unit-testable on a fake report). */
export function diagnose(r: DoctorReport): DoctorCheck[] {
  const checks: DoctorCheck[] = [];
  const add = (c: DoctorCheck): void => {
    checks.push(c);
  };
  const user = r.process.user ?? '$USER';
  const filtered = r.seccomp.mode === 'filter';
  const aclFix =
    `sudo setfacl -m u:${user}:rw /dev/userfaultfd  (Linux 6.1+; package "acl"; lasts until ` +
    `reboot: make it permanent with a udev rule, e.g. /etc/udev/rules.d/99-userfaultfd.rules: ` +
    `KERNEL=="userfaultfd", GROUP="userfaultfd", MODE="0660", then add ${user} to that group)`;
  const seccompFix =
    `a seccomp filter returns EPERM for userfaultfd(2) (Docker's and podman's default profiles ` +
    `do not allow it). Run the container with --security-opt seccomp=${r.seccompProfile} ` +
    `(the default profile plus userfaultfd, shipped in this package) or with --privileged; ` +
    `Kubernetes: securityContext.seccompProfile {type: Localhost} with that profile`;

  if (r.node.platform !== 'linux') {
    add({
      id: 'platform',
      status: 'fail',
      summary: `userfaultfd is Linux-only (this is ${r.node.platform})`,
      fix: "use Userfaultfd.open({ backend: 'simulated' }) for the simulated engine",
    });
    return checks;
  }
  if (!r.addon.loaded) {
    add({
      id: 'addon',
      status: 'fail',
      summary: `the native addon does not load: ${r.addon.error ?? 'unknown error'}`,
      fix:
        'rebuild it: `npm rebuild userfaultfd` (needs python3, make and g++: ' +
        '`sudo apt-get install -y python3 make g++`)',
    });
    return checks;
  }
  add({
    id: 'addon',
    status: 'ok',
    summary: `native addon loaded${r.addon.path ? ` (${r.addon.path})` : ''}`,
  });

  const { paths } = r.open;
  const umo = paths.userModeOnly;
  if (umo.ok) {
    add({
      id: 'open.userModeOnly',
      status: 'ok',
      summary:
        'userfaultfd(UFFD_USER_MODE_ONLY) works: faults from user space (workers, native ' +
        'threads, other processes) can be served; this is what Userfaultfd.open() uses',
    });
  } else if (umo.code === 'EPERM') {
    add({
      id: 'open.userModeOnly',
      status: paths.dev.ok ? 'warn' : 'fail',
      summary: filtered
        ? `userfaultfd(2) is refused (EPERM) by a seccomp filter (Seccomp: filter, ${r.seccomp.filters ?? '?'} filter(s))`
        : 'userfaultfd(UFFD_USER_MODE_ONLY) is refused (EPERM) without a seccomp filter: an LSM ' +
          '(SELinux, AppArmor) policy denies it',
      fix: filtered
        ? seccompFix
        : 'check the LSM audit log (`ausearch -m avc` for SELinux, `dmesg | grep apparmor`) and ' +
          'allow userfaultfd for this program',
    });
  } else if (umo.code === 'ENOSYS') {
    add({
      id: 'open.userModeOnly',
      status: 'fail',
      summary:
        'userfaultfd(2) does not exist here (ENOSYS): the kernel is built without ' +
        'CONFIG_USERFAULTFD, or an emulator (qemu-user, valgrind) does not implement it',
      fix:
        "run on a kernel with CONFIG_USERFAULTFD=y, natively; or use backend: 'simulated' " +
        '(the simulated engine)',
    });
  } else if (umo.code === 'EINVAL') {
    add({
      id: 'open.userModeOnly',
      status: 'warn',
      summary: 'UFFD_USER_MODE_ONLY is unknown to this kernel (EINVAL: Linux < 5.11)',
      fix: 'upgrade to Linux 5.11+, or open with { userModeOnly: false } (then see below)',
    });
  } else {
    add({
      id: 'open.userModeOnly',
      status: 'fail',
      summary: `userfaultfd(UFFD_USER_MODE_ONLY) failed: ${umo.code ?? 'unknown error'}`,
    });
  }

  const sys = paths.syscall;
  if (sys.ok) {
    add({
      id: 'open.kernelMode',
      status: 'ok',
      summary:
        'userfaultfd(2) without UFFD_USER_MODE_ONLY works ' +
        `(${r.capabilities.sysPtrace ? 'CAP_SYS_PTRACE' : 'vm.unprivileged_userfaultfd=1'}): ` +
        'kernel-mode faults (read(2) into registered memory) can be trapped too',
    });
  } else if (paths.dev.ok) {
    add({
      id: 'open.kernelMode',
      status: 'ok',
      summary:
        `userfaultfd(0) is refused (${sys.code ?? '?'}), but /dev/userfaultfd works: ` +
        'Userfaultfd.open({ userModeOnly: false }) uses it for kernel-mode faults',
    });
  } else if (sys.code === 'EPERM' && filtered && !umo.ok) {
    add({
      id: 'open.kernelMode',
      status: 'fail',
      summary: 'kernel-mode faults: blocked by the same seccomp filter',
      fix:
        'fix the seccomp filter first; then, for kernel-mode faults, also ' +
        '--cap-add SYS_PTRACE (or --device /dev/userfaultfd with a device ACL)',
    });
  } else if (sys.code === 'EPERM') {
    add({
      id: 'open.kernelMode',
      status: umo.ok ? 'info' : 'fail',
      summary:
        'only user-mode faults: userfaultfd(0) needs CAP_SYS_PTRACE or ' +
        `vm.unprivileged_userfaultfd=1 (it is ${r.sysctl.unprivilegedUserfaultfd ?? 'unknown'}), ` +
        'and /dev/userfaultfd is not usable. A syscall that touches a missing registered page ' +
        'gets EFAULT. Needed only for Userfaultfd.open({ userModeOnly: false })',
      fix:
        `one of: (1) \`sudo setfacl -m u:${user}:rw /dev/userfaultfd\` (see /dev/userfaultfd ` +
        'below); (2) CAP_SYS_PTRACE (container: --cap-add SYS_PTRACE); ' +
        '(3) `sudo sysctl -w vm.unprivileged_userfaultfd=1` (host-wide, not recommended: it ' +
        'lets every process widen kernel race windows)',
    });
  } else {
    add({
      id: 'open.kernelMode',
      status: 'fail',
      summary: `userfaultfd(0) failed: ${sys.code ?? 'unknown error'}`,
    });
  }

  const dev = paths.dev;
  if (dev.ok) {
    add({ id: 'device', status: 'ok', summary: '/dev/userfaultfd is usable by this process' });
  } else if (dev.code === 'ENOENT') {
    add({
      id: 'device',
      status: 'info',
      summary:
        '/dev/userfaultfd does not exist (Linux < 6.1, or a container started without ' +
        '--device /dev/userfaultfd)',
      fix:
        r.kernel.version !== null && r.kernel.version[0] * 100 + r.kernel.version[1] >= 601
          ? 'container: add --device /dev/userfaultfd (its permissions still apply; seccomp does not)'
          : 'needs Linux 6.1+',
    });
  } else if (dev.code === 'EACCES' || dev.code === 'EPERM') {
    add({
      id: 'device',
      status: 'info',
      summary:
        `/dev/userfaultfd is ${r.device.mode ?? '?'} ${r.device.owner ?? '?'}:` +
        `${r.device.group ?? '?'}${r.device.acl ? ' with an ACL' : ''}: this user ` +
        `(${user}) may not open it (${dev.code})`,
      fix: aclFix,
    });
  } else {
    add({
      id: 'device',
      status: 'info',
      summary: `/dev/userfaultfd failed: ${dev.code ?? 'unknown error'}`,
    });
  }

  if (r.open.available) {
    if (r.features.move) {
      add({ id: 'features.move', status: 'ok', summary: 'UFFDIO_MOVE is available' });
    } else {
      add({
        id: 'features.move',
        status: 'warn',
        summary: `UFFDIO_MOVE is not offered by this kernel (${r.kernel.release})`,
        fix: 'MOVE needs Linux 6.8+; use copy() instead, or the simulated engine to develop',
      });
    }
    if (!r.features.eventForkAllowed && r.features.names.includes('eventFork')) {
      add({
        id: 'features.eventFork',
        status: 'info',
        summary: 'the eventFork feature needs CAP_SYS_PTRACE (UFFDIO_API returns EPERM without it)',
        fix: 'only if you need fork events: run with CAP_SYS_PTRACE (container: --cap-add SYS_PTRACE)',
      });
    }
  } else {
    add({
      id: 'backend.auto',
      status: r.open.autoBackend === 'simulated' ? 'info' : 'warn',
      summary:
        r.open.autoBackend === 'simulated'
          ? "Userfaultfd.open({ backend: 'auto' }) falls back to the simulated engine here"
          : "no kernel path, and the simulated engine is not available: backend 'auto' throws",
    });
  }
  return checks;
}

/** The report as text for people. */
export function formatReport(r: DoctorReport): string {
  const L: string[] = [];
  const row = (k: string, v: string): void => {
    L.push(`  ${k.padEnd(18)} ${v}`);
  };
  const path = (name: string, pth: { ok: boolean; code?: string }): string =>
    `${name} ${pth.ok ? 'ok' : (pth.code ?? 'failed')}`;
  L.push(
    `userfaultfd doctor: ${r.package.name} ${r.package.version}, Node ${r.node.version}, ` +
      `${r.node.platform}-${r.node.arch}, uid ${r.process.uid ?? '?'} (${r.process.user ?? '?'})`,
  );
  L.push('');
  const kv = r.kernel.version;
  row('kernel', `${r.kernel.release}${kv ? ` (${kv[0]}.${kv[1]})` : ''} ${r.kernel.arch}`);
  row('page size', r.pageSize === null ? 'unknown' : String(r.pageSize));
  row('addon', r.addon.loaded ? (r.addon.path ?? 'loaded') : `NOT LOADED: ${r.addon.error}`);
  row(
    'open paths',
    [
      path('user-mode-only', r.open.paths.userModeOnly),
      path('syscall', r.open.paths.syscall),
      path('/dev/userfaultfd', r.open.paths.dev),
    ].join(', '),
  );
  row(
    'Userfaultfd.open()',
    r.open.defaultPath
      ? `kernel, via ${r.open.defaultPath}`
      : `unavailable (${r.open.code ?? '?'}); backend 'auto' -> ${r.open.autoBackend}`,
  );
  row('kernel-mode faults', r.open.kernelModePath ? `via ${r.open.kernelModePath}` : 'no');
  row(
    'features',
    r.features.names.length
      ? `${r.features.move ? 'MOVE yes' : 'MOVE no'}; ${r.features.names.join(' ')}`
      : 'unknown (no working open path)',
  );
  row(
    'sysctl',
    `vm.unprivileged_userfaultfd = ${r.sysctl.unprivilegedUserfaultfd ?? 'unreadable'}`,
  );
  row(
    'capabilities',
    r.capabilities.effective === null
      ? 'unknown'
      : `CapEff ${r.capabilities.effective} (${r.capabilities.names.length} caps; ` +
          `CAP_SYS_PTRACE ${r.capabilities.sysPtrace ? 'yes' : 'no'})`,
  );
  row('seccomp', `${r.seccomp.mode} (${r.seccomp.filters ?? '?'} filters)`);
  const d = r.device;
  row(
    '/dev/userfaultfd',
    d.exists
      ? `mode ${d.mode} ${d.owner}:${d.group}, ACL ${d.acl === null ? 'unknown' : d.acl ? 'yes' : 'no'}` +
          (d.aclEntries && d.acl ? ` [${d.aclEntries.join(' ')}]` : '')
      : 'absent',
  );
  row(
    'THP',
    `enabled=${r.thp.enabled ?? '?'} defrag=${r.thp.defrag ?? '?'} shmem=${r.thp.shmemEnabled ?? '?'}` +
      (r.thp.pmdSize ? ` pmd=${r.thp.pmdSize / 1048576} MiB` : ''),
  );
  row('RLIMIT_MEMLOCK', `${r.memlock.soft ?? '?'} / ${r.memlock.hard ?? '?'} bytes`);
  if (r.container.hints.length) row('container hints', r.container.hints.join(', '));
  L.push('');
  const mark: Record<CheckStatus, string> = {
    ok: 'ok  ',
    info: 'info',
    warn: 'WARN',
    fail: 'FAIL',
  };
  for (const c of r.checks) {
    L.push(...wrap(`  [${mark[c.status]}] `, c.summary));
    if (c.fix && c.status !== 'ok') L.push(...wrap('         fix: ', c.fix));
  }
  L.push('');
  L.push(
    r.ok
      ? 'Result: userfaultfd works here.'
      : 'Result: userfaultfd is NOT usable here; see the FAIL lines for the fix.',
  );
  return L.join('\n');
}

/** Word-wraps `text` at 100 columns, the first line after `lead`, the rest indented to match. */
function wrap(lead: string, text: string, width = 100): string[] {
  const out: string[] = [];
  const pad = ' '.repeat(lead.length);
  let line = lead;
  for (const word of text.split(' ')) {
    if (line.length + word.length + 1 > width && line.trim() !== lead.trim()) {
      out.push(line.trimEnd());
      line = pad;
    }
    line += (line === lead || line === pad ? '' : ' ') + word;
  }
  out.push(line.trimEnd());
  return out;
}
