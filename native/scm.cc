// Passing file descriptors between processes: SCM_RIGHTS over a Unix socket (unix(7),
// cmsg(3)), socketpair(2), and pidfd_open(2) + pidfd_getfd(2) (Linux 5.6) to take a copy of an
// fd from another process (needs PTRACE_MODE_ATTACH_REALCREDS over it: same user without
// Yama restrictions, or CAP_SYS_PTRACE).
//
// sendFds/recvFds run on a dedicated thread and wait with poll(2), so they work on Node's own
// non-blocking sockets (a net.Socket's handle fd, paused so Node does not read it) as well as on
// blocking ones, without blocking the JS thread. Every failure is returned as -errno.
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <vector>

#include "addon.h"
#include "task.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434  // the same number on every architecture (unified since 5.1)
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

namespace uffd {
namespace {

constexpr int kMaxFds = 16;  // per message; SCM_MAX_FD is 253, we never need more than a few

// Waits until fd is ready for `events`; 0 when ready, -ETIMEDOUT, or -errno.
int WaitFor(int fd, short events, int timeoutMs) {
  struct pollfd p = {fd, events, 0};
  for (;;) {
    int r = poll(&p, 1, timeoutMs);
    if (r > 0) return 0;  // ready, or POLLERR/POLLHUP: the next call reports the error
    if (r == 0) return -ETIMEDOUT;
    if (errno != EINTR) return -errno;
  }
}

std::vector<uint8_t> BytesArg(const Napi::CallbackInfo& info, size_t i) {
  std::vector<uint8_t> out;
  if (info[i].IsTypedArray()) {
    Napi::TypedArray ta = info[i].As<Napi::TypedArray>();
    const uint8_t* p = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    out.assign(p, p + ta.ByteLength());
  } else if (!info[i].IsUndefined() && !info[i].IsNull()) {
    throw Napi::TypeError::New(info.Env(), "payload must be a Uint8Array");
  }
  return out;
}

// sendFds(socketFd, fds: number[], payload: Uint8Array, timeoutMs) -> Promise<bytes | -errno>.
// One sendmsg(2) carrying the payload and the fds. A stream socket needs at least one byte of
// data for the fds to travel (unix(7)), so lib/ never passes an empty payload.
Napi::Value SendFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sock = ArgInt(info, 0, "socketFd");
  if (!info[1].IsArray()) throw Napi::TypeError::New(env, "fds must be an array");
  Napi::Array arr = info[1].As<Napi::Array>();
  std::vector<int> fds;
  for (uint32_t i = 0; i < arr.Length() && i < kMaxFds; i++) {
    fds.push_back(arr.Get(i).As<Napi::Number>().Int32Value());
  }
  auto payload = std::make_shared<std::vector<uint8_t>>(BytesArg(info, 2));
  int timeoutMs = ArgInt(info, 3, "timeoutMs");
  auto out = std::make_shared<long>(0);
  return RunOnThread(
      env, "userfaultfd:sendFds",
      [=] {
        struct iovec iov = {payload->data(), payload->size()};
        std::vector<char> ctrl(CMSG_SPACE(sizeof(int) * kMaxFds), 0);
        struct msghdr msg;
        memset(&msg, 0, sizeof msg);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        if (!fds.empty()) {
          msg.msg_control = ctrl.data();
          msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
          struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
          c->cmsg_level = SOL_SOCKET;
          c->cmsg_type = SCM_RIGHTS;
          c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
          memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
        }
        for (;;) {
          ssize_t r = sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
          if (r >= 0) {
            *out = r;
            return;
          }
          if (errno == EINTR) continue;
          if (errno != EAGAIN) {
            *out = -errno;
            return;
          }
          int w = WaitFor(sock, POLLOUT, timeoutMs);
          if (w < 0) {
            *out = w;
            return;
          }
        }
      },
      [out](Napi::Env e) { return Napi::Number::New(e, static_cast<double>(*out)); });
}

// recvFds(socketFd, maxPayload, timeoutMs) -> Promise<[bytes | -errno, fds[], payload, flags]>.
// One recvmsg(2) with MSG_CMSG_CLOEXEC. bytes 0 with no fds is end-of-stream. flags carries
// MSG_CTRUNC (more fds were sent than fit: the kernel closed the extra ones) and MSG_TRUNC.
Napi::Value RecvFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sock = ArgInt(info, 0, "socketFd");
  uint64_t maxPayload = ArgU64(info, 1, "maxPayload");
  int timeoutMs = ArgInt(info, 2, "timeoutMs");
  struct Result {
    long ret = 0;
    int flags = 0;
    std::vector<int> fds;
    std::vector<uint8_t> payload;
  };
  auto res = std::make_shared<Result>();
  res->payload.resize(maxPayload == 0 ? 1 : maxPayload);
  return RunOnThread(
      env, "userfaultfd:recvFds",
      [=] {
        std::vector<char> ctrl(CMSG_SPACE(sizeof(int) * kMaxFds), 0);
        for (;;) {
          int w = WaitFor(sock, POLLIN, timeoutMs);
          if (w < 0) {
            res->ret = w;
            return;
          }
          struct iovec iov = {res->payload.data(), res->payload.size()};
          struct msghdr msg;
          memset(&msg, 0, sizeof msg);
          msg.msg_iov = &iov;
          msg.msg_iovlen = 1;
          msg.msg_control = ctrl.data();
          msg.msg_controllen = ctrl.size();
          ssize_t r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
          if (r < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;  // spurious readiness
            res->ret = -errno;
            return;
          }
          res->ret = r;
          res->flags = msg.msg_flags;
          res->payload.resize(static_cast<size_t>(r));
          for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < n; i++) {
              int fd;
              memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
              res->fds.push_back(fd);
            }
          }
          return;
        }
      },
      [res](Napi::Env e) {
        Napi::Array out = Napi::Array::New(e, 4);
        out.Set(0u, Napi::Number::New(e, static_cast<double>(res->ret)));
        Napi::Array fds = Napi::Array::New(e, res->fds.size());
        for (size_t i = 0; i < res->fds.size(); i++) {
          fds.Set(static_cast<uint32_t>(i), Napi::Number::New(e, res->fds[i]));
        }
        out.Set(1u, fds);
        size_t n = res->ret > 0 ? res->payload.size() : 0;
        out.Set(2u, Napi::Buffer<uint8_t>::Copy(e, res->payload.data(), n));
        out.Set(3u, Napi::Number::New(e, res->flags));
        return out;
      });
}

// socketPair(type) -> [fd, fd] or [-errno]. type: 0 stream, 1 seqpacket, 2 dgram. CLOEXEC and
// non-blocking (sendFds/recvFds wait with poll).
Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int t = ArgInt(info, 0, "type");
  int type = t == 1 ? SOCK_SEQPACKET : t == 2 ? SOCK_DGRAM : SOCK_STREAM;
  int sv[2];
  Napi::Array out = Napi::Array::New(env);
  if (socketpair(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0) {
    out.Set(0u, Errno(env, errno));
    return out;
  }
  out.Set(0u, Napi::Number::New(env, sv[0]));
  out.Set(1u, Napi::Number::New(env, sv[1]));
  return out;
}

// pidfdOpen(pid) -> pidfd | -errno.
Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  long r = syscall(SYS_pidfd_open, ArgInt(info, 0, "pid"), 0);
  return Napi::Number::New(info.Env(), r < 0 ? -errno : static_cast<double>(r));
}

// pidfdGetfd(pidfd, targetFd) -> a new CLOEXEC fd in this process referring to the same open
// file description as targetFd in the process of pidfd, or -errno (EPERM without ptrace
// access, EBADF for a bad targetFd, ESRCH when the process is gone).
Napi::Value PidfdGetfd(const Napi::CallbackInfo& info) {
  long r = syscall(SYS_pidfd_getfd, ArgInt(info, 0, "pidfd"), ArgInt(info, 1, "targetFd"), 0);
  return Napi::Number::New(info.Env(), r < 0 ? -errno : static_cast<double>(r));
}

}  // namespace

void InitScm(Napi::Env env, Napi::Object exports) {
  exports.Set("sendFds", Napi::Function::New(env, SendFds, "sendFds"));
  exports.Set("recvFds", Napi::Function::New(env, RecvFds, "recvFds"));
  exports.Set("socketPair", Napi::Function::New(env, SocketPair, "socketPair"));
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen, "pidfdOpen"));
  exports.Set("pidfdGetfd", Napi::Function::New(env, PidfdGetfd, "pidfdGetfd"));
}

}  // namespace uffd
