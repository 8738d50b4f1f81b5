#!/usr/bin/env bash
# npm run test:docker: the Dockerfile, verified for real with podman (rootful, Linux host).
#
#  1. lints the Dockerfile (dockerfile-utils: syntax/semantics; dockerfilelint: practices) and
#     checks that docker/seccomp-userfaultfd.json is what scripts/seccomp-profile.js writes;
#  2. installs podman, buildah, runc and debootstrap with apt-get if they are missing, and writes
#     a containers.conf (runc, and ulimits this host allows);
#  3. makes the base image when it is missing: a Debian bookworm debootstrapped from the Debian
#     archive and imported locally, so that no registry is needed (BASE_IMAGE overrides it);
#  4. builds the image (cached layers make a rebuild take seconds);
#  5. runs the whole suite in a --privileged container: it must pass;
#  6. in a default container: the package must report EPERM clearly (doctor, Userfaultfd.open)
#     and backend 'auto' must fall back to the simulated engine;
#  7. checks the narrower run flags the README documents: the shipped seccomp profile, plus
#     --cap-add SYS_PTRACE, and --device /dev/userfaultfd (each serves real faults).
#
# Env: IMAGE, BASE_IMAGE, CONTAINERS_CONF, SKIP_SUITE=1 (skip step 5), CA_BUNDLE (host CA
# bundle given to the build, for registries behind a private CA; default: the system bundle).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-localhost/userfaultfd-test}
BASE_IMAGE=${BASE_IMAGE:-localhost/debian-bookworm:minbase}
export CONTAINERS_CONF=${CONTAINERS_CONF:-/tmp/userfaultfd-containers.conf}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
PROFILE=$PWD/docker/seccomp-userfaultfd.json
LINT_PREFIX=${LINT_PREFIX:-${TMPDIR:-/tmp}/userfaultfd-dockerfile-lint}

T0=$(date +%s.%N)
LAST=$T0
TIMINGS=()
step() { echo; echo "=== $*"; }
took() {
  local now
  now=$(date +%s.%N)
  TIMINGS+=("$(awk -v l="$1" -v a="$now" -v b="$LAST" 'BEGIN { printf "%-44s %6.1f s", l, a - b }')")
  LAST=$now
}

step "lint the Dockerfile and the seccomp profile"
lint_bin() {
  if [ -x "node_modules/.bin/$1" ]; then
    echo "node_modules/.bin/$1"
  else
    # Not installed (e.g. dependencies not yet updated): a throwaway install outside the tree.
    [ -x "$LINT_PREFIX/node_modules/.bin/$1" ] ||
      npm install --no-save --silent --prefix "$LINT_PREFIX" dockerfile-utils@0.16 dockerfilelint@1.8 >&2
    echo "$LINT_PREFIX/node_modules/.bin/$1"
  fi
}
"$(lint_bin dockerfile-utils)" lint Dockerfile
"$(lint_bin dockerfilelint)" Dockerfile
node scripts/seccomp-profile.js --check
echo "Dockerfile and profile: clean"
took "lint"

step "podman"
if ! command -v podman >/dev/null || ! command -v runc >/dev/null ||
  { [ "$BASE_IMAGE" = localhost/debian-bookworm:minbase ] && ! command -v debootstrap >/dev/null; }; then
  if [ "$(id -u)" != 0 ]; then
    echo "podman, runc or debootstrap is missing; as root: apt-get install -y podman buildah runc uidmap debootstrap" >&2
    exit 1
  fi
  apt-get install -y -qq --no-install-recommends podman buildah runc uidmap debootstrap >/dev/null ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends podman buildah runc uidmap debootstrap >/dev/null; }
fi
if [ ! -f "$CONTAINERS_CONF" ]; then
  # runc: crun 1.8 refuses hosts with a hybrid cgroup v1/v2 layout. ulimits: podman's default
  # RLIMIT_NOFILE of 1048576 fails where root lacks CAP_SYS_RESOURCE, so use the shell's limit.
  cat >"$CONTAINERS_CONF" <<EOC
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=20000:20000"]
[engine]
runtime = "runc"
EOC
fi
podman --version
took "podman present"

step "base image $BASE_IMAGE"
if ! podman image exists "$BASE_IMAGE"; then
  if [ "$BASE_IMAGE" = localhost/debian-bookworm:minbase ]; then
    R=$(mktemp -d)
    debootstrap --variant=minbase bookworm "$R" http://deb.debian.org/debian >/dev/null
    tar -C "$R" -c . | podman import - "$BASE_IMAGE" >/dev/null
    rm -rf "$R"
  else
    podman pull "$BASE_IMAGE"
  fi
fi
echo "have $BASE_IMAGE"
took "base image"

step "build $IMAGE"
CA_ARGS=()
# The bundle goes where update-ca-certificates picks up local CAs (a mount over the bundle itself
# would break the ca-certificates package's postinst, which rewrites it).
[ -f "$CA_BUNDLE" ] && CA_ARGS=(-v "$CA_BUNDLE:/usr/local/share/ca-certificates/host-bundle.crt:ro")
podman build -q --format docker "${CA_ARGS[@]}" --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$IMAGE" .
took "image build"

RUN=(podman run --rm --network none)
FAILED=0
expect() { # expect LABEL CMD...: run, and record a failure without stopping
  local label=$1
  shift
  if "$@"; then echo "--> $label: ok"; else
    echo "--> $label: FAILED" >&2
    FAILED=1
  fi
}

if [ "${SKIP_SUITE:-}" != 1 ]; then
  step "the whole suite, --privileged"
  # Except the suites that change host-wide state: probe-x-system / probe-x-swap (swap and
  # nr_hugepages; swapon also fails on the container's overlayfs) and reliability/privileges
  # (vm.unprivileged_userfaultfd, an ACL on /dev/userfaultfd). A container must not change the
  # host's; the host's own npm test runs them.
  expect "suite in a privileged container" "${RUN[@]}" --privileged "$IMAGE" \
    npm test -- --testPathIgnorePatterns 'probe-x-s(ystem|wap)' 'reliability/privileges'
  took "suite (--privileged)"
fi

step "default container: EPERM, reported clearly; auto -> simulated"
expect "default flags" "${RUN[@]}" "$IMAGE" node scripts/docker-check.js default
took "default container checks"

step "--privileged: every path"
expect "privileged" "${RUN[@]}" --privileged "$IMAGE" node scripts/docker-check.js privileged
took "privileged checks"

step "--security-opt seccomp=docker/seccomp-userfaultfd.json"
expect "seccomp profile" "${RUN[@]}" --security-opt "seccomp=$PROFILE" "$IMAGE" \
  node scripts/docker-check.js profile
took "profile checks"

step "--security-opt seccomp=docker/seccomp-userfaultfd.json --cap-add SYS_PTRACE"
expect "seccomp profile + SYS_PTRACE" "${RUN[@]}" --security-opt "seccomp=$PROFILE" \
  --cap-add SYS_PTRACE "$IMAGE" node scripts/docker-check.js profile-ptrace
took "profile + SYS_PTRACE checks"

if [ -c /dev/userfaultfd ]; then
  step "--device /dev/userfaultfd (default seccomp profile)"
  expect "device" "${RUN[@]}" --device /dev/userfaultfd "$IMAGE" node scripts/docker-check.js device
  took "--device checks"
else
  echo "(host has no /dev/userfaultfd: Linux < 6.1; --device check not run)"
fi

echo
echo "=== timings"
printf '%s\n' "${TIMINGS[@]}"
awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN { printf "%-44s %6.1f s\n", "total", a - b }'
[ "$FAILED" = 0 ] && echo "test:docker: all passed" || { echo "test:docker: FAILED" >&2; exit 1; }
