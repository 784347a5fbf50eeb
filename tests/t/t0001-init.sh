#!/usr/bin/env bash
# t0001: an editor starts a project. `dits init` makes a repository, records the
# chunker parameters it will use forever, refuses to initialize twice, and a
# repository written by a newer Dits is refused rather than misread.

. "$(dirname "$0")/lib.sh"

# set_format DIR N: rewrite "format = 1" in DIR/.dits/config to "format = N"
set_format () {
	sed -E "s/^([[:space:]]*format[[:space:]]*=[[:space:]]*)[0-9]+[[:space:]]*\$/\\1$2/" \
		"$1/.dits/config" >"$1/.dits/config.new" &&
		mv "$1/.dits/config.new" "$1/.dits/config"
}

test_expect_success 'init in the current directory prints where the repository is' '
	mkdir project &&
	cd project &&
	dits init >../out 2>../err &&
	assert_eq "Initialized empty Dits repository in $TRASH/project/.dits" "$(cat ../out)" &&
	test ! -s ../err
'

test_expect_success 'init creates .dits with a config, HEAD and refs' '
	test -d project/.dits &&
	test -f project/.dits/config &&
	test -f project/.dits/HEAD &&
	test -d project/.dits/refs
'

test_expect_success 'the config is INI with [core] format = 1' '
	assert_file_has project/.dits/config "^\[core\]" &&
	assert_file_has project/.dits/config "^[[:space:]]*format[[:space:]]*=[[:space:]]*1[[:space:]]*$"
'

test_expect_success 'the config records the default chunker parameters 16K/64K/256K' '
	assert_file_has project/.dits/config "=[[:space:]]*16384[[:space:]]*$" &&
	assert_file_has project/.dits/config "=[[:space:]]*65536[[:space:]]*$" &&
	assert_file_has project/.dits/config "=[[:space:]]*262144[[:space:]]*$"
'

test_expect_success 'a fresh repository is clean and its index is empty' '
	cd project &&
	dits status --json >../status.json &&
	assert_eq true "$(json_raw clean <../status.json)" "clean" &&
	dits ls-files >../ls &&
	test ! -s ../ls
'

test_expect_success 'init DIR creates DIR and DIR/.dits' '
	dits init newproj >out &&
	assert_eq "Initialized empty Dits repository in $TRASH/newproj/.dits" "$(cat out)" &&
	test -d newproj/.dits &&
	test -f newproj/.dits/config
'

test_expect_success 'init DIR works on an existing empty directory given by a relative path' '
	mkdir -p shoots/day2 &&
	cd shoots &&
	dits init day2 >../out &&
	assert_eq "Initialized empty Dits repository in $TRASH/shoots/day2/.dits" "$(cat ../out)" &&
	test -d day2/.dits
'

test_expect_success 're-init in an existing repository is refused with a one-line error' '
	repo_snapshot project >snap &&
	cd project &&
	test_expect_code 1 dits init >../out 2>../err &&
	assert_one_line_error ../err &&
	assert_repo_unchanged . ../snap
'

test_expect_success 're-init via init DIR is refused and names the directory' '
	repo_snapshot project >snap &&
	test_expect_code 1 dits init project >out 2>err &&
	assert_one_line_error err project &&
	assert_repo_unchanged project snap
'

test_expect_success 'init with custom chunker parameters records them' '
	dits init --chunk-min 4096 --chunk-avg 16384 --chunk-max 65535 small >out &&
	assert_eq "Initialized empty Dits repository in $TRASH/small/.dits" "$(cat out)" &&
	assert_file_has small/.dits/config "=[[:space:]]*4096[[:space:]]*$" &&
	assert_file_has small/.dits/config "=[[:space:]]*16384[[:space:]]*$" &&
	assert_file_has small/.dits/config "=[[:space:]]*65535[[:space:]]*$"
'

test_expect_success 'debug chunks inside that repository uses its parameters' '
	cp "$FIXTURES/SekienAkashita.jpg" small/img.jpg &&
	cd small &&
	dits debug chunks img.jpg >../chunks &&
	assert_eq "21325,17140,28084,18217,24700" "$(awk "{print \$2}" ../chunks | paste -sd, -)"
'

test_expect_success 'debug chunks in a default repository uses 16K/64K/256K' '
	cp "$FIXTURES/SekienAkashita.jpg" project/img.jpg &&
	cd project &&
	dits debug chunks img.jpg >../chunks &&
	assert_eq "109466" "$(awk "{print \$2}" ../chunks | paste -sd, -)" &&
	rm img.jpg
'

test_expect_success 'files added to the custom repository are cut with its parameters' '
	cd small &&
	dits add img.jpg >../out &&
	dits commit -m "the image" >/dev/null &&
	dits stats --json >../stats.json &&
	assert_eq 5 "$(json_num chunks <../stats.json)" "chunks"
'

test_expect_success 'the same file in a default repository is a single chunk' '
	dits init defaults >/dev/null &&
	cp "$FIXTURES/SekienAkashita.jpg" defaults/img.jpg &&
	cd defaults &&
	dits add img.jpg >/dev/null &&
	dits commit -m "the image" >/dev/null &&
	dits stats --json >../stats.json &&
	assert_eq 1 "$(json_num chunks <../stats.json)" "chunks"
'

test_expect_failure_exit 'inconsistent chunker parameters (min > avg) are refused' any '
	dits init --chunk-min 65536 --chunk-avg 16384 --chunk-max 262144 bad1 2>err
'

test_expect_success '... with a one-line error and no repository left behind' '
	assert_one_line_error err &&
	assert_missing bad1/.dits
'

test_expect_failure_exit 'a non-numeric chunk size is a usage error (exit 2)' 2 '
	dits init --chunk-avg lots bad2 2>err
'

test_expect_success '... and no repository is left behind' '
	assert_missing bad2/.dits
'

test_expect_failure_exit 'an unknown command is a usage error (exit 2)' 2 '
	dits frobnicate 2>err
'

test_expect_success 'a repository from a newer format version is refused' '
	dits init future >/dev/null &&
	echo "from the future" >future/a.txt &&
	(cd future && dits add a.txt >/dev/null && dits commit -m one >/dev/null) &&
	set_format future 99 &&
	assert_file_has future/.dits/config "format[[:space:]]*=[[:space:]]*99" &&
	repo_snapshot future >snap &&
	cd future &&
	test_expect_code 1 dits status 2>../err &&
	assert_one_line_error ../err &&
	assert_match "format|version" "$(cat ../err)" "names the format version"
'

test_expect_success '... by every command, and the repository is not touched' '
	cd future &&
	echo more >b.txt &&
	test_expect_code 1 dits add b.txt 2>../err-add &&
	assert_one_line_error ../err-add &&
	test_expect_code 1 dits commit -m two 2>../err-commit &&
	assert_one_line_error ../err-commit &&
	test_expect_code 1 dits log 2>../err-log &&
	assert_one_line_error ../err-log &&
	test_expect_code 1 dits ls-files 2>../err-ls &&
	assert_one_line_error ../err-ls &&
	test_expect_code 1 dits checkout HEAD -- a.txt 2>../err-co &&
	assert_one_line_error ../err-co &&
	test_expect_code 1 dits gc 2>../err-gc &&
	assert_one_line_error ../err-gc &&
	assert_repo_unchanged . ../snap
'

test_expect_success 'setting the format back to 1 makes it usable again' '
	set_format future 1 &&
	cd future &&
	dits log --oneline >../log &&
	assert_lines 1 ../log
'

test_done
