# A reproducible build-and-test image for userfaultfd (not a runtime image).
#
#   docker build -t userfaultfd-test .
#   docker run --rm --privileged userfaultfd-test                  # the full suite: passes
#   docker run --rm userfaultfd-test node dist/cli.js doctor       # default flags: EPERM, and why
#
# userfaultfd(2) inside a container (README "Permissions and containers"; checked with podman by
# `npm run test:docker`): the default seccomp profile of Docker and podman has no rule for
# userfaultfd, so the syscall fails with EPERM however the container is configured otherwise.
# Working run flags, narrowest first:
#   --security-opt seccomp=docker/seccomp-userfaultfd.json
#       the default profile plus userfaultfd: UFFD_USER_MODE_ONLY works (Userfaultfd.open())
#   ... plus --cap-add SYS_PTRACE
#       kernel-mode faults too (userModeOnly: false) and the eventFork feature
#   --device /dev/userfaultfd (Linux 6.1+)
#       opens through the device's ioctl, which no seccomp profile blocks; the device node's
#       permissions apply (root in the container: fine)
#   --privileged
#       everything (no seccomp, all capabilities)
#
# The base image is an argument so that the image also builds without a registry: `npm run
# test:docker` passes a locally debootstrapped bookworm (scripts/test-docker.sh).
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

# Node comes from the npm registry's node-linux-<arch> package (the official binary, no install
# script), npm from the registry's npm package: one source for everything, and nodejs.org is not
# needed. Checksums: the registry's sha512 `dist.integrity`, in hex.
ARG NODE_VERSION=20.20.2
ARG NODE_SHA512_X64=3de1d033cc007661ed640d66068732819c6ce4b8945adb097b3413901774898f7cecaa46ac3d4edad544c9dbcc662b9771e45a9f1b7bae34e70c407038fba3a1
ARG NODE_SHA512_ARM64=2c25c99cd4c58b21ae601c36819488e4e04531b92300fb7cb2a0ff34aad6a04d90983812b9b4ea16783a19a349f4427c1e9c413067165a96db72ce15a3e0a71a
ARG NPM_VERSION=10.9.4
ARG NPM_SHA512=3a7506f37e85c1ba1021baad79f0cd9724748131f321fc117c4dc3ba235ec01be7327584a41d15117c01945560aa9373220628fcc1e1dddd877a5fe9b336a900
ARG REGISTRY=https://registry.npmjs.org

# g++, make, python3: node-gyp builds the addon. util-linux (setpriv) runs tests as uid 65534.
RUN apt-get update \
  && apt-get install -y --no-install-recommends ca-certificates curl g++ make python3 util-linux \
  && rm -rf /var/lib/apt/lists/*

RUN case "$(uname -m)" in \
      x86_64) arch=x64; sum="${NODE_SHA512_X64}" ;; \
      aarch64) arch=arm64; sum="${NODE_SHA512_ARM64}" ;; \
      *) echo "unsupported machine $(uname -m)" >&2; exit 1 ;; \
    esac \
  && curl -fsSLo /tmp/node.tgz "${REGISTRY}/node-linux-${arch}/-/node-linux-${arch}-${NODE_VERSION}.tgz" \
  && echo "${sum}  /tmp/node.tgz" | sha512sum -c - \
  && tar -xzf /tmp/node.tgz -C /usr/local --strip-components=1 package/bin/node package/include \
  && curl -fsSLo /tmp/npm.tgz "${REGISTRY}/npm/-/npm-${NPM_VERSION}.tgz" \
  && echo "${NPM_SHA512}  /tmp/npm.tgz" | sha512sum -c - \
  && mkdir -p /usr/local/lib/node_modules/npm \
  && tar -xzf /tmp/npm.tgz -C /usr/local/lib/node_modules/npm --strip-components=1 \
  && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
  && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
  && rm /tmp/node.tgz /tmp/npm.tgz \
  && node --version && npm --version

# The official Node binary has its own CA list; this makes it (npm) also trust the system's
# bundle, e.g. a private CA added with update-ca-certificates. node-gyp finds the headers of the
# Node above in /usr/local/include/node, so it downloads nothing.
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    npm_config_nodedir=/usr/local \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false

WORKDIR /app

# Dependencies first, so that a source change does not reinstall them.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit

# The addon, then everything else (lint, typecheck and the TypeScript build run at test time).
COPY binding.gyp ./
COPY native ./native
RUN npx node-gyp rebuild
COPY . .
RUN npm run build:ts && node dist/cli.js --version

# The whole suite on the real kernel. Needs userfaultfd: run with --privileged or the flags above.
ENV CI=true
CMD ["npm", "test"]
