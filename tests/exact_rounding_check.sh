#!/usr/bin/env bash
# Compiles and runs tests/exact_rounding_check.swift: the rounding identity exact-mode
# Trainer.step relies on (Int64(x + copysign(0.5 − 2⁻⁵⁴, x)) == Int64(x.rounded()), and the
# overflow bound). Fails (exit 1) when any case breaks it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"${SWIFTC:-swiftc}" -O "$here/exact_rounding_check.swift" -o "$tmp/erc"
out=$("$tmp/erc")
echo "exact rounding check: $out"
case "$out" in
    *" 0 failed") ;;
    *) exit 1 ;;
esac
