#!/usr/bin/env bash
# Installs what is missing, builds certfleet, and runs the whole test suite:
# unit, integration (real Pebble, SQLite, gRPC, TLS) and end-to-end tests with the
# OpenSSL build, then the crypto tests again against BoringSSL.
#
#   scripts/test.sh            # everything
#   scripts/test.sh -L unit    # extra arguments go to the main ctest run
#
# Exits non-zero when the build or any test fails.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${CERTFLEET_BUILD_DIR:-$root/build}
jobs=${CERTFLEET_JOBS:-$(nproc)}

"$root/scripts/bootstrap.sh"

echo "== crypto tests against BoringSSL"
cmake -S "$root" -B "$build/boringssl" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCERTFLEET_BORINGSSL_CRYPTO=ON >/dev/null
ninja -C "$build/boringssl" -j "$jobs" crypto_test
ctest --test-dir "$build/boringssl" --output-on-failure

echo "== build (OpenSSL 3)"
cmake -S "$root" -B "$build/openssl" -G Ninja -DCMAKE_BUILD_TYPE=Debug >/dev/null
ninja -C "$build/openssl" -j "$jobs"

echo "== all tests"
ctest --test-dir "$build/openssl" --output-on-failure -j 2 "$@"
