#!/usr/bin/env bash
# bench/run.sh - the Dits benchmark suite (issue 2, "Benchmarks").
#
# One run measures dits side by side with its peers (borg, restic, git-lfs,
# b3sum, dd, cp, git) and prints a table of seconds and ratios.  Results go to
# OUT/results.json (machine readable), OUT/results.md (the table) and
# OUT/log.txt (every command's output).  See bench/README.md.
#
# usage: bench/run.sh [--size-gib N] [--quick] [options]
#   --size-gib N     size of the ingest/checkout file in GiB (default 2)
#   --dedup-gib N    size of the dedup file in GiB (default 1)
#   --files N        number of small files for the status test (default 10000)
#   --runs N         timed runs per command (default 5, and 3 for the peers
#                    that take 4 s or more: borg, restic, git-lfs); median reported
#   --quick          smoke test: 0.25 GiB, 0.125 GiB, 2000 files, 1 run each
#   --only LIST      comma list of sections: ingest,dedup,status,checkout,memory
#   --data DIR       scratch and cached inputs (default /tmp/dits-bench)
#   --out DIR        where results go (default: the data dir)
#   --cold           do not pre-read inputs after dropping the page cache
#   --keep           keep the work repositories after each section
#   --render FILE    only print the table for an existing results.json
# env: DITS=path to the dits binary (default build/src/cli/dits in the repo)

set -uo pipefail
export LC_ALL=C
ORIG_ARGS=("$@")

# The whole script is one brace group, so bash parses all of it before
# running anything: editing this file during a run cannot break the run.
{

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")

GIB=1073741824
MIB=1048576
SIZE_GIB=""; DEDUP_GIB=""; NFILES=""; RUNS=""; QUICK=0; COLD=0; KEEP=0
ONLY="ingest,dedup,status,checkout,memory"
DATA=/tmp/dits-bench; OUT=""; RENDER=""

die() { echo "run.sh: $*" >&2; exit 2; }
usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0"; }

while [ $# -gt 0 ]; do
    case $1 in
        --size-gib) SIZE_GIB=${2:?}; shift 2 ;;
        --dedup-gib) DEDUP_GIB=${2:?}; shift 2 ;;
        --files) NFILES=${2:?}; shift 2 ;;
        --runs) RUNS=${2:?}; shift 2 ;;
        --quick) QUICK=1; shift ;;
        --only) ONLY=${2:?}; shift 2 ;;
        --data) DATA=${2:?}; shift 2 ;;
        --out) OUT=${2:?}; shift 2 ;;
        --cold) COLD=1; shift ;;
        --keep) KEEP=1; shift ;;
        --render) RENDER=${2:?}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

# ---------------------------------------------------------------------------
# Rendering: results.json -> markdown table (also used at the end of a run).

fmt_table() {  # TSV on stdin, first line = header -> markdown table
    awk -F'\t' 'NR==1{h=$0; n=NF; printf "|"; for(i=1;i<=NF;i++) printf " %s |", $i; printf "\n|";
                      for(i=1;i<=NF;i++) printf "---|"; printf "\n"; next}
                {printf "|"; for(i=1;i<=NF;i++) printf " %s |", $i; printf "\n"}'
}

render() {
    local J=$1
    [ -f "$J" ] || die "no such results file: $J"
    jq -r '.machine as $m | .params as $p |
      "# Dits benchmark results\n",
      "- date: \($m.date); dits: \($m.dits_version // "?"), source \($m.dits_source // "?")",
      "- command: `\($p.command)`",
      "- machine: \($m.nproc) x \($m.cpu), \($m.mem_gib) GiB RAM, kernel \($m.kernel), \($m.os)",
      "- data dir: \($p.data_dir) on \($m.fstype); page cache: \($p.cache_mode)",
      "- load average at start / end: \($m.loadavg_start) / \($m.loadavg_end // "?")",
      "- timed runs per command: \($p.runs) (\($p.slow_runs // $p.runs) for borg, restic, git-lfs); the median is reported",
      "- tools: \($m.tools | to_entries | map("\(.key) \(.value)") | join(", "))",
      ""' "$J"

    local sec
    for sec in ingest checkout status; do
        jq -e --arg s "$sec" '[.records[] | select(.section==$s)] | length > 0' "$J" >/dev/null || continue
        case $sec in
            ingest) echo "## Ingest: $(jq -r '.params.size_gib' "$J") GiB random file (add+commit / create / backup / hash / write)" ;;
            checkout) echo "## Checkout: restore the $(jq -r '.params.size_gib' "$J") GiB file into the worktree" ;;
            status) echo "## Status: $(jq -r '.params.files' "$J") unchanged small files" ;;
        esac
        echo
        { printf 'tool\tmedian s\tmin s\tmax s\truns\tMiB/s\tcommand\n'
          jq -r --arg s "$sec" '
            .params.data_dir as $d | .machine.dits_binary as $b |
            def short: split($b) | join("dits") | split($d) | join("$DATA") | gsub("\\|"; "\\|");
            def f3: if . == null then "-" else ((. * 1000 | round) / 1000 | tostring) end;
            .records[] | select(.section==$s) |
            if .error then [.name, "ERROR", "-", "-", "-", "-", (.error | gsub("[\t\n|]"; " "))]
            else [.name, (.median|f3), (.min|f3), (.max|f3), (.runs|tostring),
                  (if .bytes > 0 then (.bytes / 1048576 / .median | round | tostring) else "-" end),
                  ("`" + (.command | short) + "`")] end | @tsv' "$J"
        } | fmt_table
        echo
    done

    if jq -e '[.records[] | select(.section=="dedup")] | length > 0' "$J" >/dev/null; then
        echo "## Dedup: one byte inserted in the middle of a $(jq -r '.params.dedup_gib' "$J") GiB file, committed again"
        echo
        { printf 'tool\tstored before\tstored after\tnew bytes\tnew KiB\tmeasured as\n'
          jq -r '.records[] | select(.section=="dedup") |
            if .error then [.name, "ERROR", "-", "-", "-", (.error | gsub("[\t\n|]"; " "))]
            else [.name, (.before|tostring), (.after|tostring), (.new_bytes|tostring),
                  ((.new_bytes / 1024 * 10 | round) / 10 | tostring), .what] end | @tsv' "$J"
        } | fmt_table
        echo
    fi

    if jq -e '[.records[] | select(.section=="memory")] | length > 0' "$J" >/dev/null; then
        echo "## Peak memory (max RSS from /usr/bin/time -f %M; anon = sampled peak RssAnon)"
        echo
        { printf 'command\tfile MiB\tmax RSS KiB\tpeak anon KiB\tpeak file-backed KiB\tseconds\n'
          jq -r '.records[] | select(.section=="memory") |
            if .error then [.name, ((.bytes // 0) / 1048576 | round | tostring), "ERROR", "-", "-", (.error | gsub("[\t\n|]"; " "))]
            else [.name, (.bytes / 1048576 | round | tostring), (.maxrss_kib|tostring),
                  ((.anon_kib // "-")|tostring), ((.file_kib // "-")|tostring), (.seconds|tostring)] end | @tsv' "$J"
        } | fmt_table
        echo
    fi

    echo "## Ratios and goals"
    echo
    { printf 'figure\tvalue\tgoal\tresult\n'
      jq -r '
        def f3: if . == null then "-" else ((. * 1000 | round) / 1000 | tostring) end;
        .goals[] | [.figure, (.value|f3), .goal,
                    (if .met == null then "n/a" elif .met then "met" else "MISSED" end)] | @tsv' "$J"
    } | fmt_table
    if jq -e '(.errors // []) | length > 0' "$J" >/dev/null; then
        echo
        echo "## Errors"
        echo
        jq -r '.errors[] | "- \(.)"' "$J"
    fi
}

if [ -n "$RENDER" ]; then render "$RENDER"; exit 0; fi

# ---------------------------------------------------------------------------
# Parameters.

if [ "$QUICK" = 1 ]; then
    : "${SIZE_GIB:=0.25}" "${DEDUP_GIB:=0.125}" "${NFILES:=2000}" "${RUNS:=1}"
    SLOW_RUNS=$RUNS
elif [ -n "$RUNS" ]; then
    : "${SIZE_GIB:=2}" "${DEDUP_GIB:=1}" "${NFILES:=10000}"
    SLOW_RUNS=$RUNS
else
    : "${SIZE_GIB:=2}" "${DEDUP_GIB:=1}" "${NFILES:=10000}"
    RUNS=5 SLOW_RUNS=3
fi
[ -n "$OUT" ] || OUT=$DATA
to_bytes() { awk -v g="$1" 'BEGIN { b = int(g * 1073741824); b -= b % 4096; printf "%.0f", b }'; }   # %.0f: mawk clamps %d to 2^31-1
SIZE_BYTES=$(to_bytes "$SIZE_GIB")
DEDUP_BYTES=$(to_bytes "$DEDUP_GIB")
SMALL_BYTES=$(to_bytes "$(awk -v g="$SIZE_GIB" 'BEGIN{print g/8}')")   # memory test: 1/8 of the big file
[ "$SIZE_BYTES" -ge $MIB ] || die "--size-gib too small"
[ "$DEDUP_BYTES" -ge $MIB ] || die "--dedup-gib too small"
[ "$NFILES" -ge 100 ] || die "--files must be at least 100"

for t in jq hyperfine borg restic git git-lfs b3sum dd cp perl /usr/bin/time; do
    command -v "$t" >/dev/null || die "missing tool: $t (see bench/README.md)"
done

DITS=${DITS:-$ROOT/build/src/cli/dits}
case $DITS in /*) ;; *) DITS=$(pwd)/$DITS ;; esac

mkdir -p "$DATA" "$OUT" || die "cannot create $DATA / $OUT"
DATA=$(cd "$DATA" && pwd); OUT=$(cd "$OUT" && pwd)
case $DATA/ in "$ROOT"/*) die "the data dir must be outside the repository ($DATA)" ;; esac

CACHE=$DATA/cache        # generated inputs, kept between runs
WORK=$DATA/work          # repositories, removed after each section
TMPD=$DATA/tmp
mkdir -p "$CACHE" "$WORK" "$TMPD" "$OUT/hyperfine"
# One run at a time per data dir (they share the work dirs and the cache).
exec 9>"$DATA/.lock"
flock -n 9 || die "another bench/run.sh is using $DATA (use --data for a separate one)"
LOG=$OUT/log.txt
REC=$TMPD/records.jsonl
ERRS=$TMPD/errors.jsonl
: >"$LOG"; : >"$REC"; : >"$ERRS"

say() { echo "$*"; echo "== $*" >>"$LOG"; }
q() { printf '%q' "$1"; }

# Identity and non-interactive settings for the peers.
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid
export GIT_CONFIG_NOSYSTEM=1
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export BORG_CHECK_I_KNOW_WHAT_I_AM_DOING=NO BORG_DELETE_I_KNOW_WHAT_I_AM_DOING=NO
export BORG_BASE_DIR=$WORK/borg-base
export RESTIC_PASSWORD=bench RESTIC_CACHE_DIR=$WORK/restic-cache
GIT="git -c init.defaultBranch=main"

# Page cache policy: before every timed run, flush dirty pages and drop the
# cache (when allowed), then pre-read the command's input so every tool
# starts from the same state: input in RAM, nothing of its own cached.
if (sync; echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
    DROP="{ sync; echo 3 > /proc/sys/vm/drop_caches; }"
    CACHE_MODE="dropped before each run"
else
    DROP="sync"
    CACHE_MODE="warm (drop_caches not permitted)"
fi
if [ "$COLD" = 1 ]; then
    CACHE_MODE="$CACHE_MODE, inputs cold"
    prewarm() { :; }
else
    CACHE_MODE="$CACHE_MODE, inputs pre-read into the cache"
    prewarm() { local p; for p; do printf ' && find %s -type f -exec cat {} + >/dev/null' "$(q "$p")"; done; }
fi

# ---------------------------------------------------------------------------
# Is dits usable?  (init + add + commit of a small file in a scratch dir)
HAVE_DITS=0
DITS_WHY="binary not found at $DITS"
if [ -x "$DITS" ]; then
    s=$TMPD/smoke; rm -rf "$s"; mkdir -p "$s"
    if out=$(cd "$s" && "$DITS" init . 2>&1 && head -c 100000 /dev/urandom >f.bin &&
             "$DITS" add f.bin 2>&1 && "$DITS" commit -m smoke 2>&1 && "$DITS" stats --json 2>&1); then
        HAVE_DITS=1; DITS_WHY=""
    else
        DITS_WHY="smoke test (init/add/commit/stats) failed: $(echo "$out" | tail -n 1)"
    fi
    rm -rf "$s"
fi
[ "$HAVE_DITS" = 1 ] || say "WARNING: dits is not usable ($DITS_WHY); measuring the peers only"

# ---------------------------------------------------------------------------
# Machine facts.
cpu=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
memk=$(awk '/^MemTotal/{print $2}' /proc/meminfo)
fstype=$(df --output=fstype "$DATA" | tail -n 1)
. /etc/os-release 2>/dev/null || PRETTY_NAME=unknown
dits_src=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) &&
    [ -z "$(git -C "$ROOT" status --porcelain -- src 2>/dev/null)" ] ||
    dits_src="${dits_src:+$dits_src+}uncommitted src/ (content b3 $( (cd "$ROOT" && find src -type f | sort | xargs cat) | b3sum --no-names | cut -c1-12))"
[ -x "$DITS" ] && dits_src="$dits_src, binary built $(date -u -r "$DITS" +%Y-%m-%dT%H:%M:%SZ)"
MACHINE=$(jq -nc --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --argjson nproc "$(nproc)" \
    --arg cpu "$cpu" --argjson memk "$memk" --arg fstype "$fstype" --arg kernel "$(uname -r)" \
    --arg os "$PRETTY_NAME" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
    --arg dsrc "$dits_src" --arg dits "$DITS" \
    --arg borg "$(borg --version | awk '{print $2}')" \
    --arg restic "$(restic version | awk '{print $2}')" \
    --arg lfs "$(git lfs version | sed 's/^git-lfs\/\([^ ]*\).*/\1/')" \
    --arg git "$(git --version | awk '{print $3}')" \
    --arg b3 "$(b3sum --version | awk '{print $2}')" \
    --arg hf "$(hyperfine --version | awk '{print $2}')" \
    --arg cu "$(dd --version | awk 'NR==1{print $NF}')" \
    '{date:$date, nproc:$nproc, cpu:$cpu, mem_gib:(($memk/1048576*10|round)/10), fstype:$fstype,
      kernel:$kernel, os:$os, loadavg_start:$load, dits_binary:$dits, dits_source:$dsrc,
      tools:{borg:$borg, restic:$restic, "git-lfs":$lfs, git:$git, b3sum:$b3, hyperfine:$hf, coreutils:$cu}}')
PARAMS=$(jq -nc --arg cmd "bench/run.sh $(printf '%s ' "${ORIG_ARGS[@]:-}")" --argjson size "$SIZE_GIB" \
    --argjson dsize "$DEDUP_GIB" --argjson files "$NFILES" --argjson runs "$RUNS" --argjson slow "$SLOW_RUNS" \
    --arg data "$DATA" --arg cm "$CACHE_MODE" --argjson quick "$QUICK" --arg only "$ONLY" \
    '{command:$cmd, size_gib:$size, dedup_gib:$dsize, files:$files, runs:$runs, slow_runs:$slow, data_dir:$data,
      cache_mode:$cm, quick:($quick==1), sections:$only}')

say "dits benchmark: $(jq -r '"\(.nproc) x \(.cpu), \(.mem_gib) GiB, \(.fstype), kernel \(.kernel)"' <<<"$MACHINE")"
awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v n="$(nproc)" 'BEGIN{exit !(l > n/2)}' &&
    say "WARNING: load average $(cut -d' ' -f1 /proc/loadavg) on $(nproc) CPUs: other jobs are running, figures will be noisy"
say "data $DATA, results $OUT, size ${SIZE_GIB} GiB, dedup ${DEDUP_GIB} GiB, $NFILES files, $RUNS run(s); cache: $CACHE_MODE"

# ---------------------------------------------------------------------------
# Helpers.

err() {  # section name message
    jq -nc --arg s "$1" --arg n "$2" --arg e "$3" '{section:$s, name:$n, error:$e}' >>"$REC"
    jq -nc --arg s "$1" --arg n "$2" --arg e "$3" '"\($s)/\($n): \($e)"' >>"$ERRS"
    say "  $1/$2: ERROR: $3"
}

# measure SECTION NAME BYTES RUNS WARMUP PREPARE COMMAND
# Times COMMAND with hyperfine (PREPARE runs before each run, untimed) and
# records the median.  On failure, reruns once to capture the error message.
measure() {
    local section=$1 name=$2 bytes=$3 runs=$4 warmup=$5 prep=$6 cmd=$7
    local j=$OUT/hyperfine/$section-$name.json
    local args=(--shell=bash --runs "$runs" --export-json "$j" --style basic)
    [ "$warmup" -gt 0 ] && args+=(--warmup "$warmup")
    [ -n "$prep" ] && args+=(--prepare "$prep")
    local load; load=$(cut -d' ' -f1 /proc/loadavg)
    echo "== [$section] $name: $cmd (load $load)" >>"$LOG"
    echo "   prepare: $prep" >>"$LOG"
    if hyperfine "${args[@]}" "$cmd" >>"$LOG" 2>&1; then
        jq -c --arg s "$section" --arg n "$name" --arg c "$cmd" --argjson b "$bytes" \
            --arg p "$prep" --argjson l "$load" '.results[0] | {section:$s, name:$n, command:$c, prepare:$p, load1_before:$l, bytes:$b, runs:(.times|length),
                            median, mean, stddev, min, max, user_mean:.user, system_mean:.system, times}' "$j" >>"$REC"
        jq -r --arg s "$section" --arg n "$name" --argjson b "$bytes" \
            '.results[0] | "  \($s)/\($n): median \(.median*1000|round/1000) s over \(.times|length) run(s)" +
             (if $b > 0 then ", \($b/1048576/.median|round) MiB/s" else "" end)' "$j"
        return 0
    fi
    local e
    bash -c "$prep" >>"$LOG" 2>&1
    e=$(bash -c "$cmd" 2>&1 >/dev/null | tail -n 3 | tr '\n' ' ')
    err "$section" "$name" "command failed: $cmd: ${e:-non-zero exit}"
    return 1
}

# input FILE BYTES: a cached file of random bytes (generated once).
input() {
    local f=$1 n=$2
    if [ ! -f "$f" ] || [ "$(stat -c %s "$f")" != "$n" ]; then
        say "  generating $f ($n bytes of random data)"
        head -c "$n" /dev/urandom >"$f.tmp" && mv "$f.tmp" "$f" || die "cannot write $f"
    fi
}

clean() { [ "$KEEP" = 1 ] || rm -rf "$@"; }
want() { case ",$ONLY," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
D() { q "$DITS"; }

BIG=$CACHE/random-$SIZE_BYTES.bin

# ---------------------------------------------------------------------------
# 1. Ingest.
if want ingest; then
    say "[ingest] ${SIZE_GIB} GiB random file"
    input "$BIG" "$SIZE_BYTES"
    W=$WORK/ingest; rm -rf "$W" "$BORG_BASE_DIR" "$RESTIC_CACHE_DIR"; mkdir -p "$W"
    F=$(q "$BIG")
    pre="$DROP$(prewarm "$BIG")"

    if [ "$HAVE_DITS" = 1 ]; then
        R=$(q "$W/dits")
        measure ingest dits "$SIZE_BYTES" "$RUNS" 0 \
            "rm -rf $R && mkdir -p $R && cd $R && $(D) init . >/dev/null && ln $F big.bin && $pre" \
            "cd $R && $(D) add big.bin && $(D) commit -m x"
        du -sb "$W/dits/.dits" >>"$LOG" 2>&1
        clean "$W/dits"
    else
        err ingest dits "$DITS_WHY"
    fi

    R=$(q "$W/borg")
    measure ingest borg "$SIZE_BYTES" "$SLOW_RUNS" 0 \
        "rm -rf $R $(q "$BORG_BASE_DIR") && mkdir -p $R && borg init -e none $R/repo && ln $F $R/big.bin && $pre" \
        "cd $R && borg create repo::a big.bin"
    du -sb "$W/borg/repo" >>"$LOG" 2>&1; clean "$W/borg" "$BORG_BASE_DIR"

    R=$(q "$W/restic")
    measure ingest restic "$SIZE_BYTES" "$SLOW_RUNS" 0 \
        "rm -rf $R $(q "$RESTIC_CACHE_DIR") && mkdir -p $R && restic init --quiet -r $R/repo && ln $F $R/big.bin && $pre" \
        "cd $R && restic -r repo backup --quiet big.bin"
    du -sb "$W/restic/repo" >>"$LOG" 2>&1; clean "$W/restic" "$RESTIC_CACHE_DIR"

    R=$(q "$W/git-lfs")
    measure ingest git-lfs "$SIZE_BYTES" "$SLOW_RUNS" 0 \
        "rm -rf $R && $GIT init -q $R && cd $R && git lfs install --local >/dev/null && git lfs track '*.bin' >/dev/null && ln $F big.bin && $pre" \
        "cd $R && git add .gitattributes big.bin && git commit -q -m x"
    du -sb "$W/git-lfs/.git/lfs" >>"$LOG" 2>&1; clean "$W/git-lfs"

    measure ingest b3sum "$SIZE_BYTES" "$RUNS" 0 "$pre" "b3sum --num-threads 1 $F"

    O=$(q "$W/dd.out")
    measure ingest dd "$SIZE_BYTES" "$RUNS" 0 "rm -f $O && $pre" \
        "dd if=$F of=$O oflag=direct bs=8M status=none"
    clean "$W"
fi

# ---------------------------------------------------------------------------
# 2. Dedup: commit a file, insert one byte in the middle, commit again.
if want dedup; then
    say "[dedup] ${DEDUP_GIB} GiB file, one byte inserted in the middle"
    DF=$CACHE/random-$DEDUP_BYTES.bin
    input "$DF" "$DEDUP_BYTES"
    DF2=$CACHE/random-$DEDUP_BYTES-inserted.bin
    half=$((DEDUP_BYTES / 2))
    if [ ! -f "$DF2" ] || [ "$(stat -c %s "$DF2")" != "$((DEDUP_BYTES + 1))" ] || [ "$DF2" -ot "$DF" ]; then
        { head -c "$half" "$DF"; printf 'X'; tail -c +"$((half + 1))" "$DF"; } >"$DF2.tmp" && mv "$DF2.tmp" "$DF2"
    fi
    W=$WORK/dedup; rm -rf "$W" "$BORG_BASE_DIR" "$RESTIC_CACHE_DIR"; mkdir -p "$W"

    dedup_rec() {  # name what before after seconds_second_commit
        jq -nc --arg n "$1" --arg w "$2" --argjson b "$3" --argjson a "$4" --argjson t "${5:-null}" \
            '{section:"dedup", name:$n, what:$w, before:$b, after:$a, new_bytes:($a-$b), seconds_second:$t}' >>"$REC"
        say "  dedup/$1: $(( $4 - $3 )) new bytes ($2)"
    }
    now() { date +%s.%N; }
    since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.3f", b-a}'; }

    if [ "$HAVE_DITS" = 1 ]; then
        stored() { "$DITS" stats --json | jq -e '.stored_bytes'; }
        (   set -e; mkdir -p "$W/dits"; cd "$W/dits"
            "$DITS" init . >/dev/null; ln "$DF" f.bin
            "$DITS" add f.bin >>"$LOG"; "$DITS" commit -m v1 >>"$LOG"
            s1=$(stored); "$DITS" stats --json >>"$LOG"
            rm f.bin; ln "$DF2" f.bin; t0=$(now)
            "$DITS" add f.bin | tee -a "$LOG" >"$TMPD/dedup-add.txt"; "$DITS" commit -m v2 >>"$LOG"
            t=$(since "$t0"); s2=$(stored); "$DITS" stats --json >>"$LOG"
            dedup_rec dits "dits stats --json stored_bytes" "$s1" "$s2" "$t"
            "$DITS" diff --stat HEAD~1 HEAD >>"$LOG" 2>&1 || true
        ) 2>>"$TMPD/dedup-dits.err"
        [ $? = 0 ] || err dedup dits "$(tail -n 1 "$TMPD/dedup-dits.err")"
        clean "$W/dits"
    else
        err dedup dits "$DITS_WHY"
    fi

    (   set -e; $GIT init -q "$W/git-lfs"; cd "$W/git-lfs"
        git lfs install --local >/dev/null; git lfs track '*.bin' >/dev/null
        ln "$DF" f.bin; git add .gitattributes f.bin; git commit -q -m v1
        s1=$(du -sb .git/lfs/objects | cut -f1)
        rm f.bin; ln "$DF2" f.bin; t0=$(now); git add f.bin; git commit -q -m v2; t=$(since "$t0")
        s2=$(du -sb .git/lfs/objects | cut -f1)
        dedup_rec git-lfs "du -sb .git/lfs/objects" "$s1" "$s2" "$t"
    ) 2>>"$TMPD/dedup-lfs.err"
    [ $? = 0 ] || err dedup git-lfs "$(tail -n 1 "$TMPD/dedup-lfs.err")"
    clean "$W/git-lfs"

    (   set -e; mkdir -p "$W/borg"; cd "$W/borg"; borg init -e none repo
        ln "$DF" f.bin; borg create repo::v1 f.bin; s1=$(du -sb repo | cut -f1)
        rm f.bin; ln "$DF2" f.bin; t0=$(now); borg create repo::v2 f.bin; t=$(since "$t0")
        s2=$(du -sb repo | cut -f1)
        dedup_rec borg "du -sb of the repository" "$s1" "$s2" "$t"
    ) 2>>"$TMPD/dedup-borg.err"
    [ $? = 0 ] || err dedup borg "$(tail -n 1 "$TMPD/dedup-borg.err")"
    clean "$W/borg" "$BORG_BASE_DIR"

    (   set -e; mkdir -p "$W/restic"; cd "$W/restic"; restic init --quiet -r repo
        ln "$DF" f.bin; restic -r repo backup --quiet f.bin; s1=$(du -sb repo | cut -f1)
        rm f.bin; ln "$DF2" f.bin; t0=$(now); restic -r repo backup --quiet f.bin; t=$(since "$t0")
        s2=$(du -sb repo | cut -f1)
        dedup_rec restic "du -sb of the repository" "$s1" "$s2" "$t"
    ) 2>>"$TMPD/dedup-restic.err"
    [ $? = 0 ] || err dedup restic "$(tail -n 1 "$TMPD/dedup-restic.err")"
    clean "$W/restic" "$RESTIC_CACHE_DIR"
    clean "$W"
fi

# ---------------------------------------------------------------------------
# 3. Status on an unchanged tree of small files (warm cache, hyperfine warmup).
if want status; then
    say "[status] $NFILES small files in 100 directories"
    TREE=$CACHE/tree-$NFILES
    if [ ! -f "$TREE/.complete" ]; then
        rm -rf "$TREE"; mkdir -p "$TREE"
        # deterministic sizes 1-4 KiB, random content
        perl -e '
            my ($dir, $n) = @ARGV; srand(1);
            open(my $r, "<:raw", "/dev/urandom") or die;
            for my $i (0 .. $n - 1) {
                my $d = sprintf("%s/d%02d", $dir, $i % 100); mkdir $d;
                my $len = 1024 + int(rand(3073)); my $buf; read($r, $buf, $len) == $len or die;
                open(my $o, ">:raw", sprintf("%s/f%05d.dat", $d, $i)) or die; print $o $buf; close $o;
            }' "$TREE" "$NFILES" || die "cannot generate $TREE"
        touch "$TREE/.complete"
    fi
    W=$WORK/status; rm -rf "$W"; mkdir -p "$W"
    copy_tree() { mkdir -p "$1" && (cd "$TREE" && tar cf - --exclude=.complete .) | (cd "$1" && tar xf -); }
    SRUNS=$(( RUNS > 10 ? RUNS : 10 ))

    if [ "$HAVE_DITS" = 1 ]; then
        (set -e; copy_tree "$W/dits"; cd "$W/dits"; "$DITS" init . >/dev/null
            "$DITS" add . >>"$LOG"; "$DITS" commit -m x >>"$LOG"
            "$DITS" status --json | jq -e '.clean == true' >/dev/null || { echo "dits status --json: tree not clean after commit" >&2; exit 1; }
        ) 2>"$TMPD/status-dits.err"
        if [ $? = 0 ]; then
            R=$(q "$W/dits")
            measure status dits 0 "$SRUNS" 3 "" "cd $R && $(D) status"
            measure status dits-cold 0 "$RUNS" 0 "$DROP" "cd $R && $(D) status"
        else
            err status dits "$(tail -n 1 "$TMPD/status-dits.err")"
        fi
    else
        err status dits "$DITS_WHY"
    fi

    (set -e; copy_tree "$W/git"; cd "$W/git"; $GIT init -q .; git add -A; git commit -q -m x
        [ -z "$(git status --porcelain)" ]) 2>"$TMPD/status-git.err"
    if [ $? = 0 ]; then
        R=$(q "$W/git")
        measure status git 0 "$SRUNS" 3 "" "cd $R && git status"
        measure status git-cold 0 "$RUNS" 0 "$DROP" "cd $R && git status"
    else
        err status git "$(tail -n 1 "$TMPD/status-git.err")"
    fi
    clean "$W"
fi

# ---------------------------------------------------------------------------
# 4. Checkout: restore the committed big file into the worktree, against cp.
if want checkout; then
    say "[checkout] ${SIZE_GIB} GiB file"
    input "$BIG" "$SIZE_BYTES"
    W=$WORK/checkout; rm -rf "$W"; mkdir -p "$W"
    F=$(q "$BIG")
    if [ "$HAVE_DITS" = 1 ]; then
        (set -e; mkdir -p "$W/dits"; cd "$W/dits"; "$DITS" init . >/dev/null; ln "$BIG" big.bin
            "$DITS" add big.bin >>"$LOG"; "$DITS" commit -m x >>"$LOG"; rm big.bin) 2>"$TMPD/co-dits.err"
        if [ $? = 0 ]; then
            R=$(q "$W/dits")
            measure checkout dits "$SIZE_BYTES" "$RUNS" 0 \
                "rm -f $R/big.bin && $DROP$(prewarm "$W/dits/.dits")" \
                "cd $R && $(D) checkout HEAD -- big.bin" &&
            if ! cmp -s "$BIG" "$W/dits/big.bin"; then
                err checkout dits-verify "restored big.bin differs from the original"
            fi
        else
            err checkout dits "$(tail -n 1 "$TMPD/co-dits.err")"
        fi
        clean "$W/dits"
    else
        err checkout dits "$DITS_WHY"
    fi
    O=$(q "$W/cp.out")
    measure checkout cp "$SIZE_BYTES" "$RUNS" 0 "rm -f $O && $DROP$(prewarm "$BIG")" "cp $F $O"
    measure checkout cp+sync "$SIZE_BYTES" "$RUNS" 0 "rm -f $O && $DROP$(prewarm "$BIG")" "cp $F $O && sync $O"
    clean "$W"
fi

# ---------------------------------------------------------------------------
# 5. Peak memory of add, commit and checkout for a small and a big file.
if want memory; then
    say "[memory] dits add/commit/checkout of $((SMALL_BYTES / MIB)) MiB and $((SIZE_BYTES / MIB)) MiB files"
    if [ "$HAVE_DITS" = 1 ]; then
        SMALL=$CACHE/random-$SMALL_BYTES.bin
        input "$SMALL" "$SMALL_BYTES"
        input "$BIG" "$SIZE_BYTES"
        W=$WORK/memory; rm -rf "$W"; mkdir -p "$W"

        # memrun NAME BYTES DIR CMD...: max RSS via /usr/bin/time -f %M, plus a
        # sampled peak of RssAnon/RssFile (file-backed pages, e.g. mmap, count in RSS).
        memrun() {
            local name=$1 bytes=$2 dir=$3; shift 3
            local tf=$TMPD/mem-time.txt pid c="" anon=0 file=0 a f t0 rc
            t0=$(date +%s.%N)
            (cd "$dir" && exec /usr/bin/time -f '%M %e' -o "$tf" "$@" >>"$LOG" 2>"$TMPD/mem.err") &
            pid=$!
            while kill -0 "$pid" 2>/dev/null; do
                [ -n "$c" ] || c=$(pgrep -P "$pid" | head -n 1)
                if [ -n "$c" ] && [ -r /proc/$c/status ]; then
                    a=$(awk '/^RssAnon/{print $2}' /proc/$c/status 2>/dev/null); f=$(awk '/^RssFile/{print $2}' /proc/$c/status 2>/dev/null)
                    [ -n "$a" ] && [ "$a" -gt "$anon" ] && anon=$a
                    [ -n "$f" ] && [ "$f" -gt "$file" ] && file=$f
                fi
                sleep 0.02
            done
            wait "$pid"; rc=$?
            if [ "$rc" != 0 ] || [ ! -s "$tf" ]; then
                err memory "$name" "$* failed: $(tail -n 1 "$TMPD/mem.err")"
                return 1
            fi
            read -r kib secs < <(tail -n 1 "$tf")
            jq -nc --arg n "$name" --arg c "$*" --argjson b "$bytes" --argjson k "$kib" --argjson s "$secs" \
                --argjson an "$anon" --argjson fi "$file" \
                '{section:"memory", name:$n, command:$c, bytes:$b, maxrss_kib:$k, seconds:$s,
                  anon_kib:(if $an > 0 then $an else null end), file_kib:(if $fi > 0 then $fi else null end)}' >>"$REC"
            say "  memory/$name: max RSS $kib KiB (sampled anon $anon KiB, file-backed $file KiB), $secs s"
        }
        for which in small big; do
            if [ $which = small ]; then src=$SMALL; n=$SMALL_BYTES; else src=$BIG; n=$SIZE_BYTES; fi
            R=$W/$which; mkdir -p "$R"; (cd "$R" && "$DITS" init . >/dev/null); ln "$src" "$R/f.bin"
            eval "$DROP"; cat "$src" >/dev/null
            memrun "add-$which" "$n" "$R" "$DITS" add f.bin &&
            memrun "commit-$which" "$n" "$R" "$DITS" commit -m x &&
            rm -f "$R/f.bin" && eval "$DROP" &&
            memrun "checkout-$which" "$n" "$R" "$DITS" checkout HEAD -- f.bin
            clean "$R"
        done
        clean "$W"
    else
        err memory dits "$DITS_WHY"
    fi
fi

# ---------------------------------------------------------------------------
# Results: ratios, goals, JSON, table.
MACHINE=$(jq -c --arg l "$(cut -d' ' -f1-3 /proc/loadavg)" --arg v "$( [ "$HAVE_DITS" = 1 ] && "$DITS" --version 2>/dev/null | head -n 1)" \
    '.loadavg_end = $l | .dits_version = (if $v == "" then null else $v end)' <<<"$MACHINE")
jq -s --argjson machine "$MACHINE" --argjson params "$PARAMS" --slurpfile errors "$ERRS" '
  . as $r
  | def med($s; $n): ([$r[] | select(.section == $s and .name == $n and .median != null) | .median] | first) // null;
    def rec($s; $n): ([$r[] | select(.section == $s and .name == $n and (.error | not))] | first) // null;
    def div($a; $b): if $a == null or $b == null or $b == 0 then null else $a / $b end;
    def goal($fig; $v; $goal; $ok): {figure:$fig, value:$v, goal:$goal, met:(if $v == null then null else $ok end)};
    (med("ingest";"dits")) as $di | (med("ingest";"borg")) as $bo | (med("ingest";"dd")) as $dd
  | (med("status";"dits")) as $sd | (med("status";"git")) as $sg
  | (med("checkout";"dits")) as $cd | (med("checkout";"cp")) as $cp | (med("checkout";"cp+sync")) as $cs
  | (rec("dedup";"dits").new_bytes) as $nb
  | (rec("memory";"add-small").maxrss_kib) as $mas | (rec("memory";"add-big").maxrss_kib) as $ab
  | (rec("memory";"checkout-small").maxrss_kib) as $cks | (rec("memory";"checkout-big").maxrss_kib) as $ckb
  | {machine:$machine, params:$params, records:$r, errors:$errors,
     ratios:{
       ingest_borg_over_dits:div($bo;$di), ingest_restic_over_dits:div(med("ingest";"restic");$di),
       ingest_gitlfs_over_dits:div(med("ingest";"git-lfs");$di), ingest_dits_over_dd:div($di;$dd),
       ingest_dits_over_b3sum:div($di;med("ingest";"b3sum")),
       dedup_dits_new_bytes:$nb, dedup_gitlfs_new_bytes:(rec("dedup";"git-lfs").new_bytes),
       status_dits_over_git:div($sd;$sg), status_cold_dits_over_git:div(med("status";"dits-cold");med("status";"git-cold")),
       checkout_dits_over_cp:div($cd;$cp), checkout_dits_over_cp_sync:div($cd;$cs),
       memory_add_big_over_small:div($ab;$mas), memory_checkout_big_over_small:div($ckb;$cks)},
     goals:[
       goal("ingest: borg time / dits time"; div($bo;$di); ">= 4"; div($bo;$di) >= 4),
       goal("ingest: dits time / dd time"; div($di;$dd); "<= 1.5"; div($di;$dd) <= 1.5),
       goal("dedup: dits new stored bytes after a 1-byte insert"; $nb; "<= 524288"; ($nb // 0) <= 524288),
       goal("status: dits time / git time"; div($sd;$sg); "<= 1"; div($sd;$sg) <= 1),
       goal("checkout: dits time / cp time"; div($cd;$cp); "<= 1"; div($cd;$cp) <= 1),
       goal("checkout: dits time / (cp + fsync) time"; div($cd;$cs); "<= 1 (reference)"; div($cd;$cs) <= 1),
       goal("memory: add max RSS, big / small file"; div($ab;$mas); "<= 1.25 (flat)"; div($ab;$mas) <= 1.25),
       goal("memory: checkout max RSS, big / small file"; div($ckb;$cks); "<= 1.25 (flat)"; div($ckb;$cks) <= 1.25)
     ]}' "$REC" >"$OUT/results.json" || die "cannot write $OUT/results.json"

render "$OUT/results.json" | tee "$OUT/results.md"
echo
echo "results: $OUT/results.json, $OUT/results.md; log: $LOG"
exit 0
}
