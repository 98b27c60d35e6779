#!/usr/bin/env bash
# Sets up a fresh Debian machine for nntrain: installs the Debian packages it needs when
# missing (OpenBLAS, OpenMPI, zlib, Fashion-MNIST), then builds the release binary.
#   bash launch/setup.sh            # packages + release build
#   NNTRAIN_BUILD=debug bash launch/setup.sh   # packages + debug build (the tests use it)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libopenmpi-dev openmpi-bin libopenblas-dev zlib1g-dev pkg-config dataset-fashion-mnist)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
case "${NNTRAIN_BUILD:-release}" in
    release) swift build -c release 2>&1 | grep -E "error|warning: |Compiling nntrain|Build complete" || true
             test -x .build/release/nntrain ;;
    debug)   swift build --build-tests 2>&1 | grep -E "error|Build complete" || true
             test -x .build/debug/nntrain ;;
esac
