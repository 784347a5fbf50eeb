#!/usr/bin/env bash
# A fleet: two `dits serve --db postgres://... --store s3://...` on their
# own ROOTs and ports behave as one server. A repository pushed to one is
# listed by and cloned from the other, byte for byte; a ref moved on one is
# seen by the other at once; two pushes of diverging commits from the same
# base, one to each server at the same moment, never both win; proxies made
# by either server's workers reach the clients of both; a render job sent
# to one server is answered by the other with its output commit, whichever
# machine ran it. Run through
# tests/pg/pg.sh (DITS_TEST_PG_STORIES=1: lib.sh gives the story a database
# of its own) with the S3 test server started here.
. "$(dirname "$0")/lib.sh"
. "$SRCDIR/tests/t/lib-sync.sh"

if [ -z "${DITS_METADB_URL:-}" ]; then
	test_skip 'a fleet' 'no PostgreSQL (run through tests/pg/pg.sh with DITS_TEST_PG_STORIES=1)'
	test_done
fi
if ! command -v node >/dev/null 2>&1 || [ ! -d "$SRCDIR/tests/s3/node_modules/s3rver" ]; then
	test_skip 'a fleet' 'node or tests/s3/node_modules is missing (scripts/install-deps.sh)'
	test_done
fi
if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
	test_skip 'a fleet' 'ffmpeg is not installed'
	test_done
fi

cd "$TRASH" || exit 1
DB=$DITS_METADB_URL
# The servers find the database in their repositories' config, the clients need none.
unset DITS_METADB_URL
STORE=s3://fleet/team

# refs_of URL REPO: the refs document's "refs" member, as one line
refs_of () {
	curl -sf "$1/$2/refs" | tr -d ' \n' | sed 's/.*"refs":\({[^}]*}\).*/\1/'
}

test_expect_success 'setup: an S3 server and two servers on one database and bucket' '
	start_s3 "$TRASH/s3" fleet && test_at_end "stop_s3 $S3_PID" &&
	DITS_PROXY_AUTO=1 start_server one "$TRASH/root1" --db "$DB" --store "$STORE" \
		--store-cache-dir "$TRASH/cache1" --workers 1 &&
	URL1=$SERVER_URL &&
	DITS_PROXY_AUTO=1 start_server two "$TRASH/root2" --db "$DB" --store "$STORE" \
		--store-cache-dir "$TRASH/cache2" --workers 1 &&
	URL2=$SERVER_URL &&
	assert_ne "$URL1" "$URL2"
'

test_expect_success 'a bad --db is one line and exit 1, leaving nothing' '
	mkdir bad &&
	test_expect_code 1 "$DITS" serve --root bad --listen 127.0.0.1:0 --store "$STORE" --db mysql://x/y 2>err &&
	assert_one_line_error err "--db" "not a postgres://" &&
	test_expect_code 1 "$DITS" serve --root bad --listen 127.0.0.1:0 --store "$STORE" \
		--db postgres://dits@127.0.0.1:1/dits 2>err &&
	assert_one_line_error err "--db" "127.0.0.1:1" "cannot connect" &&
	test_expect_code 1 "$DITS" serve --root bad --listen 127.0.0.1:0 --db "$DB" 2>err &&
	assert_one_line_error err "--db needs --store" &&
	assert_eq "" "$(ls -A bad)"
'

test_expect_success 'push to server 1, clone from server 2: the same bytes' '
	dits init film >/dev/null && cd film &&
	mkdir -p A001 &&
	make_master A001/C001.mov 2560x1440 1 01:00:00:00 2 25 &&
	gen_data A001/raw.bin 3000000 raw1 &&
	echo "cut list" >notes.txt &&
	dits add . >/dev/null && dits commit -m "day 1" >/dev/null &&
	dits remote add origin "$URL1/film" && dits push >/dev/null &&
	cd .. &&
	curl -sf "$URL2/_repos" >repos2.json &&
	assert_file_has repos2.json "\"name\": *\"film\"" &&
	dits clone "$URL2/film" c2 >/dev/null &&
	assert_eq "$(sums_of film)" "$(sums_of c2)" &&
	(cd c2 && dits fsck >/dev/null) &&
	assert_eq 0 "$(find root1 root2 -name "pack-*.pack" | wc -l)" &&
	assert_missing root1/film/.dits/refs/heads/main && assert_missing root2/film/.dits/refs/heads/main
'

test_expect_success 'a ref moved on one server is seen by the other at once' '
	cd c2 && echo "v2" >>notes.txt && dits add notes.txt >/dev/null && dits commit -m v2 >/dev/null &&
	dits push >/dev/null && cd .. &&
	assert_eq "$(refs_of "$URL2" film)" "$(refs_of "$URL1" film)" &&
	cd film && dits fetch >/dev/null && dits pull >/dev/null && cd .. &&
	assert_eq "$(sums_of film)" "$(sums_of c2)" &&
	assert_file_has film/notes.txt "^v2$"
'

test_expect_success 'creating an existing repository on the other server changes nothing' '
	curl -s -o create.json -w "%{http_code}" -X POST -d "{}" "$URL2/film/create" >code &&
	assert_eq 200 "$(cat code)" &&
	assert_eq "$(refs_of "$URL1" film)" "$(refs_of "$URL2" film)" &&
	curl -s -o /dev/null -w "%{http_code}" -X POST -d "{}" "$URL2/scratch/create" >code &&
	assert_eq 201 "$(cat code)" &&
	curl -s -o /dev/null -w "%{http_code}" -X POST -d "{}" "$URL1/scratch/create" >code &&
	assert_eq 200 "$(cat code)" &&
	curl -sf "$URL1/_repos" | grep -o "\"name\": *\"[a-z]*\"" | tr -d " " >names1 &&
	assert_eq "\"name\":\"film\"
\"name\":\"scratch\"" "$(cat names1)"
'

test_expect_success 'two diverging pushes from one base, one to each server: exactly one wins' '
	for round in 1 2 3 4 5; do
		rm -rf a b &&
		dits clone "$URL1/film" a >/dev/null && dits clone "$URL2/film" b >/dev/null &&
		(cd a && echo "a$round" >a.txt && dits add a.txt >/dev/null && dits commit -m "a $round" >/dev/null) &&
		(cd b && echo "b$round" >b.txt && dits add b.txt >/dev/null && dits commit -m "b $round" >/dev/null) &&
		{ (cd a && dits push >/dev/null 2>../a.err; echo $? >../a.rc) & pa=$!
		  (cd b && dits push >/dev/null 2>../b.err; echo $? >../b.rc) & pb=$!
		  wait $pa $pb; } &&
		assert_eq 1 "$(cat a.rc b.rc | grep -c "^0$")" "pushes that won round $round" &&
		if [ "$(cat a.rc)" = 0 ]; then loser=b winner=a; else loser=a winner=b; fi &&
		assert_one_line_error $loser.err "rejected" &&
		assert_eq "$(refs_of "$URL1" film)" "$(refs_of "$URL2" film)" &&
		assert_match "$(cd $winner && dits log --oneline | head -n 1 | cut -c1-12)" "$(refs_of "$URL1" film)" ||
		return 1
	done
'

test_expect_success 'proxies made by either server reach the clients of both' '
	wait_proxies "$URL2" film 1 300 &&
	assert_eq "$(ready_proxies "$URL1" film)" "$(ready_proxies "$URL2" film)" &&
	dits clone "$URL2/film" editor --mode proxy >/dev/null &&
	assert_le "$(ffprobe -v error -select_streams v:0 -show_entries stream=height -of csv=p=0 editor/A001/C001.mov)" 1080 &&
	assert_ne "$(b3 film/A001/C001.mov)" "$(b3 editor/A001/C001.mov)" "C001.mov is a proxy" &&
	"${PGBIN:-/usr/lib/postgresql/15/bin}/psql" -qAt -d "$DB" \
		-c "SELECT count(*) FROM jobs WHERE kind = '"'"'TRANSCODE'"'"' AND progress > 0" >reported &&
	assert_le 1 "$(cat reported)" "transcode jobs whose progress every server can read"
'

test_expect_success 'a render sent to server 1 is answered by server 2 with its output commit' '
	cat >fleet.edl <<-\EOF &&
	TITLE: FLEET
	FCM: NON-DROP FRAME

	001  C001 V     C        01:00:00:05 01:00:00:20 01:00:00:00 01:00:00:15
	* FROM CLIP NAME: C001.mov
	EOF
	cd film &&
	dits render ../fleet.edl --remote origin --rate 25 --target 320x180 --codec ffv1 --json >../render.json &&
	cd .. &&
	assert_eq done "$(json_str state <render.json)" &&
	id=$(json_num job <render.json) && commit=$(json_str commit <render.json) &&
	assert_match "^[0-9a-f]{64}$" "$commit" &&
	assert_match "\"refs/heads/main\":\"$commit\"" "$(refs_of "$URL2" film)" &&
	for url in "$URL1" "$URL2"; do
		curl -sf "$url/film/render/$id" >job.json &&
		assert_eq done "$(json_str state <job.json)" &&
		assert_eq "$commit" "$(json_str commit <job.json)" &&
		assert_eq renders/fleet.mov "$(json_str path <job.json)" &&
		assert_file_has job.json "\"progress\": 1.000" || return 1
	done &&
	(cd c2 && dits render status "$id" --remote origin --json) >status2.json &&
	assert_eq "$commit" "$(json_str commit <status2.json)" &&
	assert_missing root1/film/.dits/renders && assert_missing root2/film/.dits/renders
'

test_done
