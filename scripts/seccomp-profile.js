'use strict';
// Writes docker/seccomp-userfaultfd.json: a seccomp profile with the policy of Docker's default
// profile (everything a normal program needs; kernel-administration syscalls only with the
// capability that governs them; EPERM for the rest) plus one rule that allows userfaultfd(2).
//
// Why a profile at all: Docker's default profile has no rule for userfaultfd, so its default
// action answers EPERM (podman's lists it explicitly under EPERM). The kernel's own checks still
// apply inside the container (spec §1.1): UFFD_USER_MODE_ONLY needs nothing, userfaultfd(0)
// needs CAP_SYS_PTRACE (`--cap-add SYS_PTRACE`) or vm.unprivileged_userfaultfd=1 on the host.
//
//   node scripts/seccomp-profile.js          # (re)write the file
//   node scripts/seccomp-profile.js --check  # exit 1 if the file is not what this script writes
//   node scripts/seccomp-profile.js --compare /usr/share/containers/seccomp.json
//                                            # list the differences from another profile
const fs = require('fs');
const path = require('path');

const out = path.join(__dirname, '..', 'docker', 'seccomp-userfaultfd.json');

// Allowed for everyone: the syscalls of ordinary programs on every architecture Docker supports
// (names that do not exist on an architecture are ignored by libseccomp).
const allowed = `
_llseek _newselect accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir
chmod chown chown32 clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime
clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range
creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2
epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2
fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32
fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat
fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64
futex_wait futex_waitv futex_wake futimesat get_mempolicy get_robust_list get_thread_area getcpu
getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups
getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid
getresgid32 getresuid getresuid32 getrlimit getrusage getsid getsockname getsockopt gettid
gettimeofday getuid getuid32 getxattr inotify_add_watch inotify_init inotify_init1
inotify_rm_watch io_cancel io_destroy io_getevents io_pgetevents io_pgetevents_time64 io_setup
io_submit ioctl ioprio_get ioprio_set ipc kill landlock_add_rule landlock_create_ruleset
landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listxattr llistxattr
lremovexattr lseek lsetxattr lstat lstat64 madvise map_shadow_stack membarrier memfd_create
memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect
mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap
name_to_handle_at nanosleep newfstatat open openat openat2 pause pidfd_open pidfd_send_signal
pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv
preadv2 prlimit64 process_mrelease process_vm_readv process_vm_writev pselect6 pselect6_time64
ptrace pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg
recvmmsg_time64 recvmsg remap_file_pages removexattr rename renameat renameat2 restart_syscall
rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_get_priority_max
sched_get_priority_min sched_getaffinity sched_getattr sched_getparam sched_getscheduler
sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr
sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop
semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto set_robust_list
set_thread_area set_tid_address setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32
setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid setresgid32
setresuid setresuid32 setreuid setreuid32 setrlimit setsid setsockopt setuid setuid32 setxattr
shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn
socketcall socketpair splice stat stat64 statfs statfs64 statx symlink symlinkat sync
sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun
timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime
timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit
umask uname unlink unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid
waitpid write writev
`
  .trim()
  .split(/\s+/);

// Allowed only with the capability that the kernel itself checks for them: a container granted
// the capability (--cap-add) may use them, others get EPERM.
const byCapability = {
  CAP_DAC_READ_SEARCH: ['open_by_handle_at'],
  CAP_SYS_ADMIN: [
    'bpf',
    'clone',
    'clone3',
    'fanotify_init',
    'fsconfig',
    'fsmount',
    'fsopen',
    'fspick',
    'lookup_dcookie',
    'mount',
    'mount_setattr',
    'move_mount',
    'open_tree',
    'perf_event_open',
    'quotactl',
    'quotactl_fd',
    'setdomainname',
    'sethostname',
    'setns',
    'syslog',
    'umount',
    'umount2',
    'unshare',
  ],
  CAP_SYS_BOOT: ['reboot'],
  CAP_SYS_CHROOT: ['chroot'],
  CAP_SYS_MODULE: ['delete_module', 'init_module', 'finit_module'],
  CAP_SYS_PACCT: ['acct'],
  CAP_SYS_PTRACE: ['kcmp', 'pidfd_getfd', 'process_madvise'],
  CAP_SYS_RAWIO: ['iopl', 'ioperm'],
  CAP_SYS_TIME: ['settimeofday', 'stime', 'clock_settime', 'clock_settime64'],
  CAP_SYS_TTY_CONFIG: ['vhangup'],
  CAP_SYS_NICE: ['mbind', 'set_mempolicy', 'set_mempolicy_home_node'],
  CAP_SYSLOG: ['syslog'],
  CAP_BPF: ['bpf'],
  CAP_PERFMON: ['perf_event_open'],
};

const byArch = [
  [['ppc64le'], ['sync_file_range2', 'swapcontext']],
  [
    ['arm', 'arm64'],
    [
      'arm_fadvise64_64',
      'arm_sync_file_range',
      'sync_file_range2',
      'breakpoint',
      'cacheflush',
      'set_tls',
    ],
  ],
  [['amd64', 'x32'], ['arch_prctl']],
  [['amd64', 'x32', 'x86'], ['modify_ldt']],
  [
    ['s390', 's390x'],
    ['s390_pci_mmio_read', 's390_pci_mmio_write', 's390_runtime_instr'],
  ],
  [['riscv64'], ['riscv_flush_icache']],
];

// clone(2) without CAP_SYS_ADMIN: any flags but the namespace ones (CLONE_NEWNS|NEWUTS|NEWIPC|
// NEWUSER|NEWPID|NEWNET|NEWCGROUP = 0x7e020000). s390 swaps the first two arguments.
const CLONE_NS_FLAGS = 0x7e020000;

function rules() {
  const r = [];
  r.push({ names: allowed, action: 'SCMP_ACT_ALLOW' });
  r.push({
    names: ['userfaultfd'],
    action: 'SCMP_ACT_ALLOW',
    comment:
      'The one change from the default policy. The kernel still decides: UFFD_USER_MODE_ONLY ' +
      'needs no privilege; kernel-mode faults need CAP_SYS_PTRACE (--cap-add SYS_PTRACE) or ' +
      'vm.unprivileged_userfaultfd=1 on the host.',
  });
  // personality(2): only the harmless personas (Linux, UNAME26, ADDR_NO_RANDOMIZE, query).
  for (const v of [0, 8, 131072, 131080, 4294967295]) {
    r.push({
      names: ['personality'],
      action: 'SCMP_ACT_ALLOW',
      args: [{ index: 0, value: v, op: 'SCMP_CMP_EQ' }],
    });
  }
  // socket(2): any family but AF_VSOCK (40), which would reach the host's vsock services.
  r.push({
    names: ['socket'],
    action: 'SCMP_ACT_ALLOW',
    args: [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }],
  });
  for (const [arches, names] of byArch) {
    r.push({ names, action: 'SCMP_ACT_ALLOW', includes: { arches } });
  }
  for (const [cap, names] of Object.entries(byCapability)) {
    r.push({ names, action: 'SCMP_ACT_ALLOW', includes: { caps: [cap] } });
  }
  r.push({
    names: ['clone'],
    action: 'SCMP_ACT_ALLOW',
    args: [{ index: 0, value: CLONE_NS_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
    excludes: { caps: ['CAP_SYS_ADMIN'], arches: ['s390', 's390x'] },
  });
  r.push({
    names: ['clone'],
    action: 'SCMP_ACT_ALLOW',
    args: [{ index: 1, value: CLONE_NS_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
    comment: 's390 parameter ordering for clone is different',
    includes: { arches: ['s390', 's390x'] },
    excludes: { caps: ['CAP_SYS_ADMIN'] },
  });
  // clone3(2) passes its flags in memory, which seccomp cannot inspect: ENOSYS makes glibc
  // fall back to clone(2), which the rule above can check.
  r.push({
    names: ['clone3'],
    action: 'SCMP_ACT_ERRNO',
    errnoRet: 38,
    excludes: { caps: ['CAP_SYS_ADMIN'] },
  });
  return r;
}

function profile() {
  return {
    comment:
      "userfaultfd's container profile: Docker's default seccomp policy plus userfaultfd(2). " +
      'Generated by scripts/seccomp-profile.js; use with --security-opt seccomp=<this file>.',
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1,
    archMap: [
      { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
      { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
      {
        architecture: 'SCMP_ARCH_MIPS64',
        subArchitectures: ['SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64N32'],
      },
      {
        architecture: 'SCMP_ARCH_MIPS64N32',
        subArchitectures: ['SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64'],
      },
      {
        architecture: 'SCMP_ARCH_MIPSEL64',
        subArchitectures: ['SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64N32'],
      },
      {
        architecture: 'SCMP_ARCH_MIPSEL64N32',
        subArchitectures: ['SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64'],
      },
      { architecture: 'SCMP_ARCH_S390X', subArchitectures: ['SCMP_ARCH_S390'] },
      { architecture: 'SCMP_ARCH_RISCV64', subArchitectures: null },
    ],
    syscalls: rules(),
  };
}

/** Names a profile allows unconditionally (no args, caps or arch conditions). */
function plainAllowed(p) {
  const s = new Set();
  for (const r of p.syscalls) {
    const cond =
      (r.args && r.args.length) ||
      (r.includes && Object.keys(r.includes).length) ||
      (r.excludes && Object.keys(r.excludes).length);
    if (r.action === 'SCMP_ACT_ALLOW' && !cond) for (const n of r.names) s.add(n);
  }
  return s;
}

const text = `${JSON.stringify(profile(), null, 2)}\n`;
const args = process.argv.slice(2);
if (args[0] === '--check') {
  const cur = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
  if (cur !== text) {
    console.error(`${out} is stale: run node scripts/seccomp-profile.js`);
    process.exit(1);
  }
} else if (args[0] === '--compare') {
  const other = JSON.parse(fs.readFileSync(args[1], 'utf8'));
  const mine = plainAllowed(profile());
  const theirs = plainAllowed(other);
  console.log('allowed here, not there:', [...mine].filter((n) => !theirs.has(n)).join(' '));
  console.log('allowed there, not here:', [...theirs].filter((n) => !mine.has(n)).join(' '));
} else {
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, text);
  console.log(`wrote ${path.relative(process.cwd(), out)}`);
}
