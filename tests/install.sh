#!/usr/bin/env bash
# install.sh: installs nntrain and its launchers into a temporary PREFIX (launch/install.sh,
# from the debug build, copies) and uses them from another directory, with only PREFIX on PATH
# for nntrain: the installed binary and launchers must find each other and the plot script
# without the checkout's launch/ or .build/ being anywhere they look. Checks:
#   1. install.sh puts nntrain, nntrain-mpi, nntrain-run, nntrain-sweep in PREFIX and
#      plot_experiment.py in PREFIX/../share/nntrain, and every configs/*.yaml in
#      PREFIX/../share/nntrain/configs/ (the same bytes);
#   2. from another directory: `nntrain --help`, `nntrain-run --help`, `nntrain-mpi --help`;
#   3. nntrain-mpi and nntrain-run pick the installed nntrain (next to them), not the checkout's;
#   4. `mpirun -np 2 nntrain train --steps 5` (the README's form) runs 2 ranks;
#   5. `nntrain experiment batch-vs-stochastic` (tiny) writes its PNGs, with the installed plot
#      script (when python3 has matplotlib);
#      and `nntrain plot` draws the metrics of step 4 (its step lines);
#   6. `nntrain-sweep` runs a two-run spec through the installed nntrain-mpi and plots;
#   7. the installed files still work after the checkout's build is out of reach (copies);
#   8. an installed recipe trains with the installed nntrain from another directory (3 steps).
# Prints `N passed, M failed` last; exits non-zero if any check failed.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
passed=0; failed=0
ok() { echo "PASS: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }
finish() { echo "$passed passed, $failed failed"; [[ $failed == 0 ]]; exit $?; }

tmp="$(mktemp -d /tmp/nntrain-install.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/bin"
away="$tmp/elsewhere"; mkdir -p "$away"

# --- 1. install --------------------------------------------------------------------------------
if out="$(PREFIX="$prefix" NNTRAIN_BUILD=debug bash "$root/launch/install.sh" 2>&1)"; then
    echo "  $out" | head -3
    missing=""
    for f in bin/nntrain bin/nntrain-mpi bin/nntrain-run bin/nntrain-sweep share/nntrain/plot_experiment.py share/nntrain/plot_metrics.py; do
        [[ -e "$tmp/$f" ]] || missing+=" $f"
    done
    [[ -z "$missing" ]] && ok "installed into $prefix and $tmp/share/nntrain" || bad "not installed:$missing"
    n_cfg=0; cfg_missing=""
    for f in "$root"/configs/*.yaml; do
        [[ -e "$f" ]] || continue
        n_cfg=$((n_cfg + 1))
        cmp -s "$f" "$tmp/share/nntrain/configs/$(basename "$f")" || cfg_missing+=" $(basename "$f")"
    done
    if (( n_cfg > 0 )) && [[ -z "$cfg_missing" ]]; then ok "the $n_cfg recipes of configs/ are in $tmp/share/nntrain/configs"
    else bad "configs not installed (of $n_cfg):$cfg_missing"; fi
    [[ ! -L "$prefix/nntrain" && ! -L "$prefix/nntrain-run" ]] && ok "the installed files are copies, not links into the checkout" \
        || bad "installed files are symlinks"
else
    bad "launch/install.sh failed: $out"; finish
fi

# PATH: the prefix first, and no other directory that holds an nntrain (an install elsewhere).
newpath="$prefix"
IFS=: read -r -a dirs <<<"$PATH"
for p in "${dirs[@]}"; do [[ -n "$p" && ! -e "$p/nntrain" ]] && newpath+=":$p"; done
export PATH="$newpath"
unset NNTRAIN NNTRAIN_BIN NNTRAIN_PLOT_SCRIPT
cd "$away" || exit 1
[[ "$(command -v nntrain)" == "$prefix/nntrain" ]] || bad "PATH finds $(command -v nntrain), not $prefix/nntrain"

# --- 2. help from another directory ---------------------------------------------------------------
nntrain --help 2>&1 | grep -q "USAGE: nntrain" && ok "nntrain --help from $away" || bad "nntrain --help"
nntrain-run --help 2>&1 | grep -q -- "--min-np" && ok "nntrain-run --help from $away" || bad "nntrain-run --help: $(nntrain-run --help 2>&1 | head -2)"
nntrain-mpi --help 2>&1 | grep -q "nntrain-mpi: start" && ok "nntrain-mpi --help" || bad "nntrain-mpi --help"
nntrain-sweep --help 2>&1 | grep -q "spec" && ok "nntrain-sweep --help" || bad "nntrain-sweep --help: $(nntrain-sweep --help 2>&1 | tail -2)"

# --- 3. the launchers use the installed binary ------------------------------------------------------
dry="$(nntrain-mpi --dry-run -np 2 train 2>&1)"
[[ "$dry" == *" $prefix/nntrain train"* ]] && ok "nntrain-mpi runs the installed nntrain ($dry)" || bad "nntrain-mpi --dry-run: $dry"
# A stand-in that records its arguments, in a second prefix: nntrain-run must take the nntrain next to it.
alt="$tmp/alt"; mkdir -p "$alt"; cp "$prefix/nntrain-run" "$alt/"
printf '#!/bin/sh\necho "fake $*" > "%s/called"\n' "$alt" > "$alt/nntrain"; chmod +x "$alt/nntrain"
"$alt/nntrain-run" -- train --steps 1 >/dev/null 2>&1
[[ "$(cat "$alt/called" 2>/dev/null)" == "fake train --steps 1" ]] && ok "nntrain-run takes the nntrain next to it" \
    || bad "nntrain-run did not run the nntrain next to it"

# --- 4. mpirun -np 2 nntrain train --steps 5 ---------------------------------------------------------
if command -v mpirun >/dev/null; then
    [[ "$(id -u)" == 0 ]] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    if out="$(timeout 600 mpirun -np 2 nntrain train --steps 5 --test-subset 500 --log-every-steps 1 --metrics "$away/m.jsonl" 2>&1)" \
        && grep -q '"event":"done".*"world_size":2\|"world_size":2.*"event":"done"' "$away/m.jsonl"; then
        ok "mpirun -np 2 nntrain train --steps 5 (world_size 2)"
    else
        bad "mpirun -np 2 nntrain train --steps 5: $(echo "$out" | tail -3)"
    fi
else
    echo "(mpirun not found: skipped)"
fi

# --- 5. nntrain experiment: plots from the installed script ------------------------------------------
if python3 -c "import matplotlib" 2>/dev/null; then
    out="$(nntrain experiment batch-vs-stochastic --out "$away/bvs" --train-subset 300 --test-subset 200 --epochs 1 --points 4 --train-eval-subset 200 --quiet 2>&1)"
    n="$(ls "$away/bvs"/*.png 2>/dev/null | wc -l)"
    if (( n > 0 )) && ! echo "$out" | grep -q "not found"; then ok "nntrain experiment batch-vs-stochastic wrote $n PNG(s) in $away/bvs"
    else bad "nntrain experiment wrote $n PNGs: $(echo "$out" | tail -3)"; fi
else
    bad "python3 has no matplotlib (launch/setup.sh installs it)"
fi

# --- 5b. nntrain plot: the installed plot_metrics.py ---------------------------------------------------
if python3 -c "import matplotlib" 2>/dev/null; then
    out="$(nntrain plot "$away/m.jsonl" --out "$away/m.png" 2>&1)"
    [[ -s "$away/m.png" ]] && ok "nntrain plot wrote $away/m.png with the installed plot_metrics.py" \
        || bad "nntrain plot: $(echo "$out" | tail -2)"
fi

# --- 6. nntrain-sweep through the installed nntrain-mpi -----------------------------------------------
cat > "$away/spec.yaml" <<'YAML'
name: tiny
base: {dataset: blobs, model: "mlp:2-8-3", epochs: 2}
grid: {np: [1, 2]}
YAML
if out="$(timeout 600 nntrain-sweep "$away/spec.yaml" --out "$away/sweep" 2>&1)"; then
    pngs="$(ls "$away/sweep"/*.png 2>/dev/null | wc -l)"
    if grep -q "nntrain-mpi" <<<"$out" && [[ -s "$away/sweep/runs.csv" ]] && (( pngs > 0 )); then
        ok "nntrain-sweep: 2 runs through the installed nntrain-mpi, runs.csv and $pngs PNG(s)"
    else
        bad "nntrain-sweep: $(echo "$out" | tail -4); $pngs PNGs"
    fi
else
    bad "nntrain-sweep failed: $(echo "$out" | tail -4)"
fi

# --- 7. copies: the installed files do not need the checkout --------------------------------------------
# Run them with the checkout's launch/ hidden: a copy of the install somewhere else entirely.
moved="$tmp/moved"; mkdir -p "$moved"; cp -r "$prefix" "$tmp/share" "$moved/"
if "$moved/bin/nntrain-run" --help >/dev/null 2>&1 && [[ "$("$moved/bin/nntrain-mpi" --dry-run train 2>&1)" == *" $moved/bin/nntrain train"* ]]; then
    ok "a moved copy of the install still finds its own nntrain"
else
    bad "a moved copy of the install: $("$moved/bin/nntrain-mpi" --dry-run train 2>&1)"
fi

# --- 8. an installed recipe, from another directory -----------------------------------------------------
recipe="$tmp/share/nntrain/configs/xor.yaml"
if out="$(timeout 300 nntrain train --config "$recipe" --steps 3 --quiet --metrics "$away/xor.jsonl" 2>&1)" \
    && grep -q '"event":"done"' "$away/xor.jsonl"; then
    ok "nntrain train --config $recipe (installed) trains from $away"
else
    bad "nntrain train --config $recipe: $(echo "$out" | tail -2)"
fi

finish
