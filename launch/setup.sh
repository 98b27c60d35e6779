#!/usr/bin/env bash
# Sets up a fresh Debian machine for nntrain: installs the Debian packages it needs when
# missing (OpenBLAS, OpenMPI, zlib, Fashion-MNIST, python3 with pip), the Python packages of the
# plots and the TensorBoard read-back (matplotlib, tensorboard, PyYAML; pip, from PyPI), builds
# nntrain, and installs it with its launchers on PATH (launch/install.sh).
#   bash launch/setup.sh                         # release build, installed into /usr/local/bin
#   PREFIX=$HOME/.local/bin bash launch/setup.sh # installed there instead
#   NNTRAIN_BUILD=debug bash launch/setup.sh     # debug build with tests (what launch/test.sh
#                                                #   runs); installed only if PREFIX is given
# After it: nntrain, nntrain-mpi, nntrain-run and nntrain-sweep are on PATH; as root, plain
# mpirun also needs `export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1`
# (printed at the end; see the README).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"

packages=(libopenmpi-dev openmpi-bin libopenblas-dev zlib1g-dev pkg-config dataset-fashion-mnist)
command -v python3 >/dev/null || packages+=(python3)
python3 -m pip --version >/dev/null 2>&1 || packages+=(python3-pip)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Python packages, from PyPI, for the python3 that the plot steps run (`python3` on PATH).
want=()
python3 -c "import matplotlib" 2>/dev/null || want+=(matplotlib)
python3 -c "import tensorboard" 2>/dev/null || want+=(tensorboard)
python3 -c "import yaml" 2>/dev/null || want+=(pyyaml)
if ((${#want[@]})); then
    pipargs=(-q install)
    # Debian's own python3 refuses pip installs (PEP 668, "externally-managed-environment").
    # As root pip then installs into /usr/local/lib/python3.X/dist-packages, which apt leaves alone.
    if [ -e "$(python3 -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')/EXTERNALLY-MANAGED" ]; then
        echo "setup: $(command -v python3) is managed by Debian: pip installs with --break-system-packages"
        pipargs+=(--break-system-packages)
        [ "$(id -u)" -ne 0 ] && pipargs+=(--user)
    fi
    echo "setup: pip install ${want[*]}"
    if ! piplog="$(python3 -m pip "${pipargs[@]}" "${want[@]}" 2>&1)"; then
        echo "$piplog" >&2
        echo "setup: error: 'python3 -m pip ${pipargs[*]} ${want[*]}' failed (output above)" >&2
        exit 1
    fi
    python3 -c "import matplotlib, tensorboard, yaml" || { echo "setup: error: pip finished but python3 cannot import ${want[*]}" >&2; exit 1; }
fi

command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
build="${NNTRAIN_BUILD:-release}"
case "$build" in
    release) swift build -c release 2>&1 | grep -E "error|warning: |Compiling nntrain|Build complete" || true
             test -x .build/release/nntrain ;;
    debug)   swift build --build-tests 2>&1 | grep -E "error:|Build complete" || true
             test -x .build/debug/nntrain ;;
    *) echo "setup: NNTRAIN_BUILD must be release or debug, got '$build'" >&2; exit 2 ;;
esac

# Install: always for the release build; for the debug build only into an explicit PREFIX (so
# that the tests do not replace an installed release binary).
if [ "$build" = release ] || [ -n "${PREFIX:-}" ]; then
    prefix="${PREFIX:-/usr/local/bin}"
    if [ -w "$prefix" ] || [ -w "$(dirname "$prefix")" ] || [ -z "$SUDO" ]; then
        NNTRAIN_BUILD="$build" PREFIX="$prefix" bash launch/install.sh
    else
        $SUDO env NNTRAIN_BUILD="$build" PREFIX="$prefix" bash launch/install.sh
    fi
    # Plain mpirun's own conditions (setup does not change your shell or OpenMPI's config files):
    if [ "$(id -u)" -eq 0 ]; then
        echo "setup: as root, plain mpirun needs: export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"
    fi
    echo "setup: for more mpirun ranks than this machine's $(nproc) cores: export OMPI_MCA_rmaps_base_oversubscribe=1 (nntrain-mpi needs neither)"
fi
