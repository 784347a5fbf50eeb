#!/usr/bin/env bash
# Alternating status runs: dits status in one tree, git status in a copy,
# one after the other RUNS times (the order flips every run), so both see
# the same machine noise. Prints each tool's median and 25th percentile in
# ms and their ratios.
# usage: bench/status-alt.sh DITS_TREE GIT_TREE [RUNS]   (default 200)
# env: DITS=path to the dits binary (default build-release/src/cli/dits)
set -euo pipefail
DT=${1:?usage: bench/status-alt.sh DITS_TREE GIT_TREE [RUNS]}
GT=${2:?usage: bench/status-alt.sh DITS_TREE GIT_TREE [RUNS]}
RUNS=${3:-200}
DITS=$(realpath "${DITS:-build-release/src/cli/dits}")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
one() { # one NAME DIR CMD...: time CMD in DIR, append ns to $tmp/NAME
    local n=$1 d=$2; shift 2
    local a b; a=$(date +%s%N); (cd "$d" && "$@" >/dev/null); b=$(date +%s%N)
    echo $((b - a)) >>"$tmp/$n"
}
for ((i = 0; i < RUNS; i++)); do
    if ((i % 2)); then one git "$GT" git status; one dits "$DT" "$DITS" status
    else one dits "$DT" "$DITS" status; one git "$GT" git status; fi
done
q() { sort -n "$tmp/$1" | awk -v p="$2" '{v[NR]=$1} END {i=int(NR*p); if (i<1) i=1; printf "%.1f", v[i]/1e6}'; }
dm=$(q dits 0.5); gm=$(q git 0.5); dq=$(q dits 0.25); gq=$(q git 0.25)
echo "dits status: median $dm ms, p25 $dq ms; git status: median $gm ms, p25 $gq ms ($RUNS runs each)"
awk -v a="$dm" -v b="$gm" -v c="$dq" -v d="$gq" 'BEGIN {printf "dits/git: %.2f by medians, %.2f by 25th percentiles\n", a/b, c/d}'
