#!/usr/bin/env bash
# Alternating status runs: dits status in one tree, git status in a copy,
# one after the other RUNS times (the order flips every run), so both see
# the same machine noise. Prints each tool's median and 25th percentile in
# ms and their ratios.
# usage: bench/status-alt.sh DITS_TREE GIT_TREE [RUNS]   (default 200)
#        bench/status-alt.sh make DIR [flat|one-folder|sequence] [FILES]
#   make: builds DIR/dits and DIR/git, committed trees of FILES (default
#   10 000) random files of 1-4 KiB in 100 directories, at the top (flat)
#   or all under footage/ (one-folder, the usual media layout), or all in
#   the one directory plates/sh010/ (sequence: an image sequence's frames).
# env: DITS=path to the dits binary (default build-release/src/cli/dits)
set -euo pipefail
if [ "${1:-}" = make ]; then
    DIR=${2:?usage: bench/status-alt.sh make DIR [flat|one-folder|sequence] [FILES]}
    LAYOUT=${3:-flat}; N=${4:-10000}
    DITS=$(realpath "${DITS:-build-release/src/cli/dits}")
    DIRS=100
    case $LAYOUT in flat) SUB= ;; one-folder) SUB=/footage ;; sequence) SUB=/plates; DIRS=1 ;;
        *) echo "unknown layout $LAYOUT" >&2; exit 2 ;; esac
    rm -rf "$DIR"; mkdir -p "$DIR/dits$SUB"
    perl -e '
        my ($dir, $n, $dirs) = @ARGV; srand(1);
        open(my $r, "<:raw", "/dev/urandom") or die;
        for my $i (0 .. $n - 1) {
            my $d = $dirs == 1 ? "$dir/sh010" : sprintf("%s/d%02d", $dir, $i % $dirs); mkdir $d;
            my $len = 1024 + int(rand(3073)); my $buf; read($r, $buf, $len) == $len or die;
            open(my $o, ">:raw", sprintf("%s/f%05d.dat", $d, $i)) or die; print $o $buf; close $o;
        }' "$DIR/dits$SUB" "$N" "$DIRS"
    cp -a "$DIR/dits" "$DIR/git"
    (cd "$DIR/dits" && "$DITS" init . >/dev/null && "$DITS" add . >/dev/null && "$DITS" commit -m tree >/dev/null)
    (cd "$DIR/git" && git init -q . && git add . &&
        git -c user.name=bench -c user.email=bench@localhost commit -qm tree)
    echo "made $DIR/dits and $DIR/git ($N files, $LAYOUT)"
    exit 0
fi
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
