{
  "variables": {
    "asan%": 0
  },
  "targets": [
    {
      "target_name": "userfaultfd",
      "conditions": [
        ["OS=='linux' and asan==1", {
          "cflags_cc": ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g", "-O1"],
          "ldflags": ["-fsanitize=address,undefined"]
        }],
        ["OS=='linux'", {
          "sources": [
            "native/addon.cc",
            "native/constants.cc",
            "native/memory.cc",
            "native/poller.cc",
            "native/threads.cc",
            "native/uffd_ioctls.cc",
            "native/scm.cc",
            "native/watchdog.cc",
            "native/resolver.cc",
            "native/env_cleanup.cc",
            "native/fail_loud.cc",
            "native/pin.cc"
          ],
          "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
          "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
          "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-Wall", "-Wextra", "-fstack-protector-strong"],
          # -fno-rtti (node-gyp's default) off: without RTTI, every std::make_shared binds to
          # std::_Sp_make_shared_tag::_S_eq, GLIBCXX_3.4.26 (GCC 9), which RHEL 8's libstdc++
          # (GCC 8, where Node 20 runs) lacks; with it, the prebuilds need only GLIBCXX_3.4.22.
          "cflags_cc!": ["-std=gnu++17", "-std=gnu++14", "-fno-rtti"],
          "ldflags": ["-pthread"]
        }, {
          "type": "none"
        }]
      ]
    }
  ]
}
