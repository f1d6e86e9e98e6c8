#!/usr/bin/env bash
# End-to-end test of the real container image on a machine with no container
# registry: local base images are made with debootstrap, the Dockerfile is built
# against them, and the service runs under docker-compose on the demo catalog.
#
#   sudo scripts/container-test.sh        # prints one line per step and "N passed, N failed"
#
# If no Docker engine can be started here, it prints SKIPPED with the reason and
# exits 0. Everything it starts (dockerd, containers, temp folders) is removed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "PASS  $*"; }
bad() { failed=$((failed + 1)); echo "FAIL  $*"; }
info() { echo "....  $*"; }
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}
skip() {
  echo "SKIPPED: $*"
  echo "$passed passed, $failed failed"
  exit 0
}

[ "$(id -u)" -eq 0 ] || skip "needs root to start dockerd"

work=$(mktemp -d /tmp/cmg-container-test.XXXXXX)
export DOCKER_HOST="unix://$work/docker.sock"
DOCKERD_PID=""
PROJECT="cmgtest$$"
cleanup() {
  if [ -n "$DOCKERD_PID" ]; then
    (cd "$work/compose" 2>/dev/null && docker-compose -p "$PROJECT" down -v --remove-orphans >/dev/null 2>&1) || true
    kill "$DOCKERD_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$DOCKERD_PID" 2>/dev/null || true
  fi
  # dockerd unmounts its layers on exit; anything left is unmounted here.
  grep -o "$work[^ ]*" /proc/mounts 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# ---------------------------------------------------------------- tools
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  info "installing ${need[*]}"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"; } >"$work/apt.log" 2>&1; then
    skip "cannot install ${need[*]}: $(tail -n1 "$work/apt.log")"
  fi
fi
ok "tools present: dockerd, docker-compose, debootstrap"

# ---------------------------------------------------------------- dockerd
mkdir -p "$work/data" "$work/exec"
dockerd --data-root "$work/data" --exec-root "$work/exec" --host "$DOCKER_HOST" \
  --pidfile "$work/dockerd.pid" >"$work/dockerd.log" 2>&1 &
DOCKERD_PID=$!
for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
if ! docker info >/dev/null 2>&1; then
  DOCKERD_PID=""
  skip "dockerd cannot start here: $(grep -iE 'error|fatal' "$work/dockerd.log" | tail -n1)"
fi
ok "dockerd started (data in $work/data)"

# ---------------------------------------------------------------- base images
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
info "debootstrap bookworm (minbase) from $MIRROR"
if debootstrap --variant=minbase bookworm "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
  && rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"* \
  && tar -C "$work/rootfs" -c . | docker import - local/debian:bookworm-slim >/dev/null; then
  ok "runtime base image local/debian:bookworm-slim imported"
else
  # No Debian mirror here: infrastructure, not the image under test.
  skip "cannot make a local base image: $(tail -n1 "$work/debootstrap.log")"
fi
rm -rf "$work/rootfs"

SYSROOT=$(rustc --print sysroot)
mkdir -p "$work/builder/rust"
cp -a "$SYSROOT/bin" "$SYSROOT/lib" "$work/builder/rust/"
# The machine's CA bundle: crates.io may only be reachable through a proxy that
# this machine trusts and a fresh Debian does not.
cp "${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}" "$work/builder/host-ca.crt"
cat >"$work/builder/Dockerfile" <<'EOF'
FROM local/debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev ca-certificates && rm -rf /var/lib/apt/lists/*
COPY rust /usr/local/rust
COPY host-ca.crt /etc/ssl/certs/host-ca.crt
ENV PATH=/usr/local/rust/bin:$PATH CARGO_HOME=/usr/local/cargo \
    CARGO_HTTP_CAINFO=/etc/ssl/certs/host-ca.crt SSL_CERT_FILE=/etc/ssl/certs/host-ca.crt
EOF
if DOCKER_BUILDKIT=0 docker build --network host -q -t local/rust-builder "$work/builder" >"$work/builder.log" 2>&1 \
  && docker run --rm local/rust-builder cargo --version >/dev/null 2>&1; then
  ok "builder image local/rust-builder with this machine's toolchain ($(rustc --version))"
else
  skip "cannot make the local builder image: $(tail -n1 "$work/builder.log")"
fi
rm -rf "$work/builder"

# ---------------------------------------------------------------- the image
info "docker build (release build inside the builder; a few minutes cold)"
started=$(date +%s)
if DOCKER_BUILDKIT=0 docker build --network host \
  --build-arg BUILDER_IMAGE=local/rust-builder \
  --build-arg RUNTIME_IMAGE=local/debian:bookworm-slim \
  -t cmg-feed-proxy:latest "$ROOT" >"$work/build.log" 2>&1; then
  ok "image cmg-feed-proxy:latest built in $(( $(date +%s) - started ))s ($(docker image inspect -f '{{.Size}}' cmg-feed-proxy:latest | awk '{printf "%.0f MB", $1/1e6}'))"
else
  bad "docker build: $(tail -n3 "$work/build.log" | tr '\n' ' ')"
  finish
fi

# ---------------------------------------------------------------- compose
mkdir -p "$work/compose/secrets" "$work/compose/deploy"
cp "$ROOT/docker-compose.yml" "$work/compose/"
cp "$ROOT/deploy/partners.example.toml" "$work/compose/deploy/"
: >"$work/compose/secrets/cmg_api_key.txt"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cd "$work/compose"
export DEMO=1 PUBLISH_PORT=$PORT
if docker-compose -p "$PROJECT" config -q && docker-compose -p "$PROJECT" up -d --no-build >"$work/up.log" 2>&1; then
  ok "docker-compose up (DEMO=1, port $PORT)"
else
  bad "docker-compose up: $(tail -n2 "$work/up.log" | tr '\n' ' ')"
  finish
fi
CID=$(docker-compose -p "$PROJECT" ps -q cmg-feed-proxy)

health=""
for _ in $(seq 1 60); do
  health=$(docker inspect -f '{{.State.Health.Status}}' "$CID" 2>/dev/null)
  [ "$health" = healthy ] && break
  sleep 1
done
if [ "$health" = healthy ]; then ok "Docker reports the container healthy (HEALTHCHECK runs cmg-feed-proxy healthcheck)"; else bad "health is '$health'"; fi

body=$(curl -fsS "http://127.0.0.1:$PORT/plans?country=DE&limit=5" 2>&1)
if echo "$body" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["total"] > 0 and all("DE" in p["locationCodes"] for p in d["plans"])' 2>/dev/null; then
  ok "GET /plans?country=DE through the published port: $(echo "$body" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])') plans"
else
  bad "GET /plans?country=DE: ${body:0:200}"
fi

uid=$(docker exec "$CID" id -u 2>/dev/null)
if [ -n "$uid" ] && [ "$uid" != 0 ]; then ok "the process runs as non-root uid $uid"; else bad "uid is '$uid'"; fi
if [ "$(docker inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$CID")" = true ] && ! docker exec "$CID" touch /probe 2>/dev/null; then
  ok "the root filesystem is read-only"
else
  bad "the root filesystem is writable"
fi

docker-compose -p "$PROJECT" stop -t 30 >/dev/null 2>&1
code=$(docker inspect -f '{{.State.ExitCode}}' "$CID")
if [ "$code" = 0 ] && docker logs "$CID" 2>&1 | grep -q '"stopped"\|stopped'; then
  ok "docker-compose stop: exit code 0 after draining"
else
  bad "exit code after stop: $code"
fi
docker-compose -p "$PROJECT" down -v >/dev/null 2>&1 && ok "docker-compose down" || bad "docker-compose down"
cd "$ROOT"
finish
