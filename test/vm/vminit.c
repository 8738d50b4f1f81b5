/* vminit.c: the static /init of the throw-away QEMU guests that `npm run test:kernels` boots.
 *
 * The kernel starts it with the words after "--" on its command line as argv[1..] and with the
 * unknown "KEY=VALUE" words as the environment (Documentation/admin-guide/kernel-parameters.rst:
 * "Everything after -- is passed as an argument to init"; unrecognised KEY=VALUE parameters go
 * to init's environment). It mounts what Node and the tests need (devtmpfs for /dev/userfaultfd
 * and the console, proc for /proc/self/{maps,pagemap,auxv}, sysfs for THP sizes, tmpfs /dev/shm,
 * and ramfs /tmp: tests use files in os.tmpdir() as "regular disk files", and a tmpfs file is
 * shmem, which userfaultfd treats like anonymous memory (vma_can_userfault), while a ramfs file
 * is plain page cache like ext4's), brings up the loopback interface (tests may use 127.0.0.1), runs the command, prints
 * "VMINIT exit=<status>" for the host to parse, and powers the guest off so QEMU exits.
 *
 *   cc -O2 -static vminit.c -o init                    (x86_64)
 *   aarch64-linux-gnu-gcc -O2 -static vminit.c -o init (arm64)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void MountAt(const char* src, const char* dir, const char* type, mode_t mode,
                    const char* data) {
  mkdir(dir, mode);
  if (mount(src, dir, type, 0, data) != 0) fprintf(stderr, "VMINIT: mount %s: %m\n", dir);
}

static void LoopbackUp(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return;  // CONFIG_INET=n: nothing to bring up
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) fprintf(stderr, "VMINIT: lo up: %m\n");
  }
  close(s);
}

int main(int argc, char** argv) {
  MountAt("devtmpfs", "/dev", "devtmpfs", 0755, NULL);
  int fd = open("/dev/console", O_RDWR);
  if (fd >= 0) {
    dup2(fd, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    if (fd > 2) close(fd);
  }
  MountAt("proc", "/proc", "proc", 0555, NULL);
  MountAt("sysfs", "/sys", "sysfs", 0555, NULL);
  MountAt("ramfs", "/tmp", "ramfs", 01777, "mode=1777");
  MountAt("tmpfs", "/dev/shm", "tmpfs", 01777, "mode=1777");
  LoopbackUp();
  setenv("PATH", "/node/bin:/usr/bin:/bin", 1);
  setenv("HOME", "/tmp", 1);
  setenv("TMPDIR", "/tmp", 1);
  if (chdir("/app") != 0) fprintf(stderr, "VMINIT: chdir /app: %m\n");

  int status = 127;
  if (argc < 2) {
    printf("VMINIT: no command (append '-- /path/cmd args' to the kernel command line)\n");
  } else {
    pid_t pid = fork();
    if (pid == 0) {
      execv(argv[1], argv + 1);
      perror("VMINIT execv");
      _exit(127);
    }
    // PID 1 reaps every orphan; stop when our own child is done.
    for (;;) {
      int ws;
      pid_t w = wait(&ws);
      if (w == pid) {
        status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
        break;
      }
      if (w < 0) break;
    }
  }
  printf("VMINIT exit=%d\n", status);
  fflush(stdout);
  sync();
  reboot(RB_POWER_OFF);
  return 0;
}
