// Memory the user can register: mmap, munmap, mprotect, madvise, mlock/mlock2/munlock, mremap
// (raw syscall), memfd_create and ftruncate, plus ArrayBuffer views over mapped memory.
//
// Views and the region registry. A view is an external ArrayBuffer over mapped memory. If that
// memory were unmapped while a view (in this thread or in a Worker) still pointed at it, touching
// the view would crash the process. So every mapping made through lib/ is a "region" in a
// process-wide registry (Workers share the address space, so the registry is per process, not per
// env), each view holds a reference on its region, and regionUnmap() of a region that still has
// views does not leave a hole: it maps fresh zero-filled anonymous memory over the range
// (MAP_FIXED), which drops the old pages and any uffd registration at once, and the final
// munmap(2) happens when the last view is collected. lib/ also detaches the owner's buffer, so
// the owner's views become zero-length.
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <iterator>
#include <map>
#include <mutex>

#include "addon.h"
#include "uapi.h"

namespace uffd {

namespace {

struct Region {
  uint64_t gen;  // distinguishes a region from a later one at the same address
  uint64_t len;
  uint64_t views;          // live ArrayBuffers over this region
  bool unmapped;           // the owner called regionUnmap; munmap when views reach 0
  const AddonData* owner;  // the environment that mapped it (unmapped at its teardown)
  uint64_t guard;          // bytes of PROT_NONE guard on each side, unmapped with it (mapping.ts)
};

std::mutex gRegionsMu;
uint64_t gNextGen = 1;
std::map<uint64_t, Region>* gRegions = new std::map<uint64_t, Region>();  // never freed: used
                                                                          // from finalizers

// Finds the region containing [addr, addr+len). Caller holds gRegionsMu.
std::map<uint64_t, Region>::iterator FindRegion(uint64_t addr, uint64_t len) {
  auto it = gRegions->upper_bound(addr);
  if (it == gRegions->begin()) return gRegions->end();
  --it;
  if (it->second.unmapped) return gRegions->end();
  if (addr < it->first || addr + len > it->first + it->second.len || addr + len < addr) {
    return gRegions->end();
  }
  return it;
}

// munmap(2) of a region and its guard pages. The guards keep the kernel from merging the
// region's VMA with a neighbour (lib/mapping.ts mapAligned); they go with the region.
int MunmapRegion(uint64_t base, const Region& r) {
  uint64_t ps = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  uint64_t span = (r.len + ps - 1) / ps * ps;
  return munmap(reinterpret_cast<void*>(base - r.guard), span + 2 * r.guard);
}

struct ViewHint {
  uint64_t base;
  uint64_t gen;
};

void ReleaseView(const ViewHint& h) {
  std::lock_guard<std::mutex> lock(gRegionsMu);
  auto it = gRegions->find(h.base);
  if (it == gRegions->end() || it->second.gen != h.gen || it->second.views == 0) return;
  if (--it->second.views == 0 && it->second.unmapped) {
    MunmapRegion(it->first, it->second);
    gRegions->erase(it);
  }
}

// mmap(addr, len, prot, flags, fd, offset) -> address, or -errno.
Napi::Value Mmap(const Napi::CallbackInfo& info) {
  uint64_t addr = ArgU64(info, 0, "addr");
  uint64_t len = ArgU64(info, 1, "len");
  int prot = ArgInt(info, 2, "prot");
  int flags = ArgInt(info, 3, "flags");
  int fd = ArgInt(info, 4, "fd");
  uint64_t off = ArgU64(info, 5, "offset");
  void* p = mmap(reinterpret_cast<void*>(addr), len, prot, flags, fd, static_cast<off_t>(off));
  if (p == MAP_FAILED) return Errno(info.Env(), errno);
  return Napi::Number::New(info.Env(), static_cast<double>(reinterpret_cast<uint64_t>(p)));
}

Napi::Value Munmap(const Napi::CallbackInfo& info) {
  return Ret(info.Env(),
             munmap(reinterpret_cast<void*>(ArgU64(info, 0, "addr")), ArgU64(info, 1, "len")));
}

Napi::Value Mprotect(const Napi::CallbackInfo& info) {
  return Ret(info.Env(), mprotect(reinterpret_cast<void*>(ArgU64(info, 0, "addr")),
                                  ArgU64(info, 1, "len"), ArgInt(info, 2, "prot")));
}

Napi::Value Madvise(const Napi::CallbackInfo& info) {
  return Ret(info.Env(), madvise(reinterpret_cast<void*>(ArgU64(info, 0, "addr")),
                                 ArgU64(info, 1, "len"), ArgInt(info, 2, "advice")));
}

Napi::Value Mlock(const Napi::CallbackInfo& info) {
  // mlock2(2) through the raw syscall: flags 0 is plain mlock, MLOCK_ONFAULT (1) locks pages
  // only as they are faulted in; both set VM_LOCKED on the VMA (spec §2.2, C32).
  return Ret(info.Env(), syscall(SYS_mlock2, ArgU64(info, 0, "addr"), ArgU64(info, 1, "len"),
                                 ArgInt(info, 2, "flags")));
}

Napi::Value Munlock(const Napi::CallbackInfo& info) {
  // The raw syscall too, not libc's munlock(): AddressSanitizer intercepts munlock() (and mlock,
  // mlockall, munlockall) as a no-op returning 0, so under `npm run test:asan` a munlock did
  // nothing, and a munlock over a hole did not fail with ENOMEM.
  return Ret(info.Env(), syscall(SYS_munlock, ArgU64(info, 0, "addr"), ArgU64(info, 1, "len")));
}

// mremap through the raw syscall: glibc's variadic wrapper reads new_address only when
// MREMAP_FIXED is set, and passes garbage otherwise, which the kernel rejects with EINVAL for
// MREMAP_DONTUNMAP (seen on this machine). Returns the new address, or -errno.
Napi::Value Mremap(const Napi::CallbackInfo& info) {
  long r = syscall(SYS_mremap, ArgU64(info, 0, "oldAddr"), ArgU64(info, 1, "oldLen"),
                   ArgU64(info, 2, "newLen"), ArgInt(info, 3, "flags"), ArgU64(info, 4, "newAddr"));
  return Ret(info.Env(), r);
}

Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  std::string name = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "userfaultfd";
  long fd = syscall(SYS_memfd_create, name.c_str(), ArgInt(info, 1, "flags"));
  if (fd >= 0) OwnFd(info.Env(), static_cast<int>(fd));
  return Ret(info.Env(), fd);
}

Napi::Value Ftruncate(const Napi::CallbackInfo& info) {
  return Ret(info.Env(),
             ftruncate(ArgInt(info, 0, "fd"), static_cast<off_t>(ArgU64(info, 1, "len"))));
}

// regionAdd(addr, len, guard = 0): adds [addr, addr+len) to the registry, with `guard` bytes of
// PROT_NONE on each side that are unmapped with it. lib/ calls it right after a successful mmap.
Napi::Value RegionAdd(const Napi::CallbackInfo& info) {
  uint64_t addr = ArgU64(info, 0, "addr");
  uint64_t len = ArgU64(info, 1, "len");
  uint64_t guard = info.Length() > 2 && !info[2].IsUndefined() ? ArgU64(info, 2, "guard") : 0;
  std::lock_guard<std::mutex> lock(gRegionsMu);
  (*gRegions)[addr] = Region{gNextGen++, len, 0, false, GetData(info.Env()), guard};
  return info.Env().Undefined();
}

// munmap now if no view refers to the region (0), else replace it with fresh zero pages and
// munmap when the last view is collected (1); or -errno. Caller holds gRegionsMu; `it` may be
// erased.
long UnmapLocked(std::map<uint64_t, Region>::iterator it) {
  void* p = reinterpret_cast<void*>(it->first);
  if (it->second.views == 0) {
    if (MunmapRegion(it->first, it->second) != 0) return -errno;
    gRegions->erase(it);
    return 0;
  }
  void* q = mmap(p, it->second.len, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  if (q == MAP_FAILED) return -errno;
  it->second.unmapped = true;
  return 1;
}

// Unmaps a region (see UnmapLocked). Returns 0, 1 or -errno.
Napi::Value RegionUnmap(const Napi::CallbackInfo& info) {
  uint64_t addr = ArgU64(info, 0, "addr");
  std::lock_guard<std::mutex> lock(gRegionsMu);
  auto it = gRegions->find(addr);
  if (it == gRegions->end() || it->second.unmapped) return Errno(info.Env(), EINVAL);
  return Napi::Number::New(info.Env(), static_cast<double>(UnmapLocked(it)));
}

// Whether [addr, addr+len) lies inside one live region (used before native threads touch it).
Napi::Value RegionContains(const Napi::CallbackInfo& info) {
  uint64_t addr = ArgU64(info, 0, "addr");
  uint64_t len = ArgU64(info, 1, "len");
  std::lock_guard<std::mutex> lock(gRegionsMu);
  return Napi::Boolean::New(info.Env(), FindRegion(addr, len) != gRegions->end());
}

// Whether [addr, addr+len) overlaps any region (live or waiting for its views to go). Raw
// munmap/mremap/MAP_FIXED over a region would leave its views pointing at nothing, so lib/
// refuses them.
Napi::Value RegionOverlaps(const Napi::CallbackInfo& info) {
  uint64_t addr = ArgU64(info, 0, "addr");
  uint64_t len = ArgU64(info, 1, "len");
  std::lock_guard<std::mutex> lock(gRegionsMu);
  auto it = gRegions->lower_bound(addr + len);
  while (it != gRegions->begin()) {
    --it;
    if (it->first + it->second.len > addr) return Napi::Boolean::New(info.Env(), true);
    break;
  }
  return Napi::Boolean::New(info.Env(), false);
}

// An ArrayBuffer over [addr, addr+len), which must lie inside one live region. The buffer holds
// a reference on the region until it is garbage-collected. Returns null if no region contains
// the range (lib/ turns that into a RangeError).
Napi::Value RegionView(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t addr = ArgU64(info, 0, "addr");
  uint64_t len = ArgU64(info, 1, "len");
  auto* hint = new ViewHint{0, 0};
  {
    std::lock_guard<std::mutex> lock(gRegionsMu);
    auto it = FindRegion(addr, len);
    if (it == gRegions->end()) {
      delete hint;
      return env.Null();
    }
    it->second.views++;
    hint->base = it->first;
    hint->gen = it->second.gen;
  }
  return Napi::ArrayBuffer::New(
      env, reinterpret_cast<void*>(addr), len,
      [](Napi::Env, void*, ViewHint* h) {
        ReleaseView(*h);
        delete h;
      },
      hint);
}

// Detaches an ArrayBuffer so every view over it becomes zero-length (napi_detach_arraybuffer).
Napi::Value Detach(const Napi::CallbackInfo& info) {
  if (!info[0].IsArrayBuffer()) throw Napi::TypeError::New(info.Env(), "not an ArrayBuffer");
  napi_status s = napi_detach_arraybuffer(info.Env(), info[0]);
  return Napi::Boolean::New(info.Env(), s == napi_ok);
}

// The address of the first byte of an ArrayBuffer or a view (also over a SharedArrayBuffer).
Napi::Value AddressOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* p = nullptr;
  if (info[0].IsArrayBuffer()) {
    p = static_cast<uint8_t*>(info[0].As<Napi::ArrayBuffer>().Data());
  } else {
    size_t len = 0;
    if (!ViewBytes(info[0], &p, &len)) {
      throw Napi::TypeError::New(env, "expected an ArrayBuffer, a TypedArray or a DataView");
    }
  }
  return Napi::Number::New(env, static_cast<double>(reinterpret_cast<uint64_t>(p)));
}

Napi::Value PageSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(sysconf(_SC_PAGESIZE)));
}

}  // namespace

void UnmapEnvRegions(const AddonData* owner) {
  std::lock_guard<std::mutex> lock(gRegionsMu);
  for (auto it = gRegions->begin(); it != gRegions->end();) {
    auto next = std::next(it);
    if (it->second.owner == owner && !it->second.unmapped) UnmapLocked(it);
    it = next;
  }
}

void InitMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("mmap", Napi::Function::New(env, Mmap, "mmap"));
  exports.Set("munmap", Napi::Function::New(env, Munmap, "munmap"));
  exports.Set("mprotect", Napi::Function::New(env, Mprotect, "mprotect"));
  exports.Set("madvise", Napi::Function::New(env, Madvise, "madvise"));
  exports.Set("mlock", Napi::Function::New(env, Mlock, "mlock"));
  exports.Set("munlock", Napi::Function::New(env, Munlock, "munlock"));
  exports.Set("mremap", Napi::Function::New(env, Mremap, "mremap"));
  exports.Set("memfdCreate", Napi::Function::New(env, MemfdCreate, "memfdCreate"));
  exports.Set("ftruncate", Napi::Function::New(env, Ftruncate, "ftruncate"));
  exports.Set("regionAdd", Napi::Function::New(env, RegionAdd, "regionAdd"));
  exports.Set("regionUnmap", Napi::Function::New(env, RegionUnmap, "regionUnmap"));
  exports.Set("regionContains", Napi::Function::New(env, RegionContains, "regionContains"));
  exports.Set("regionOverlaps", Napi::Function::New(env, RegionOverlaps, "regionOverlaps"));
  exports.Set("regionView", Napi::Function::New(env, RegionView, "regionView"));
  exports.Set("detach", Napi::Function::New(env, Detach, "detach"));
  exports.Set("addressOf", Napi::Function::New(env, AddressOf, "addressOf"));
  exports.Set("pageSize", Napi::Function::New(env, PageSize, "pageSize"));
}

}  // namespace uffd
