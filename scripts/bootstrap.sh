#!/usr/bin/env bash
# Installs every Debian package certfleet needs to build, test and benchmark,
# and only those that are missing. Safe to run again: it does nothing when all
# packages are present.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config git
  # libraries
  libgrpc++-dev libgrpc-dev protobuf-compiler protobuf-compiler-grpc libprotobuf-dev
  libabsl-dev libcurl4-openssl-dev libsqlite3-dev libssl-dev
  nlohmann-json3-dev libidn2-dev
  # BoringSSL build of common/crypto (tests only)
  android-libboringssl-dev
  # tests
  libgtest-dev libgmock-dev googletest openssl sqlite3 curl iproute2
  # the test CA, the peer client for benchmarks, and the web server the agent serves
  pebble lego apache2
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "bootstrap: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "bootstrap: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
