#!/usr/bin/env bash
# Installs what building and testing Nimbus needs on a fresh Debian machine
# that has Rust (rustup). Idempotent: safe to run again.
set -euo pipefail

rustup target add wasm32-wasip1 wasm32-wasip2

# Debian packages the test suites use (servers the tests start on 127.0.0.1,
# and their clients; an OCI registry and skopeo; containerd and runc for the
# containerd shim; OpenSSL's headers for the registry client's native TLS; `postgresql` brings psql). It puts initdb and postgres in
# /usr/lib/postgresql/<version>/bin, off PATH: the tests look there.
packages=(
  redis-server
  postgresql
  mariadb-server mariadb-client
  mosquitto mosquitto-clients nats-server
  docker-registry skopeo
  pkg-config libssl-dev
  containerd runc
  # Build dependencies of containerd-shim-nimbus (runwasi's containerd-shim-wasm:
  # protoc for containerd's API, libseccomp for youki's libcontainer).
  protobuf-compiler libseccomp-dev pkg-config
)
missing=()
for pkg in "${packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
