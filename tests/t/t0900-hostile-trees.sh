#!/usr/bin/env bash
# Hostile trees: a tree entry that names the repository's own directory
# (.dits, or any name a case-insensitive or normalizing file system takes
# for it) is refused by the server's upload (422, nothing stored) and by a
# checkout or clone (one-line error, nothing written into .dits/); a chain
# of 50 000 nested trees is an error naming the depth in every walk (fsck,
# gc, diff, checkout, push, the server's checks), never a crash.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-sync.sh"

if ! command -v curl >/dev/null 2>&1; then
	test_skip 'hostile trees' 'curl is not installed'
	test_done
fi

cd "$TRASH" || exit 1

# req METHOD PATH [CURL ARGS...]: the body goes to ./resp, the status to stdout.
req () {
	_m=$1
	_p=$2
	shift 2
	curl -s --max-time 60 -o "$TRASH/resp" -w '%{http_code}' -X "$_m" -H 'Expect:' "$@" "$SERVER_URL$_p"
}

packs () { # REPO: the number of visible packs on the server
	ls "$TRASH/root/$1/.dits/objects/pack" | grep -c '^pack-.*\.pack$'
}

refs_of () { # REPO: the server's refs as JSON
	curl -s --max-time 10 "$SERVER_URL/$1/refs"
}

# Names every platform must refuse: .dits in any case, with what Windows
# strips (trailing dots and spaces) or adds (a stream), its NTFS short name,
# with code points HFS+ ignores (U+200C, U+FEFF), and what Windows folds to
# "." or "..".
ZWNJ=$(printf '\342\200\214')
BOM=$(printf '\357\273\277')
NAMES=(.dits .DITS .Dits .dits. ".dits " ".dits. ." ".dits::\$INDEX_ALLOCATION" DITS~1 dits~2
	".d${ZWNJ}its" "${BOM}.dits" ".DI${ZWNJ}TS." "..." ". ." "a\\b")

test_expect_success 'setup: a server, and a project pushed to it' '
	start_server a root --workers 0 &&
	dits init client >/dev/null &&
	(cd client &&
	 gen_data a.bin 200000 one &&
	 dits add . >/dev/null && dits commit -m one >/dev/null &&
	 dits remote add origin "$SERVER_URL/proj" &&
	 dits push >/dev/null) &&
	refs_of proj >refs.before &&
	assert_match "refs/heads/main" "$(cat refs.before)"
'

test_expect_success 'the server refuses an upload holding a reserved name (422), storing nothing' '
	before=$(packs proj) &&
	i=0 &&
	for name in "${NAMES[@]}"; do
		i=$((i + 1)) &&
		for kind in tree file; do
			for dir in "" sub; do
				"$NET_TOOL" craft $kind "$name" $dir >h.rec &&
				bad=$("$NET_TOOL" list <h.rec | awk "\$1 == \"tree\" {print \$2}" | sed -n "$([ $kind = tree ] && echo 2 || echo 1)p") &&
				code=$(req POST /proj/objects -H "Content-Type: application/x-dits-records" --data-binary @h.rec) &&
				{ [ "$code" = 422 ] || { say "name $i ($kind in \"$dir\"): HTTP $code: $(cat resp)"; return 1; }; } &&
				assert_match "$bad" "$(cat resp)" &&
				assert_match "refused" "$(cat resp)" || return 1
			done || return 1
		done || return 1
	done &&
	assert_eq "$before" "$(packs proj)" "no pack kept" &&
	assert_eq "" "$(ls root/proj/.dits/objects/pack | grep -v "^pack-")" "no partial pack left" &&
	assert_eq "$(cat refs.before)" "$(refs_of proj)" &&
	assert_eq 200 "$(req GET /healthz)"
'

test_expect_success 'a good record before the hostile one is dropped with it' '
	before=$(packs proj) &&
	"$NET_TOOL" random 300000 7 >good.rec &&
	"$NET_TOOL" craft tree .dits >h.rec &&
	cat good.rec h.rec >mixed.rec &&
	assert_eq 422 "$(req POST /proj/objects --data-binary @mixed.rec)" &&
	first=$("$NET_TOOL" list <good.rec | head -n 1 | cut -d" " -f2) &&
	"$NET_TOOL" ids "$first" >first.ids &&
	assert_eq 404 "$(req POST /proj/objects/get --data-binary @first.ids)" &&
	assert_eq "$before" "$(packs proj)"
'

test_expect_success 'a repository made hostile on disk refuses checkout, writing nothing' '
	dits init victim >/dev/null &&
	"$NET_TOOL" craft tree .dits >h.rec &&
	"$NET_TOOL" store victim <h.rec &&
	evil=$("$NET_TOOL" list <h.rec | awk "\$1 == \"commit\" {print \$2}") &&
	"$NET_TOOL" setref victim refs/heads/evil "$evil" &&
	repo_snapshot victim >victim.snap &&
	(cd victim && test_expect_code any dits checkout evil 2>../err) &&
	assert_one_line_error err ".dits" "refused" &&
	assert_repo_unchanged victim victim.snap &&
	assert_eq "" "$(find victim -name hostile-marker)" &&
	(cd victim && test_expect_code any dits fsck >../fsck.out 2>&1) &&
	assert_file_has fsck.out ".dits"
'

test_expect_success 'the same in a subdirectory, and the case-folded forms, refuse checkout' '
	for name in .DITS "DITS~1" ".d${ZWNJ}its" ".dits "; do
		"$NET_TOOL" craft tree "$name" deeper >h.rec &&
		"$NET_TOOL" store victim <h.rec &&
		evil=$("$NET_TOOL" list <h.rec | awk "\$1 == \"commit\" {print \$2}") &&
		(cd victim && test_expect_code any dits checkout "$evil" 2>../err) &&
		assert_one_line_error err "refused" &&
		assert_eq "" "$(find victim -name hostile-marker)" || return 1
	done &&
	assert_missing victim/deeper
'

test_expect_success 'a clone of a repository made hostile on the server refuses, writing nothing' '
	assert_eq 201 "$(req POST /evil/create -d "{}")" &&
	"$NET_TOOL" craft tree .dits >h.rec &&
	"$NET_TOOL" store root/evil <h.rec &&
	evil=$("$NET_TOOL" list <h.rec | awk "\$1 == \"commit\" {print \$2}") &&
	"$NET_TOOL" setref root/evil refs/heads/main "$evil" &&
	test_expect_code any dits clone "$SERVER_URL/evil" got 2>err &&
	assert_one_line_error err ".dits" &&
	assert_eq "" "$(find . -name hostile-marker)" &&
	assert_eq 200 "$(req GET /healthz)"
'

test_expect_success 'setup: a commit whose tree nests 50 000 trees' '
	"$NET_TOOL" deep 50000 >deep.rec &&
	deep=$("$NET_TOOL" list <deep.rec | awk "\$1 == \"commit\" {print \$2}") &&
	echo "$deep" >deep.id &&
	assert_eq 50002 "$("$NET_TOOL" list <deep.rec | wc -l | tr -d " ")" &&
	dits init deeprepo >/dev/null &&
	"$NET_TOOL" store deeprepo <deep.rec &&
	(cd deeprepo && gen_data x.bin 1000 x && dits add . >/dev/null && dits commit -m x >/dev/null) &&
	"$NET_TOOL" setref deeprepo refs/heads/deep "$deep"
'
DEEP=$(cat deep.id 2>/dev/null)

test_expect_success 'fsck, gc, diff, checkout and push of it fail naming the depth, without a crash' '
	cd deeprepo &&
	test_expect_code any dits fsck >../out 2>&1 &&
	assert_file_has ../out "deeper than 256 levels" &&
	packs_before=$(ls .dits/objects/pack | wc -l) &&
	test_expect_code any dits gc 2>../err &&
	assert_one_line_error ../err "problem" &&
	assert_eq "$packs_before" "$(ls .dits/objects/pack | wc -l)" &&
	test_expect_code any dits diff --stat main deep 2>../err &&
	assert_one_line_error ../err "deeper than 256 levels" &&
	test_expect_code any dits checkout deep 2>../err &&
	assert_one_line_error ../err "deeper than 256 levels" &&
	assert_exists x.bin &&
	dits remote add origin "$SERVER_URL/proj" &&
	test_expect_code any dits push origin deep 2>../err &&
	assert_one_line_error ../err "deeper than 256 levels" &&
	cd ..
'

test_expect_success 'pushed raw, the server refuses the ref (422 naming the depth) and stays up' '
	assert_eq 200 "$(req POST /proj/objects --data-binary @deep.rec)" &&
	assert_eq 422 "$(req POST /proj/refs -d "{\"updates\": [{\"ref\": \"refs/heads/deep\", \"old\": \"$ZERO\", \"new\": \"$DEEP\", \"force\": false}]}")" &&
	assert_match "deeper than 256 levels" "$(cat resp)" &&
	assert_eq 422 "$(req POST /proj/walk -d "{\"want\": [\"$DEEP\"], \"have\": []}")" &&
	assert_match "deeper than 256 levels" "$(cat resp)" &&
	assert_eq 200 "$(req GET /healthz)" &&
	assert_eq "$(cat refs.before)" "$(refs_of proj)" &&
	(cd root/proj && dits fsck >/dev/null && dits gc >/dev/null) &&
	assert_eq 200 "$(req GET /healthz)"
'

test_expect_success 'directories nested 255 deep commit and check out; 256 deep are refused' '
	dits init nest >/dev/null &&
	cd nest &&
	p=$(printf "d/%.0s" $(seq 255)) &&
	mkdir -p "$p" && echo ok >"${p}f" &&
	dits add . >/dev/null && dits commit -m deep >/dev/null &&
	rm -rf d && dits checkout main -- . >/dev/null &&
	assert_eq ok "$(cat "${p}f")" &&
	mkdir -p "${p}e" && echo no >"${p}e/g" &&
	dits add . >/dev/null &&
	test_expect_code any dits commit -m deeper 2>../err &&
	assert_one_line_error ../err "deeper than 256 levels" &&
	cd ..
'

test_done
