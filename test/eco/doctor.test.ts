/**
 * `userfaultfd doctor`: run the real CLI (dist/cli.js) in child processes, as this process's user
 * and as uid 65534 with no capabilities (setpriv), and check the JSON against what the system
 * says independently (/proc, /sys, stat, getconf).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import type { DoctorReport } from '../../lib/doctor';
import { decodeCapabilities, diagnose } from '../../lib/doctor';
import { withSystemLock } from '../helpers/system-state';

const root = join(__dirname, '..', '..');
const cli = join(root, 'dist', 'cli.js');
const isRoot = process.getuid?.() === 0;

function runCli(args: string[], asNobody = false): { status: number | null; stdout: string } {
  const cmd = asNobody && isRoot ? 'setpriv' : process.execPath;
  const argv =
    asNobody && isRoot
      ? ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, cli, ...args]
      : [cli, ...args];
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 30000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout };
}

function json(asNobody = false): { status: number | null; report: DoctorReport } {
  const r = runCli(['doctor', '--json'], asNobody);
  return { status: r.status, report: JSON.parse(r.stdout) as DoctorReport };
}

function statusOf(pid: string, key: string): string {
  const t = readFileSync(`/proc/${pid}/status`, 'utf8');
  return (new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(t) as RegExpExecArray)[1]!.trim();
}

// The sysctl and the two doctor runs are observed together under the machine-wide lock:
// privileges.test.ts sets vm.unprivileged_userfaultfd in the other jest worker.
let sysctl = NaN;
const observed: Partial<Record<'self' | 'nobody', ReturnType<typeof json>>> = {};
beforeAll(
  () =>
    withSystemLock(() => {
      sysctl = Number(readFileSync('/proc/sys/vm/unprivileged_userfaultfd', 'utf8').trim());
      observed.self = json();
      observed.nobody = json(true);
    }),
  150000,
);
const pageSize = Number(spawnSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).stdout.trim());

describe('userfaultfd doctor --json, as this process user', () => {
  let status: number | null = null;
  let report = {} as DoctorReport;
  beforeAll(() => ({ status, report } = observed.self!));

  test('reports the kernel, page size and process facts the system reports', () => {
    expect(report.schema).toBe(1);
    expect(report.kernel.release).toBe(release());
    expect(report.kernel.version?.[0]).toBe(Number(release().split('.')[0]));
    expect(report.pageSize).toBe(pageSize);
    expect(report.addon.loaded).toBe(true);
    expect(report.node.version).toBe(process.version);
    expect(report.sysctl.unprivilegedUserfaultfd).toBe(sysctl);
    // The child inherits this process's credentials and seccomp state.
    expect(report.capabilities.effective).toBe(statusOf('self', 'CapEff'));
    expect(report.capabilities.sysPtrace).toBe(
      ((BigInt(`0x${statusOf('self', 'CapEff')}`) >> 19n) & 1n) === 1n,
    );
    expect(report.seccomp.filters).toBe(Number(statusOf('self', 'Seccomp_filters')));
    expect(report.seccomp.mode).toBe(
      ({ '0': 'disabled', '1': 'strict', '2': 'filter' } as Record<string, string>)[
        statusOf('self', 'Seccomp')
      ],
    );
  });

  test('reports /dev/userfaultfd as stat(2) sees it', () => {
    let st;
    try {
      st = statSync('/dev/userfaultfd');
    } catch {
      st = undefined;
    }
    expect(report.device.exists).toBe(st !== undefined);
    if (st) expect(report.device.mode).toBe(`0${(st.mode & 0o7777).toString(8)}`);
    expect(typeof report.device.acl === 'boolean' || report.device.acl === null).toBe(true);
  });

  test('the open paths are consistent with the credentials', () => {
    expect(status).toBe(report.ok ? 0 : 1);
    if (process.env.CI === 'true') {
      expect(report.ok).toBe(true);
      expect(report.features.move).toBe(true);
    }
    const p = report.open.paths;
    if (report.capabilities.sysPtrace || sysctl === 1) expect(p.syscall.ok).toBe(report.ok);
    if (report.seccomp.mode === 'disabled') expect(p.userModeOnly.ok).toBe(true);
    expect(report.open.defaultPath).toBe(
      p.userModeOnly.ok ? 'user-mode-only' : p.dev.ok ? 'dev' : null,
    );
    expect(report.features.move).toBe(report.features.names.includes('move'));
    expect(report.checks.find((c) => c.id === 'open.userModeOnly')?.status).toBe(
      p.userModeOnly.ok ? 'ok' : expect.any(String),
    );
  });

  test('human output has every section and the verdict', () => {
    const r = runCli(['doctor']);
    expect(r.status).toBe(status);
    for (const label of [
      'kernel',
      'page size',
      'open paths',
      'features',
      'sysctl',
      'capabilities',
      'seccomp',
      '/dev/userfaultfd',
      'THP',
    ]) {
      expect(r.stdout).toMatch(new RegExp(`^  ${label.replace('/', '\\/')}\\s`, 'm'));
    }
    expect(r.stdout).toMatch(/^Result: userfaultfd (works|is NOT usable) here\.$/m);
  });
});

describe('userfaultfd doctor --json, as uid 65534 without capabilities', () => {
  let status: number | null = null;
  let report = {} as DoctorReport;
  beforeAll(() => ({ status, report } = observed.nobody!));

  test('no capabilities, and the kernel paths that needs', () => {
    expect(report.process.uid).toBe(isRoot ? 65534 : process.getuid?.());
    if (isRoot) {
      expect(report.capabilities.effective).toBe('0000000000000000');
      expect(report.capabilities.names).toEqual([]);
      expect(report.capabilities.sysPtrace).toBe(false);
      expect(report.features.eventForkAllowed).toBe(false);
    }
    const p = report.open.paths;
    if (report.seccomp.mode === 'disabled') {
      // spec §1.1 / probe A20: UFFD_USER_MODE_ONLY needs nothing; userfaultfd(0) needs the sysctl.
      expect(p.userModeOnly.ok).toBe(true);
      expect(status).toBe(0);
      if (report.capabilities.sysPtrace === false) {
        expect(p.syscall.ok).toBe(sysctl === 1);
        if (sysctl === 0) expect(p.syscall.code).toBe('EPERM');
      }
    }
    // A 0600 root device without an ACL is closed to uid 65534.
    if (isRoot && report.device.mode === '0600' && report.device.acl === false) {
      expect(p.dev).toEqual({ ok: false, code: 'EACCES' });
      const dev = report.checks.find((c) => c.id === 'device')!;
      expect(dev.fix).toContain('setfacl -m u:nobody:rw /dev/userfaultfd');
    }
    if (!p.syscall.ok && !p.dev.ok && p.userModeOnly.ok) {
      const km = report.checks.find((c) => c.id === 'open.kernelMode')!;
      expect(km.status).toBe('info');
      expect(km.fix).toMatch(/setfacl.*SYS_PTRACE.*vm\.unprivileged_userfaultfd=1/s);
      expect(report.open.kernelModePath).toBeNull();
    }
  });
});

describe('usage', () => {
  test('unknown command or flag: exit 2 and the usage text', () => {
    for (const args of [[], ['nope'], ['doctor', '--bogus']]) {
      const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 30000 });
      expect(r.status).toBe(2);
      expect(r.stderr).toContain('usage: userfaultfd doctor');
    }
    const v = runCli(['--version']);
    expect(v.stdout.trim()).toBe(
      (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version,
    );
  });
});

describe('diagnose(): the fix for each failure', () => {
  const report = json().report;
  const base = (): DoctorReport => structuredClone(report);

  test('decodeCapabilities names the bits of a CapEff mask', () => {
    const names = decodeCapabilities('000001fffeffffff');
    expect(names).toContain('CAP_SYS_PTRACE');
    expect(names).not.toContain('CAP_SYS_RESOURCE'); // bit 24 clear (recipe README §4)
    expect(names).toContain('CAP_CHECKPOINT_RESTORE');
    expect(decodeCapabilities('0000000000080000')).toEqual(['CAP_SYS_PTRACE']);
    expect(decodeCapabilities('0')).toEqual([]);
  });

  test('a seccomp filter: FAIL with the shipped profile and --privileged', () => {
    const r = base();
    r.seccomp = { mode: 'filter', filters: 1 };
    r.open.paths = {
      userModeOnly: { ok: false, code: 'EPERM' },
      syscall: { ok: false, code: 'EPERM' },
      dev: { ok: false, code: 'ENOENT' },
    };
    r.open.available = false;
    r.ok = false;
    const checks = diagnose(r);
    const umo = checks.find((c) => c.id === 'open.userModeOnly')!;
    expect(umo.status).toBe('fail');
    expect(umo.summary).toContain('seccomp');
    expect(umo.fix).toContain(`--security-opt seccomp=${r.seccompProfile}`);
    expect(umo.fix).toContain('--privileged');
    expect(checks.find((c) => c.id === 'device')!.fix).toContain('--device /dev/userfaultfd');
    expect(checks.find((c) => c.id === 'backend.auto')).toBeDefined();
  });

  test('EPERM without seccomp points at the LSM; ENOSYS at the kernel config', () => {
    const r = base();
    r.seccomp = { mode: 'disabled', filters: 0 };
    r.open.paths.userModeOnly = { ok: false, code: 'EPERM' };
    r.open.paths.dev = { ok: false, code: 'EACCES' };
    expect(diagnose(r).find((c) => c.id === 'open.userModeOnly')!.fix).toContain('ausearch');
    r.open.paths.userModeOnly = { ok: false, code: 'ENOSYS' };
    expect(diagnose(r).find((c) => c.id === 'open.userModeOnly')!.summary).toContain(
      'CONFIG_USERFAULTFD',
    );
  });

  test('no MOVE: WARN with the kernel version it needs', () => {
    const r = base();
    r.open.available = true;
    r.features.move = false;
    const c = diagnose(r).find((x) => x.id === 'features.move')!;
    expect(c.status).toBe('warn');
    expect(c.fix).toContain('6.8');
  });

  test('no addon: FAIL with the rebuild command', () => {
    const r = base();
    r.addon = { loaded: false, path: null, error: 'Cannot find module' };
    const checks = diagnose(r);
    expect(checks).toHaveLength(1);
    expect(checks[0]!.status).toBe('fail');
    expect(checks[0]!.fix).toContain('npm rebuild userfaultfd');
  });
});
