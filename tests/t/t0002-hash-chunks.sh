#!/usr/bin/env bash
# t0002: the two primitives everything rests on. `dits hash` is BLAKE3 exactly
# as b3sum computes it; `dits debug chunks` cuts exactly where the reference
# FastCDC v2020 (fastcdc-rs 4.0.1) cuts, with the reference gear hashes, and
# names each chunk by the BLAKE3 of its bytes.

. "$(dirname "$0")/lib.sh"

IMG=$FIXTURES/SekienAkashita.jpg

# lengths_of FILE: the LENGTH column of `debug chunks` output, comma-joined
lengths_of () {
	awk '{print $2}' "$1" | paste -sd, -
}

# gears_of FILE: the GEARHASH column, space-joined
gears_of () {
	awk '{print $3}' "$1" | paste -sd' ' -
}

# check_chunk_lines DATA CHUNKS: every line is OFFSET LENGTH GEARHASH BLAKE3HEX,
# offsets run contiguously from 0 to the file's size, and each BLAKE3 column
# equals b3sum of the bytes it names.
check_chunk_lines () {
	_expect_off=0
	while read -r _off _len _gear _hex _extra; do
		assert_eq "" "$_extra" "no fifth column" || return 1
		assert_match '^[0-9]+$' "$_gear" "gear hash is decimal" || return 1
		assert_match '^[0-9a-f]{64}$' "$_hex" "BLAKE3 hex" || return 1
		assert_eq "$_expect_off" "$_off" "chunk offset" || return 1
		_ref=$(tail -c +"$((_off + 1))" "$1" | head -c "$_len" | b3sum --no-names)
		assert_eq "$_ref" "$_hex" "BLAKE3 of the chunk at $_off" || return 1
		_expect_off=$((_off + _len))
	done <"$2"
	assert_eq "$(file_size "$1")" "$_expect_off" "chunks cover the whole file"
}

# ---- dits hash against b3sum ------------------------------------------------

for size in 0 1 1024 1025 65536 65537 1048577 10485760; do
	test_expect_success "hash of a $size-byte file equals b3sum" "
		gen_data f$size $size seed-$size &&
		dits hash f$size >out &&
		b3sum f$size >expect &&
		assert_files_eq expect out
	"
done

test_expect_success 'hash of several files prints one b3sum-style line each, in order' '
	dits hash f1025 f0 f1 >out &&
	b3sum f1025 f0 f1 >expect &&
	assert_files_eq expect out
'

test_expect_success 'hash keeps the path as given (subdirectory, spaces)' '
	mkdir -p "day 1/cam A" &&
	cp f1024 "day 1/cam A/clip 01.mov" &&
	dits hash "day 1/cam A/clip 01.mov" >out &&
	b3sum "day 1/cam A/clip 01.mov" >expect &&
	assert_files_eq expect out
'

test_expect_success 'hash matches the official BLAKE3 test vectors' '
	i=0 && : >p251 &&
	while [ $i -lt 251 ]; do printf "\\$(printf %03o $i)" >>p251; i=$((i + 1)); done &&
	assert_eq 251 "$(file_size p251)" &&
	i=0 && : >p-long &&
	while [ $i -lt 410 ]; do cat p251 >>p-long; i=$((i + 1)); done &&
	tr -d "\n " <"$FIXTURES/blake3_test_vectors.json" |
		grep -o "\"input_len\":[0-9]*,\"hash\":\"[0-9a-f]\{64\}" |
		sed "s/\"input_len\":\([0-9]*\),\"hash\":\"\([0-9a-f]*\)/\1 \2/" >vectors &&
	assert_eq 35 "$(wc -l <vectors | tr -d " ")" "vectors in the fixture" &&
	while read -r len want; do
		head -c "$len" p-long >vec-input &&
		got=$(dits hash vec-input | cut -d" " -f1) &&
		assert_eq "$want" "$got" "BLAKE3 of $len bytes" || return 1
	done <vectors
'

test_expect_failure_exit 'hash of a missing file fails' 1 '
	dits hash no-such-file.mov 2>err
'

test_expect_success '... with a one-line error naming it' '
	assert_one_line_error err no-such-file.mov
'

# ---- FastCDC v2020 reference vectors ----------------------------------------

test_expect_success 'the fixture image is the reference one (109466 bytes)' '
	assert_eq 109466 "$(file_size "$IMG")"
'

# vector NAME ARGS EXPECTED_LENGTHS
vector () {
	test_expect_success "debug chunks $1: lengths $3" "
		dits debug chunks \"\$IMG\" $2 >chunks-$1 &&
		assert_eq '$3' \"\$(lengths_of chunks-$1)\"
	"
	test_expect_success "debug chunks $1: offsets contiguous, BLAKE3 column equals b3sum of each chunk" "
		check_chunk_lines \"\$IMG\" chunks-$1
	"
}

vector 4k-l1 '--min 4096 --avg 16384 --max 65535 --level 1' \
	21325,17140,28084,18217,24700
vector 8k-l1 '--min 8192 --avg 32768 --max 131072 --level 1' \
	66549,42917
vector 16k-l1 '--min 16384 --avg 65536 --max 262144 --level 1' \
	109466
vector 4k-l0 '--min 4096 --avg 16384 --max 65535 --level 0' \
	6634,59915,25597,5237,12083
vector 8k-l3 '--min 8192 --avg 16384 --max 32768 --level 3' \
	17350,19911,17426,17519,19940,17320
vector 4k-l1-seed666 '--min 4096 --avg 16384 --max 65535 --level 1 --seed 666' \
	10605,55745,11346,5883,11586,14301

test_expect_success 'gear hashes of the 4096/16384/65535 level-1 cuts match the reference' '
	assert_eq "17968276318003433923 8197189939299398838 13019990849178155730 4509236223063678303 2504464741100432583" \
		"$(gears_of chunks-4k-l1)"
'

test_expect_success 'gear hash of the single 16384/65536/262144 chunk matches the reference' '
	assert_eq 2504464741100432583 "$(gears_of chunks-16k-l1)"
'

test_expect_success 'level defaults to 1' '
	dits debug chunks "$IMG" --min 4096 --avg 16384 --max 65535 >out &&
	assert_files_eq chunks-4k-l1 out
'

test_expect_success 'outside a repository the defaults are 16384/65536/262144 level 1' '
	dits debug chunks "$IMG" >out &&
	assert_files_eq chunks-16k-l1 out
'

test_expect_success '10240 zero bytes at 64/256/1024 give ten 1024-byte chunks, same gear hash' '
	head -c 10240 /dev/zero >zeros &&
	dits debug chunks zeros --min 64 --avg 256 --max 1024 >chunks-zeros &&
	assert_eq "1024,1024,1024,1024,1024,1024,1024,1024,1024,1024" "$(lengths_of chunks-zeros)" &&
	assert_eq 14169102344523991076 "$(awk "{print \$3}" chunks-zeros | sort -u)" &&
	check_chunk_lines zeros chunks-zeros
'

test_expect_success 'an empty file has no chunks' '
	dits debug chunks f0 >out &&
	test ! -s out
'

test_expect_success 'a 3 MiB file at the defaults: chunks between min and max, contiguous, hashes right' '
	gen_data big 3145728 chunk-me &&
	dits debug chunks big >chunks-big &&
	check_chunk_lines big chunks-big &&
	assert_ge "$(wc -l <chunks-big)" 12 "chunk count" &&
	assert_le "$(awk "{print \$2}" chunks-big | sort -n | tail -n 1)" 262144 "largest chunk" &&
	assert_ge "$(sed "\$d" chunks-big | awk "{print \$2}" | sort -n | head -n 1)" 16384 "smallest chunk but the last"
'

test_expect_success 'cut points are content-defined: a prefix insert keeps the later chunks' '
	{ printf "x"; cat big; } >big-shifted &&
	dits debug chunks big-shifted >chunks-shifted &&
	awk "{print \$4}" chunks-big | tail -n +3 | sort >tail-orig &&
	awk "{print \$4}" chunks-shifted | sort >all-shifted &&
	assert_eq "$(wc -l <tail-orig | tr -d " ")" "$(comm -12 tail-orig all-shifted | wc -l | tr -d " ")" \
		"chunks after the first two are reused"
'

test_done
