// Shared helpers for the addon's translation units.
//
// Conventions (the TypeScript layer in lib/ relies on them):
// - Native functions never decide policy. A syscall's failure is returned as a negative errno
//   (a plain JS number), never thrown: lib/errors.ts turns it into a UffdError with code, errno,
//   syscall and bytesDone. Only arguments of the wrong JS type throw (TypeError), and lib/
//   validates those before calling in, so that path is a last line of defence.
// - Addresses and lengths are accepted as Number (integral, non-negative) or BigInt (lossless
//   uint64). BigInt lets tests hand the kernel values such as 2^63 that the public API refuses.
// - The result field of COPY/ZEROPAGE/MOVE/CONTINUE/POISON is written to a per-environment
//   Float64Array (AddonData::result), NaN when the kernel left it untouched.
#pragma once

#include <errno.h>
#include <napi.h>
#include <stdint.h>

#include <cmath>
#include <set>

namespace uffd {

struct AddonData {
  // result[0]: the ioctl's result field after the last ioctl call on this env's thread.
  Napi::Reference<Napi::Float64Array> resultRef;
  double* result = nullptr;
  Napi::FunctionReference pollerCtor;
  // fds this environment owns (uffds, memfds): closed by the env cleanup hook if JS never closed
  // them, so a terminated Worker leaks no fd (env_cleanup.cc).
  std::set<int> ownedFds;
};

inline AddonData* GetData(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

// Reads a uint64 from a JS Number or BigInt. Returns false for anything else, a negative,
// fractional, non-finite or out-of-range value.
//
// Hot path (every resolving ioctl passes four of these): one napi_get_value_double, which
// itself answers "is it a Number" (napi_number_expected otherwise), instead of napi_typeof +
// napi_get_value_double; the BigInt lookup runs only for non-Numbers. In the bench's profile of
// single-page move() (scenario 3) napi_typeof + Value::IsNumber were ~1% of the call.
inline bool ToU64(const Napi::Value& v, uint64_t* out) {
  double d;
  napi_status s = napi_get_value_double(v.Env(), v, &d);
  if (s == napi_ok) {
    if (!(d >= 0) || !(d < 18446744073709551616.0) || std::floor(d) != d) return false;
    *out = static_cast<uint64_t>(d);
    return true;
  }
  bool lossless = false;
  uint64_t x = 0;
  if (napi_get_value_bigint_uint64(v.Env(), v, &x, &lossless) != napi_ok || !lossless) {
    return false;
  }
  *out = x;
  return true;
}

inline uint64_t ArgU64(const Napi::CallbackInfo& info, size_t i, const char* name) {
  uint64_t out = 0;
  if (!ToU64(info[i], &out)) {
    Napi::TypeError e = Napi::TypeError::New(
        info.Env(), std::string("The \"") + name + "\" argument must be a non-negative integer");
    e.Set("code", Napi::String::New(info.Env(), "ERR_INVALID_ARG_TYPE"));
    throw e;
  }
  return out;
}

inline int ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name) {
  // napi_get_value_int32 answers napi_number_expected for a non-Number (no napi_typeof first).
  int32_t v = 0;
  if (napi_get_value_int32(info.Env(), info[i], &v) != napi_ok) {
    Napi::TypeError e = Napi::TypeError::New(
        info.Env(), std::string("The \"") + name + "\" argument must be a number");
    e.Set("code", Napi::String::New(info.Env(), "ERR_INVALID_ARG_TYPE"));
    throw e;
  }
  return v;
}

// A uint64 as a JS value: a Number when exactly representable, else a BigInt.
inline Napi::Value FromU64(Napi::Env env, uint64_t v) {
  if (v <= (1ull << 53)) return Napi::Number::New(env, static_cast<double>(v));
  return Napi::BigInt::New(env, v);
}

inline Napi::Value Errno(Napi::Env env, int err) { return Napi::Number::New(env, -err); }

// A syscall's return as the binding's convention: the value, or -errno when it failed (< 0).
inline Napi::Value Ret(Napi::Env env, long ret) {
  return Napi::Number::New(env, ret < 0 ? -errno : static_cast<double>(ret));
}

// The bytes of a TypedArray or DataView: first byte and length, or false for anything else.
// Through napi_get_*_info rather than .ArrayBuffer().Data(), which throws a bare "Invalid
// argument" Error for a view over a SharedArrayBuffer (copy() from one did, seen by the fuzzer).
// A view of a detached buffer gives (nullptr, 0).
inline bool ViewBytes(const Napi::Value& v, uint8_t** data, size_t* len) {
  napi_env env = v.Env();
  void* p = nullptr;
  size_t n = 0;
  if (v.IsTypedArray()) {
    napi_typedarray_type type;
    size_t count = 0;
    if (napi_get_typedarray_info(env, v, &type, &count, &p, nullptr, nullptr) != napi_ok) {
      return false;
    }
    n = v.As<Napi::TypedArray>().ByteLength();
  } else if (v.IsDataView()) {
    if (napi_get_dataview_info(env, v, &n, &p, nullptr, nullptr) != napi_ok) return false;
  } else {
    return false;
  }
  *data = static_cast<uint8_t*>(p);
  *len = p == nullptr ? 0 : n;
  return true;
}

void InitIoctls(Napi::Env env, Napi::Object exports);
void InitMemory(Napi::Env env, Napi::Object exports);
void InitThreads(Napi::Env env, Napi::Object exports);
void InitPoller(Napi::Env env, Napi::Object exports);
void InitConstants(Napi::Env env, Napi::Object exports);
void InitScm(Napi::Env env, Napi::Object exports);
void InitWatchdog(Napi::Env env, Napi::Object exports);
void InitResolver(Napi::Env env, Napi::Object exports);
void InitEnvCleanup(Napi::Env env, Napi::Object exports);
void InitFailLoud(Napi::Env env, Napi::Object exports);
void InitPin(Napi::Env env, Napi::Object exports);

// env_cleanup.cc: fd ownership (Open, DevOpen and MemfdCreate own what they return; Close drops).
void OwnFd(Napi::Env env, int fd);
void DisownFd(Napi::Env env, int fd);
// memory.cc: unmaps the regions this environment created and never unmapped (env teardown).
void UnmapEnvRegions(const AddonData* owner);

}  // namespace uffd
