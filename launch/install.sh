#!/usr/bin/env bash
# install.sh: copies the built nntrain and its launchers into a directory on PATH, and the files
# they read at run time into a share directory next to it. launch/setup.sh calls it after the
# build; call it yourself to install again or elsewhere (it builds nothing).
#
#   bash launch/install.sh                          # PREFIX=/usr/local/bin, release build
#   PREFIX=$HOME/.local/bin bash launch/install.sh  # another directory (create it; put it on PATH)
#   PREFIX=/tmp/x/bin NNTRAIN_BUILD=debug bash launch/install.sh   # the debug build (tests)
#
# Installs (copies, so they survive deleting or moving the checkout):
#   PREFIX/nntrain            the binary of .build/$NNTRAIN_BUILD
#   PREFIX/nntrain-mpi        mpirun wrapper (launch/nntrain-mpi)
#   PREFIX/nntrain-run        restart-on-failure launcher (launch/nntrain-run)
#   PREFIX/nntrain-sweep      grid runner (launch/sweep)
#   SHARE/*.py                the plot scripts: plot_experiment.py (`nntrain experiment`, the
#                             sweep) and plot_metrics.py (`nntrain plot`)
#   SHARE/examples/*.yaml     the sweep specs of launch/
#   SHARE/configs/*.yaml      the training recipes of configs/ (`nntrain train --config`)
# where SHARE = PREFIX/../share/nntrain (override with SHARE=).
# The launchers look for their siblings (nntrain, nntrain-mpi) in their own directory first and
# for the plot script in their own directory, then in ../share/nntrain; `nntrain experiment`
# looks next to its executable and in ../share/nntrain the same way.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

prefix="${PREFIX:-/usr/local/bin}"
build="${NNTRAIN_BUILD:-release}"
bin=".build/$build/nntrain"
[[ "$build" == release || "$build" == debug ]] || { echo "install: NNTRAIN_BUILD must be release or debug, got '$build'" >&2; exit 2; }
[[ -x "$bin" ]] || { echo "install: $bin not found: build it first (bash launch/setup.sh, or swift build -c $build)" >&2; exit 1; }
mkdir -p "$prefix"
prefix="$(cd "$prefix" && pwd)"
share="${SHARE:-$(dirname "$prefix")/share/nntrain}"
mkdir -p "$share/examples" "$share/configs"

# install -m 755 writes a new file (a running nntrain keeps its old inode).
install -m 755 "$bin" "$prefix/nntrain"
install -m 755 launch/nntrain-mpi "$prefix/nntrain-mpi"
install -m 755 launch/nntrain-run "$prefix/nntrain-run"
install -m 755 launch/sweep "$prefix/nntrain-sweep"
install -m 644 launch/*.py "$share/"
install -m 644 launch/*.yaml "$share/examples/"
install -m 644 configs/*.yaml "$share/configs/"
echo "install: nntrain ($build), nntrain-mpi, nntrain-run, nntrain-sweep -> $prefix; plot scripts, examples and configs -> $share"
case ":$PATH:" in
    *":$prefix:"*) ;;
    *) echo "install: note: $prefix is not on PATH; add it: export PATH=\"$prefix:\$PATH\"" ;;
esac
